"""benchmarks/bench_train.py --backbone: the student it builds and the CNN14 reference it adds."""

from __future__ import annotations

import pytest

from helpers.scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_train.py")


def test_backbone_and_crop_reach_both_paths(bench) -> None:
    args = bench.parse(["--backbone", "yamnet", "--time-crop", "300", "--batch-size", "4"])
    changes = bench._model_changes(args)
    assert changes["model.backbone"] == "yamnet" and changes["augment.time_crop"] == 300
    assert changes["model.init"] == "he"  # speed only: no pretrained file needed
    ref, data = bench.cnn14_reference(args)
    # the reference is the width-1/4 CNN14 student on the paper's whole 320 x 64 clips
    assert (ref.backbone, ref.width, ref.time_crop) == ("cnn14", 0.25, 0)
    assert (ref.batch_size, ref.steps, ref.warmup) == (args.batch_size, args.steps, args.warmup)
    n = (args.warmup + args.steps) * args.batch_size
    assert tuple(data["x"].shape) == (n, 320, 64) and tuple(data["t"].shape) == (n, 521)
    assert tuple(data["R"].shape) == (data["n_scenes"], data["n_events"])
    with pytest.raises(SystemExit):
        bench.parse(["--backbone", "resnet"])


def test_the_plain_loop_trains_the_yamnet_student_on_crops(
    bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from rgasc.models import RGASC

    seen: list[tuple[str, tuple[int, ...]]] = []
    forward = RGASC.forward

    def spy(self, x, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append((str(self.cfg.backbone), tuple(x.shape)))
        return forward(self, x, *a, **k)

    monkeypatch.setattr(RGASC, "forward", spy)

    args = bench.parse(["--backbone", "yamnet", "--time-crop", "100", "--batch-size", "2"])
    args.steps, args.warmup = 1, 1
    n = 4
    data = {
        "x": torch.randn(n, 998, 64),
        "y": torch.arange(n) % 3,
        "t": torch.rand(n, 521),
        "R": torch.rand(3, 521),
        "n_scenes": 3,
        "n_events": 521,
    }
    steps = list(bench.reference_loop(data, args))
    assert len(steps) == 2 and all(wall > 0 and cpu >= 0 for wall, cpu in steps)
    assert seen == [("yamnet", (2, 100, 64))] * 2  # each step's batch, cropped to 100 frames
