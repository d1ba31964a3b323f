# Two entry points: `make run` (set up + launch the main job) and `make test` (set up + run the tests).
# As root the harness runs participants and scorers as their own Unix users, who must be able to
# run this venv's interpreter (for torch and the scorers): an interpreter under a folder closed to
# them (a pyenv in /root) cannot be theirs, so root builds the venv from the system's python3
# (3.11 or newer) instead when the one on PATH is closed to other users.
PYTHON ?= $(shell \
  exe=$$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null); \
  if [ "$$(id -u)" = 0 ] && [ -n "$$exe" ] && \
     ! setpriv --reuid=65534 --regid=65534 --clear-groups -- /bin/sh -c '"$$0" -c ""' "$$exe" 2>/dev/null && \
     /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
  then echo /usr/bin/python3; else echo python3; fi)
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

# Type-check first (CI runs this target; ~30 s cold, ~1 s with a warm .mypy_cache); then three
# workers for most tests; then, alone, the ones that time things or change the host.
test: setup
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 3 -m "not serial"
	$(BIN)/python -m pytest -q -m serial

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/snapshot_bench.py
	$(BIN)/python bench/protocol_latency.py
	$(BIN)/python bench/replay_report_bench.py
	$(BIN)/python bench/keystroke_latency.py
	$(BIN)/python bench/tui_idle_cpu.py
