"""Benchmark: peak RSS of one training epoch does not grow with the feature cache.

Builds synthetic caches of ``--small`` and ``--large`` clips (320 x 64 float32 = 80 KB a clip:
20k clips = 1.6 GB on disk) and, for each, in a fresh child process (so every peak is that
run's own):

1. opens the real ``RGASCDataModule`` (every split indexed: the whole cache's index);
2. reads one full epoch of the train split through the real train DataLoader (every batch,
   no model: this is what an epoch does to memory on the data side, and it is cheap);
3. trains ``--max-steps`` batches of the width ``--width`` model through a Lightning
   ``Trainer`` (``--max-steps 0``: the whole epoch; at 20k clips that is slow on a small CPU).

and prints the children's peak RSS (ru_maxrss) and the large/small ratio. ``--reader``
compares ways of reading rows: ``ours`` is the training code as it is (``ClipDataset`` reads
each row with ``os.pread``: file pages then live in the page cache only, never in this
process's mapping, so they do not count in its RSS); ``mapped`` is the reference, indexing
the cache's numpy memmap.

    python benchmarks/bench_memory.py --small 2000 --large 20000 --width 0.125 --max-steps 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import Inputs, machine, make_inputs, peak_rss_mb, rss_now_mb, run_child, train_config

READERS = ("ours", "mapped")


def use_mapped_reader() -> None:
    """The reference: ``ClipDataset`` indexing the cache's numpy memmap directly.

    Same items as ours (x float32 [T, F] standardised, scene id, event target); only how the
    bytes of a row reach memory differs. Every page an epoch touches stays mapped into the
    process and counts in its RSS; ours reads rows with ``os.pread`` (rgasc.train.loop.data).
    """
    from rgasc.train.loop.data import ClipDataset

    def read_mapped(self: Any, row: int) -> np.ndarray:
        return np.asarray(self.features[row])

    ClipDataset._read_row = read_mapped  # type: ignore[method-assign]


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run (in its own process); returns the figures as a dict."""
    import lightning as L

    from rgasc.train.loop.data import RGASCDataModule
    from rgasc.train.runner import build_module

    torch.set_num_threads(args.threads)
    d = Path(args.child)
    inputs = Inputs(d / "dataset", d / "features", d / "labels.h5", d / "relation", 0)
    if args.reader == "mapped":
        use_mapped_reader()
    cfg = train_config(
        inputs,
        d / "run",
        {
            "model.width": args.width,
            "optim.batch_size": args.batch_size,
            "runtime.accelerator": "cpu",
            "runtime.workers": args.workers,
        },
    )
    L.seed_everything(0, verbose=False)
    t0 = time.perf_counter()
    dm = RGASCDataModule(cfg)
    rss_dm = rss_now_mb()
    n = 0
    for x, _, _ in dm.train_dataloader():  # one full epoch of data, no model
        n += len(x)
    read_s = time.perf_counter() - t0
    rss_read = rss_now_mb()
    module = build_module(cfg, dm)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=args.max_steps or 1.0,
        limit_val_batches=args.max_steps or 1.0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=d / "run",
    )
    t1 = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    return {
        "cache_clips": len(dm.cache),
        "train_clips": n,
        "reader": args.reader,
        "read_epoch_s": round(read_s, 2),
        "fit_s": round(time.perf_counter() - t1, 2),
        "rss_after_datamodule": rss_dm,
        "rss_after_read": rss_read,
        "rss_end": rss_now_mb(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small", type=int, default=2000, help="clips in the small cache")
    ap.add_argument("--large", type=int, default=20000, help="clips in the large cache")
    ap.add_argument("--width", type=float, default=0.125, help="model channel multiplier")
    ap.add_argument("--batch-size", type=int, default=16, help="clips per step")
    ap.add_argument(
        "--max-steps",
        type=int,
        default=20,
        help="training (and validation) batches of the fit; 0 = the whole epoch",
    )
    ap.add_argument(
        "--reader",
        default="ours,mapped",
        help="comma list of: ours (the code as it is, pread), mapped (reference: memmap indexing)",
    )
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the children")
    ap.add_argument("--tmp", default=None, help="folder for the caches (default: system tmp)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return ap.parse_args()


def main() -> None:
    args = parse()
    if args.child:
        args.reader = args.reader.split(",")[0]
        print(json.dumps(child(args)))
        return
    readers = [r for r in args.reader.split(",") if r]
    if unknown := set(readers) - set(READERS):
        raise SystemExit(f"unknown --reader {sorted(unknown)}: use {READERS}")
    print(machine())
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for size in (args.small, args.large):
        tmp = Path(tempfile.mkdtemp(prefix=f"rgasc-mem{size}-", dir=args.tmp))
        try:
            t0 = time.perf_counter()
            make_inputs(tmp, size)
            print(
                f"built {size}-clip inputs ({size * 80 / 1000:.0f} MB of features) "
                f"in {time.perf_counter() - t0:.0f} s"
            )
            for reader in readers:
                argv = [
                    "--child",
                    str(tmp),
                    "--reader",
                    reader,
                    "--width",
                    str(args.width),
                    "--batch-size",
                    str(args.batch_size),
                    "--max-steps",
                    str(args.max_steps),
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                ]
                r = results[(reader, size)] = run_child(__file__, argv)
                after = r["rss_after_read"]
                print(
                    f"  {reader:6s} {size:6d} clips: peak RSS {r['peak_rss_mb']:7.1f} MiB "
                    f"(after the data epoch: anon {after.get('RssAnon', 0):.0f}, "
                    f"file {after.get('RssFile', 0):.0f} MiB); {r['train_clips']} train clips "
                    f"read in {r['read_epoch_s']} s, fit {r['fit_s']} s"
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    steps = "the whole epoch" if not args.max_steps else f"{args.max_steps} steps"
    print(f"width={args.width} batch={args.batch_size} fit: {steps}, data: one full epoch")
    for reader in readers:
        s, lg = results[(reader, args.small)], results[(reader, args.large)]
        ratio = lg["peak_rss_mb"] / s["peak_rss_mb"]
        print(
            f"{reader:6s}: peak RSS {args.small} clips {s['peak_rss_mb']:.0f} MiB, "
            f"{args.large} clips {lg['peak_rss_mb']:.0f} MiB, ratio {ratio:.2f} "
            f"(target < 1.2)"
        )
    print(f"after: {machine()}")


if __name__ == "__main__":
    main()
