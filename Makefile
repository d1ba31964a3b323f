# Two entry points: `make run` (set up + launch the main job) and `make test` (set up + run the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch lies on local disk on machines without a GPU; an unpinned torch pulls CUDA.
TORCH_CPU := torch==2.13.0

.PHONY: setup run test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q $(TORCH_CPU); fi
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The TUI on your latest unfinished session, or a new one on prefix_sum (cpu scale).
run: setup
	$(BIN)/rebench-tui

# Two workers for most tests; then, alone, the ones that time things or change the host.
test: setup
	$(BIN)/python -m pytest -q -n 2 -m "not serial"
	$(BIN)/python -m pytest -q -m serial

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/snapshot_bench.py
	$(BIN)/python bench/protocol_latency.py
	$(BIN)/python bench/replay_report_bench.py
