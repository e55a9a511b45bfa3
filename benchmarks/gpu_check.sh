#!/usr/bin/env bash
# One call on a GPU machine (written for one NVIDIA H200): the GPU figures of rgasc.
#
#   bash benchmarks/gpu_check.sh                 # on the GPU, < 9 min; writes RESULTS
#   GPU_CHECK_SMOKE=1 bash benchmarks/gpu_check.sh   # CPU, tiny sizes: checks the script only
#
# 1. benchmarks/bench_gpu.py: the training step, bf16 autocast + channels-last, with and
#    without torch.compile, batch 64 and 256, plain loop and our Lightning path: clips/s, MFU,
#    projected 100 epochs x 6122 clips (TUT2018 fold-1 training list).
# 2. one short end-to-end `rgasc train --precision bf16-mixed` on the GPU, on a synthetic
#    cache in the real format (320 x 64 log-mel, 527 events): clips/s from the run's own
#    train_seconds, MFU, projected 100-epoch time (validation included, as a real run).
# 3. CNN14-16k tagging throughput on the GPU (random weights in the official layout):
#    benchmarks/bench_tagging.py, ours (batched) against batch 1.
#
# MFU peak: 989 TFLOP/s, dense BF16. NVIDIA's H200 datasheet lists 1,979 TFLOPS of BF16
# tensor-core math "with sparsity" (2:4 structured sparsity doubles the figure), so the dense
# peak is ~989 TFLOP/s, the same as the H100 SXM. Override with PEAK_TFLOPS=... elsewhere.
#
# Every stage has its own time limit and a failing stage does not stop the others; the
# results file ends with the exit status of each.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python}
export PYTHONPATH="$PWD/src:$PWD/benchmarks:${PYTHONPATH:-}"
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=${OUT:-benchmarks/results}
mkdir -p "$OUT_DIR"
RESULTS=${RESULTS:-$OUT_DIR/gpu_check-$STAMP.txt}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ "${GPU_CHECK_SMOKE:-0}" = 1 ]; then  # CPU: the same commands at toy sizes
  DEV=cpu; ACC=cpu; WIDTH=0.0625; BATCHES=4; STEPS=2; WARMUP=1; CLIPS=60; EPOCHS=1
  TRAIN_BATCH=8; WORKERS=0; TAG_CLIPS=2; TAG_BATCH=2; TAG_SECONDS=1; COMPILE=
else
  DEV=cuda; ACC=gpu; WIDTH=1; BATCHES=64,256; STEPS=20; WARMUP=5; CLIPS=2000; EPOCHS=2
  TRAIN_BATCH=64; WORKERS=8; TAG_CLIPS=128; TAG_BATCH=32; TAG_SECONDS=10; COMPILE=--compile
fi

status=()
stage() {  # stage NAME LIMIT_S CMD...: run, tee into RESULTS, remember the exit status
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date +%T)): $*" | tee -a "$RESULTS"
  timeout "$limit" "$@" 2>&1 | tee -a "$RESULTS"
  local rc=${PIPESTATUS[0]}
  status+=("$name=$rc")
  echo | tee -a "$RESULTS"
}

{
  echo "# rgasc GPU check, $(date -Iseconds), git $(git rev-parse --short HEAD 2>/dev/null)"
  echo "# MFU peak ${PEAK_TFLOPS} TFLOP/s dense BF16 (H200 datasheet: 1,979 with sparsity)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
} | tee "$RESULTS"

# 1. the training step
stage bench_gpu 300 $PY benchmarks/bench_gpu.py --device "$DEV" --width "$WIDTH" \
  --batch-sizes "$BATCHES" --steps "$STEPS" --warmup "$WARMUP" --ours $COMPILE \
  --workers "$WORKERS" --peak-tflops "$PEAK_TFLOPS"

# 2. end to end: rgasc train --precision bf16-mixed on a synthetic cache
stage train_e2e 150 $PY - "$WORK" "$CLIPS" "$EPOCHS" "$TRAIN_BATCH" "$WORKERS" "$ACC" \
  "$WIDTH" "$PEAK_TFLOPS" <<'EOF'
import json, subprocess, sys, time
from pathlib import Path
from _common import make_inputs
from bench_gpu import macs_per_clip
work, clips, epochs, batch, workers, acc, width, peak = sys.argv[1:]
inp = make_inputs(Path(work) / "inputs", int(clips))
run = Path(work) / "run"
cmd = ["rgasc", "train", "--dataset", inp.dataset, "--features", inp.features,
       "--labels", inp.labels, "--relation", inp.relation, "--out", run, "--epochs", epochs,
       "--batch-size", batch, "--width", width, "--precision", "bf16-mixed",
       "--accelerator", acc, "--devices", "1", "--workers", workers,
       "--no-progress-bar", "--no-model-summary"]
t0 = time.perf_counter()
subprocess.run([sys.executable, "-m", "rgasc", *map(str, cmd[1:])], check=True)
wall = time.perf_counter() - t0
cfg = __import__("yaml").safe_load((run / "config.yaml").read_text())
m = json.loads((run / "metrics.json").read_text())
n_train, n_val = cfg["data"]["clips"]["train"], cfg["data"]["clips"]["val"]
sec = m["train_seconds"] / int(epochs)  # per epoch: train + val steps, as a real run
rate = n_train / sec
flops = macs_per_clip(float(width)) * 6
print(f"train_e2e: {n_train} train + {n_val} val clips, {epochs} epochs, batch {batch}, "
      f"{workers} workers: {m['train_seconds']:.1f} s in fit ({wall:.1f} s wall with start-up)")
print(f"train_e2e: {rate:.1f} train clips/s per epoch (val included), "
      f"MFU {100 * rate * flops / (float(peak) * 1e12):.1f}% of {peak} TFLOP/s")
# TUT2018 with a validation split in the same proportion as here
print(f"train_e2e: projected 100 epochs x 6122 train clips: {100 * sec * 6122 / n_train / 60:.1f} min")
EOF

# 3. CNN14 tagging throughput
stage tagging 100 $PY benchmarks/bench_tagging.py --device "$DEV" --clips "$TAG_CLIPS" \
  --seconds "$TAG_SECONDS" --batch-size "$TAG_BATCH" --repeats 2

echo "status: ${status[*]}" | tee -a "$RESULTS"
echo "results: $RESULTS"
