"""Quiet training output: Lightning's banners, tips and known harmless warnings, silenced at
their source.

Left alone, a 1-epoch ``rgasc train`` prints ~24 lines: GPU/TPU availability, an advertisement
for a logging service, a deprecation warning with a site-packages path, the
``log_every_n_steps`` hint... Here each is silenced where it comes from, not by muting every
warning: Lightning's info messages go through two loggers (their level is raised to WARNING),
and its known harmless warnings are filtered by their message. Any other warning still
shows. ``rgasc train --verbose`` (:func:`set_verbose`) leaves everything as Lightning prints it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

#: Loggers of Lightning's info lines (GPU/TPU available, the litlogger tip, "Trainer.fit
#: stopped", "Restoring states from the checkpoint", LOCAL_RANK/CUDA_VISIBLE_DEVICES).
INFO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning.fabric.utilities.seed",
)
#: Warnings that say nothing a user of ``rgasc train`` can act on (regexes of the message).
HARMLESS_WARNINGS = (
    # Lightning's own use of a torch API deprecated in torch 2.13 (site-packages path shown)
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    # tiny datasets have fewer batches than the logging interval: epoch metrics are logged
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    # a resumed run writes into its own checkpoints/ and logs/ folders on purpose
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
    # num_workers is a runtime option the user chose (0 on small machines)
    r"The '\w+_dataloader' does not have many workers",
    # the CSV and TensorBoard loggers get only epoch means; nothing to tune
    r".*has `shuffle=True`, it is strongly recommended that you turn this off for val",
)

_verbose = False


def set_verbose(verbose: bool) -> None:
    """``--verbose``: show Lightning's own output unchanged in this process."""
    global _verbose
    _verbose = bool(verbose)


@contextlib.contextmanager
def quiet_lightning(verbose: bool | None = None) -> Iterator[None]:
    """Within the block: Lightning's info loggers at WARNING, its harmless warnings ignored.

    Args:
        verbose: leave everything as is (default: the process-wide :func:`set_verbose`).
    """
    if _verbose if verbose is None else verbose:
        yield
        return
    levels = {n: logging.getLogger(n).level for n in INFO_LOGGERS}
    for n in INFO_LOGGERS:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)
