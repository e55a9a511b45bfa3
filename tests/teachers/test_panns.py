"""CNN14: official checkpoint layout, strict loading, front-end equality, sha256, offline."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

import rgasc.teachers.base as base
from rgasc.errors import TeacherError
from rgasc.teachers import get_teacher
from rgasc.teachers.panns import (
    CNN14_CONFIGS,
    Cnn14,
    PannsTeacher,
    cnn14_block_state,
    load_cnn14,
)
from rgasc.teachers.panns_frontend import LogMel, Spectrogram

SR, N_FFT, HOP = 16000, 512, 160


@functools.cache
def official_state(
    seed: int = 0, n_fft: int = N_FFT, sr: int = SR, fmax: float = 8000.0
) -> dict[str, torch.Tensor]:
    """A state dict in the official PANNs Cnn14 layout, written from the spec (not our model)."""
    g = torch.Generator().manual_seed(seed)
    bins = n_fft // 2 + 1
    n = np.arange(n_fft)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
    ang = 2 * np.pi * np.outer(np.arange(bins), n) / n_fft
    sd: dict[str, torch.Tensor] = {
        "spectrogram_extractor.stft.conv_real.weight": torch.tensor(
            np.cos(ang) * w, dtype=torch.float32
        )[:, None, :],
        "spectrogram_extractor.stft.conv_imag.weight": torch.tensor(
            -np.sin(ang) * w, dtype=torch.float32
        )[:, None, :],
        "logmel_extractor.melW": torch.tensor(
            librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=64, fmin=50, fmax=fmax).T
        ),
    }

    def bn(prefix: str, c: int) -> None:
        sd[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.running_var"] = 1 + torch.rand(c, generator=g)
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0)

    bn("bn0", 64)
    c_in = 1
    for k, c in enumerate((64, 128, 256, 512, 1024, 2048), start=1):
        sd[f"conv_block{k}.conv1.weight"] = (
            torch.randn(c, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        )
        sd[f"conv_block{k}.conv2.weight"] = (
            torch.randn(c, c, 3, 3, generator=g) * (2 / (9 * c)) ** 0.5
        )
        bn(f"conv_block{k}.bn1", c)
        bn(f"conv_block{k}.bn2", c)
        c_in = c
    sd["fc1.weight"] = torch.randn(2048, 2048, generator=g) / 2048**0.5
    sd["fc1.bias"] = torch.zeros(2048)
    sd["fc_audioset.weight"] = torch.randn(527, 2048, generator=g) / 2048**0.5
    sd["fc_audioset.bias"] = torch.zeros(527)
    return sd


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file as the PANNs training script saves it: model + iteration + optimizer state."""
    path = tmp_path_factory.mktemp("ckpt") / "Cnn14_16k_mAP=0.438.pth"
    torch.save(
        {
            "model": official_state(),
            "iteration": 0,
            "optimizer": {"state": {0: {"step": np.int64(3), "exp_avg": np.zeros(4)}}},
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def labels_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "class_labels_indices.csv"
    rows = ["index,mid,display_name"] + [f'{i},/m/{i:04x},"Event {i}, kind"' for i in range(527)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_parameter_count_and_layout() -> None:
    with torch.device("meta"):  # shapes only: no 80 M-parameter init
        m = Cnn14(**CNN14_CONFIGS["panns-cnn14-16k"].model_kwargs())
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 80_753_615
    ours = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in official_state().items()}


def test_strict_load_of_official_file(ckpt: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - proves the numpy-holding file needs the fallback
        torch.load(ckpt, weights_only=True)
    model, sha = load_cnn14("panns-cnn14-16k", ckpt)
    ref = official_state()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, ref[k], rtol=0, atol=0)
    assert len(sha) == 64
    assert model.spectrogram_extractor.stft.conv_real.weight.requires_grad is False
    block = cnn14_block_state(ckpt)
    assert "conv_block6.conv2.weight" in block and "fc1.weight" in block
    assert not any(k.startswith(("fc_audioset", "bn0", "spectro")) for k in block)


def test_plain_state_dict_accepted_wrong_layout_refused(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rgasc.teachers.panns as panns

    ref = official_state()
    plain = tmp_path / "plain.pt"
    torch.save({k: ref[k] for k in list(ref)[:3]}, plain)  # a small plain state-dict file
    assert set(panns.load_state_dict_file(plain)) == set(list(ref)[:3])
    torch.save({"model": "nonsense"}, plain)
    with pytest.raises(TeacherError, match="expected a PANNs checkpoint"):
        panns.load_state_dict_file(plain)
    # the 32 kHz variant refuses 16 kHz weights; a missing key is refused (strict)
    monkeypatch.setattr(panns, "load_state_dict_file", lambda p: dict(ref))
    with pytest.raises(TeacherError, match="does not fit panns-cnn14 "):
        load_cnn14("panns-cnn14", plain)
    broken = {k: v for k, v in ref.items() if k != "fc1.bias"}
    monkeypatch.setattr(panns, "load_state_dict_file", lambda p: broken)
    with pytest.raises(TeacherError, match="fc1.bias"):
        load_cnn14("panns-cnn14-16k", plain)


def test_frontend_matches_stft_and_librosa() -> None:
    x = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32) * 0.1
    spec = Spectrogram(N_FFT, HOP)
    # our initial kernels are the official ones
    ref = official_state()
    torch.testing.assert_close(
        spec.stft.conv_real.weight,
        ref["spectrogram_extractor.stft.conv_real.weight"],
        atol=1e-6,
        rtol=0,
    )
    with torch.no_grad():
        power = spec(torch.from_numpy(x))[:, 0]  # (B, frames, bins)
    st = torch.stft(
        torch.from_numpy(x),
        N_FFT,
        HOP,
        window=torch.hann_window(N_FFT),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    torch.testing.assert_close(power, st.abs().square().transpose(1, 2), rtol=1e-4, atol=1e-4)
    # log-mel against a librosa reference
    lm = LogMel(SR, N_FFT, 64, 50, 8000)
    torch.testing.assert_close(lm.melW, ref["logmel_extractor.melW"], atol=1e-7, rtol=1e-5)
    with torch.no_grad():
        ours = lm(power[:, None])[:, 0].numpy()
    p = (
        np.abs(
            librosa.stft(
                x[0], n_fft=N_FFT, hop_length=HOP, window="hann", center=True, pad_mode="reflect"
            )
        )
        ** 2
    )
    mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=64, fmin=50, fmax=8000) @ p
    want = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    assert ours.shape[1:] == want.shape == (1 + 8000 // HOP, 64)
    np.testing.assert_allclose(ours[0], want, atol=2e-3)


def test_teacher_forward_short_clips_and_batching(ckpt: Path, labels_csv: Path) -> None:
    t = get_teacher("panns-cnn14-16k", checkpoint=ckpt, labels=labels_csv)
    assert isinstance(t, PannsTeacher) and t.sample_rate == 16000
    assert t.labels[3] == "Event 3, kind" and t.mids is not None and t.mids[0] == "/m/0000"
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 16000)) * 0.1).astype(np.float32)
    probs, emb = t.tag_and_embed(x)
    assert probs.shape == (2, 527) and emb.shape == (2, 2048)
    assert ((probs > 0) & (probs < 1)).all() and not np.allclose(probs[0], probs[1])
    # batched, channels_last, inference_mode == the plain module one clip at a time
    with torch.no_grad():
        plain = t.model(torch.from_numpy(x[:1]))["clipwise_output"].numpy()
    np.testing.assert_allclose(probs[:1], plain, atol=1e-5)
    # below the minimum (4960 samples) the clip is zero-padded, not refused
    short = t.tag(x[:1, :1000])
    np.testing.assert_allclose(short, t.tag(np.pad(x[:1, :1000], ((0, 0), (0, 3960)))), atol=1e-6)


def test_sha256_recorded_then_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"first download")
    calls: list[str] = []

    def fake_download(url: str, dest: Path) -> None:
        calls.append(url)
        shutil.copy(src, dest)

    monkeypatch.setattr(base, "_download", fake_download)
    path, sha = base.fetch_recorded("https://example.org/w.bin", "w.bin", "hint")
    assert calls == ["https://example.org/w.bin"]
    assert base.read_json(path.with_name("w.bin.sha256.json"))["sha256"] == sha
    again, sha2 = base.fetch_recorded("https://example.org/w.bin", "w.bin", "hint")
    assert again == path and sha2 == sha and len(calls) == 1  # cached, verified
    path.write_bytes(b"tampered")
    with pytest.raises(TeacherError, match="does not match"):
        base.fetch_recorded("https://example.org/w.bin", "w.bin", "hint")


def test_offline_errors_say_what_to_pass(labels_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, dest: Path) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(base, "_download", offline)
    with pytest.raises(TeacherError, match=r"--class-labels PATH.*class_labels_indices"):
        get_teacher("panns-cnn14-16k")
    with pytest.raises(
        TeacherError,
        match=r"--checkpoint PATH.*Cnn14_16k_mAP=0.438.pth.*"
        r"zenodo.org/record/3987831/files/Cnn14_16k_mAP%3D",
    ):
        get_teacher("panns-cnn14-16k", labels=labels_csv)
    bad = labels_csv.with_name("short.csv")
    bad.write_text("\n".join(labels_csv.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(TeacherError, match="526 classes, expected 527"):
        get_teacher("panns-cnn14-16k", labels=bad)
