"""Errors a user can cause. Each carries one message that names the file and the fix.

The CLI turns any :class:`RgascError` into that message and a non-zero exit, never a
traceback. Library users can catch the specific subclasses.
"""

from __future__ import annotations


class RgascError(Exception):
    """Base class of every error the user can fix (bad file, wrong layout, mismatch)."""


# --- audio -----------------------------------------------------------------------------
class AudioError(RgascError):
    """A clip could not be turned into a waveform."""


class AudioMissingError(AudioError, FileNotFoundError):
    pass


class AudioCorruptError(AudioError):
    pass


class AudioEmptyError(AudioError):
    pass


class AudioNonFiniteError(AudioError):
    pass


class AudioFormatError(AudioError):
    pass


class AudioTruncatedError(AudioCorruptError):
    """The file holds much less audio than its header promises (cut short in a copy)."""


class AudioTooShortError(AudioError):
    """The clip is far shorter than the analysis window (see rgasc.audio.MIN_CLIP_FRACTION)."""


# --- datasets and downloads -------------------------------------------------------------
class DatasetError(RgascError):
    """A dataset folder does not follow the DCASE layout, or names clips/labels it lacks."""


class DownloadError(RgascError):
    """A transfer failed or a file did not match its published checksum."""


# --- stage artefacts ----------------------------------------------------------------------
class ArtefactError(RgascError):
    """An artefact written by an earlier stage is missing, stale, or disagrees with another."""


class LabelSpaceError(ArtefactError):
    """Two artefacts disagree on clips, scenes or event labels."""


class TeacherError(RgascError):
    """A teacher model cannot be built (missing checkpoint, labels, optional package)."""


# --- configs -------------------------------------------------------------------------------
class ConfigError(RgascError):
    """A config key is unknown or a config value is invalid (the message names the option)."""


# --- interrupts ----------------------------------------------------------------------------
class Interrupted(RgascError):
    """A stage stopped by Ctrl-C (or SIGTERM); the message says what was kept and the exact
    command that continues. The CLI prints it and exits with 130, as a shell does for SIGINT."""

    exit_code = 130

    def __init__(self, message: str, *, same_command: bool = False) -> None:
        super().__init__(message)
        #: the same command continues (the CLI then names it, as the user typed it)
        self.same_command = same_command


class RgascWarning(UserWarning):
    """Something a user should know that does not stop the stage (clips left out, a protocol
    caveat). The CLI prints it as one ``warning: ...`` line, without a source line."""
