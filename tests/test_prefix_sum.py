"""The prefix_sum environment: exact implementations, and a judge that cheats cannot fool.

Scoring runs through the real `session.scoring.run_scorer` (the participant's part and the
judge in their own processes) on the small `test` scale, unconfined here (the part is
stopped with signals); tests/test_scoring_attacks.py repeats the attacks in isolated
sessions. The scenarios run concurrently once per module because each process spends
seconds importing torch.
"""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
import torch

from environments.base import Part, ScoreResult
from environments.participant_code import Invalid
from environments.prefix_sum import runner
from environments.prefix_sum.trusted import prefix_sum_trusted, random_input
from environments.registry import load_environment
from session.scoring import run_scorer

REPO = Path(__file__).resolve().parents[1]
ENV_DIR = REPO / "environments" / "prefix_sum"
TEST_N = 100_003


def brute_force(values: list[int]) -> list[int]:
    """The definition, one element at a time, with int32 wraparound."""
    out, total, positives = [], 0, 0
    for v in values:
        if positives % 2 == 1:
            total += v
        out.append((total + 2**31) % 2**32 - 2**31)
        positives += v > 0
    return out


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"prefix_sum_test_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EDGE_CASES = {
    "empty": [],
    "one positive": [5],
    "one negative": [-5],
    "worked example": [1, 2, -3, 4, 5],
    "all positive": list(range(1, 40)),
    "all zero or negative": [0, -1, -10, 0, -3, -7, 0],
    "zeros do not count": [0, 3, 0, 3, 0, 3],
    "wraps around": [2**31 - 1] * 7 + [-(2**31)] * 5,
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_trusted_matches_brute_force_on_edge_cases(name: str) -> None:
    values = EDGE_CASES[name]
    got = prefix_sum_trusted(torch.tensor(values, dtype=torch.int32))
    assert got.dtype == torch.int32
    assert got.tolist() == brute_force(values)


@pytest.mark.parametrize(("low", "high"), [(-10, 10), (-(2**31), 2**31 - 1)])
def test_trusted_matches_brute_force_on_random_inputs(low: int, high: int) -> None:
    g = torch.Generator().manual_seed(1234)
    for n in (1, 2, 17, 1000, 5003):
        x = torch.randint(low, high, (n,), dtype=torch.int32, generator=g)
        assert prefix_sum_trusted(x).tolist() == brute_force(x.tolist())


def test_worked_example_in_the_instructions() -> None:
    assert brute_force([1, 2, -3, 4, 5]) == [0, 2, 2, 2, 7]
    assert "| y[j] | 0 | 2 | 2 | 2 | 7 |" in load_environment("prefix_sum").instructions("cpu")


def test_random_input_is_reproducible_from_its_seed() -> None:
    a, b = random_input(42, 1000, "cpu"), random_input(42, 1000, "cpu")
    assert torch.equal(a, b) and a.dtype == torch.int32
    assert int(a.min()) >= -10 and int(a.max()) < 10
    assert not torch.equal(a, random_input(43, 1000, "cpu"))


@pytest.fixture(scope="module")
def cpu_reference(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The reference copied out of the repository, so its compiled `.build/` lands in a temp dir."""
    folder = tmp_path_factory.mktemp("cpu_reference")
    load_environment("prefix_sum").install_reference(folder, "cpu")
    assert (folder / "prefix_sum_cpu.c").exists()
    return load_module(folder / "solution.py")


# Sizes around the C code's thresholds: 8-lane vectors, two threads from 2**18, streaming stores from 2**20.
SIZES = (0, 1, 7, 8, 9, 1000, 2**18 - 1, 2**18 + 3, 2**20 + 5, 3_000_001)


@pytest.mark.parametrize("which", ["start", "cpu reference"])
def test_start_and_cpu_reference_are_exact(which: str, cpu_reference: ModuleType) -> None:
    module = load_module(ENV_DIR / "start" / "solution.py") if which == "start" else cpu_reference
    g = torch.Generator().manual_seed(7)
    for n in SIZES:
        x = torch.randint(-10, 10, (n,), dtype=torch.int32, generator=g)
        for view in (x, x[1:]):  # x[1:] starts 4 bytes into its storage
            y = module.prefix_sum(view)
            assert y.dtype == torch.int32 and y.device == view.device
            assert torch.equal(y, prefix_sum_trusted(view)), (which, n)
    wide = torch.randint(-(2**31), 2**31 - 1, (2**20 + 5,), dtype=torch.int32, generator=g)
    assert torch.equal(module.prefix_sum(wide), prefix_sum_trusted(wide)), "int32 wraparound"


def test_triton_reference_is_exact_in_the_interpreter() -> None:
    """The GPU kernels run on CPU under TRITON_INTERPRET=1, with small blocks so that
    inputs span many blocks and several chunks of the carry scan."""
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {str(ENV_DIR / "reference" / "gpu")!r})
        from solution import prefix_sum
        from environments.prefix_sum.trusted import prefix_sum_trusted
        g = torch.Generator().manual_seed(3)
        cases = [(0, 64, 16), (1, 64, 16), (63, 64, 16), (64, 64, 16), (65, 64, 16), (64 * 16, 64, 16),
                 (64 * 16 + 1, 64, 16), (64 * 40 + 7, 64, 16), (5000, 128, 4), (3000, 4096, 1024)]
        for n, block, chunk in cases:
            x = torch.randint(-10, 10, (n,), dtype=torch.int32, generator=g)
            y = prefix_sum(x, block, chunk)
            assert y.dtype == torch.int32 and torch.equal(y, prefix_sum_trusted(x)), (n, block, chunk)
        x = torch.randint(-2**31, 2**31 - 1, (64 * 20 + 3,), dtype=torch.int32, generator=g)
        assert torch.equal(prefix_sum(x, 64, 8), prefix_sum_trusted(x)), "int32 wraparound"
        print("triton reference ok")
        """
    )
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "triton reference ok" in proc.stdout


def test_listing_the_environment_does_not_import_torch() -> None:
    code = (
        "import sys; from environments.registry import load_environment; "
        "e = load_environment('prefix_sum'); [e.instructions(s) for s in e.scales]; "
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


def test_prepare_and_install_reference(tmp_path: Path) -> None:
    env = load_environment("prefix_sum")
    assert env.aggregation == "min" and env.score_visible
    assert env.scale("cpu").params["n"] == 16_000_000 and env.scale("gpu").params["n"] == 10**8
    assert "n = 16_000_000" in env.instructions("cpu") and "n = 100_000_000" in env.instructions("gpu")
    workspace, private = tmp_path / "workspace", tmp_path / "private"
    workspace.mkdir()
    private.mkdir()
    env.prepare(workspace, private, "gpu")
    assert (workspace / "solution.py").read_text() == (ENV_DIR / "start" / "solution.py").read_text()
    scale_line = 'SCALE = {"n": 100000000, "device": "cuda", "warmup": 3, "repeat": 15}'
    assert scale_line in (workspace / "check.py").read_text()
    env.install_reference(workspace, "gpu")
    assert "triton" in (workspace / "solution.py").read_text()
    env.install_reference(workspace, "cpu")
    assert (workspace / "prefix_sum_cpu.c").exists() and "ctypes" in (workspace / "solution.py").read_text()


def test_check_script_runs_in_a_prepared_workspace(tmp_path: Path) -> None:
    load_environment("prefix_sum").prepare(tmp_path, tmp_path, "test")
    proc = subprocess.run(
        [sys.executable, "check.py", "--repeat", "2", "--warmup", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout and f"timing at n={TEST_N} on cpu" in proc.stdout


# ---- the participant's side, in-process ------------------------------------------------------


def test_the_runner_takes_only_int32_results_of_the_right_size() -> None:
    out = torch.empty(64, dtype=torch.int32)
    good = prefix_sum_trusted(torch.randint(-10, 10, (64,), dtype=torch.int32))
    runner._into(good, out, 64)
    assert torch.equal(out, good)
    runner._into(out, out, 64)  # written in place: nothing to copy
    for bad, words in ((good.tolist(), "not a torch.Tensor"), (good.long(), "torch.int64"), (good[:63], "63")):
        with pytest.raises(Invalid, match=words):
            runner._into(bad, out, 64)


@pytest.fixture
def forget_solution_modules() -> Iterator[None]:
    yield
    for name in ("solution", "helper_for_test"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("forget_solution_modules")
def test_loading_the_solution_reports_missing_function_and_import_errors(tmp_path: Path) -> None:
    part = Part(tmp_path, {}, tmp_path, "test")
    with pytest.raises(Invalid, match="missing"):
        runner._load(part)
    (tmp_path / "solution.py").write_text("def other(x):\n    return x\n")
    with pytest.raises(Invalid, match="does not define"):
        runner._load(part)
    (tmp_path / "solution.py").write_text("def prefix_sum(x, out):\n    return out\n")
    assert runner._load(part)[1] is True  # takes `out`
    (tmp_path / "helper_for_test.py").write_text("VALUE = 3\n")
    (tmp_path / "solution.py").write_text("import helper_for_test\nraise ValueError('bad import')\n")
    with pytest.raises(Invalid, match="ValueError: bad import"):
        runner._load(part)
    assert str(tmp_path) not in sys.path


# ---- scoring through the real scorer subprocess ---------------------------------------------------

HONEST = """
import torch
def _slow(x):
    positive = (x > 0).to(torch.int32)
    odd = ((torch.cumsum(positive, 0, dtype=torch.int32) - positive) & 1).bool()
    return torch.cumsum(torch.where(odd, x, 0), 0, dtype=torch.int32)
"""

SOLUTIONS = {
    "start": None,  # the prepared starting solution
    "wrong": "import torch\ndef prefix_sum(x):\n    return torch.cumsum(x, 0, dtype=torch.int32)\n",
    "raises": "def prefix_sum(x):\n    raise RuntimeError('boom from the solution')\n",
    # Patches the clocks, CUDA synchronize, the judge's module and the result class, in its own process.
    "tamper": HONEST
    + """
import time
import environments.base as _base
import environments.prefix_sum.scorer as _judge
time.perf_counter = lambda: 0.0
torch.cuda.synchronize = lambda *a, **k: None
_judge.judge = lambda *a, **k: _base.ScoreResult(-20.0, {"median_ms": 0.0})
_base.ScoreResult.valid = property(lambda self: True)
def prefix_sum(x):
    return torch.zeros_like(x)
""",
    # Honest but slow (20 ms a call); makes every clock it can reach barely move while it runs.
    "fake_clock": HONEST
    + """
import itertools, time
_real = {name: getattr(time, name) for name in ("perf_counter", "monotonic", "time", "perf_counter_ns")}
_ticks = itertools.count()
def prefix_sum(x):
    time.perf_counter = time.monotonic = time.time = lambda: next(_ticks) * 1e-6
    time.perf_counter_ns = lambda: next(_ticks)
    try:
        time.sleep(0.02)
        return _slow(x)
    finally:
        for name, value in _real.items():
            setattr(time, name, value)
""",
    # Computes once per input address and serves later calls from the cache (the shared input's
    # address is the same for every call: the contents are new).
    "cache": HONEST
    + """
from pathlib import Path
_cache = {}
def prefix_sum(x):
    key = (x.data_ptr(), x.numel())
    if key in _cache:
        Path("cache_hits").write_text("hit")
        return _cache[key].clone()
    _cache[key] = _slow(x)
    return _cache[key].clone()
""",
    # Looks through every object the garbage collector knows for the scorer's tensors.
    "gc_search": """
import gc
from pathlib import Path
import torch
_mine = []
def _candidates(n, exclude=()):
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, torch.Tensor) and obj.dtype == torch.int32 and obj.numel() == n:
            if all(obj is not e for e in exclude) and all(obj is not m for m in _mine):
                found.append(obj)
    return found
Path("found_at_import").write_text(str(len(_candidates(TEST_N))))
def prefix_sum(x):
    found = _candidates(x.numel(), exclude=(x,))
    Path("found_in_call").write_text(str(len(found)))
    out = found[0].clone() if found else torch.zeros_like(x)
    _mine.append(out)
    return out
""".replace("TEST_N", str(TEST_N)),
}


def _score(name: str, root: Path) -> tuple[ScoreResult, Path]:
    env = load_environment("prefix_sum")
    workspace, private = root / name / "workspace", root / name / "private"
    workspace.mkdir(parents=True)
    private.mkdir(parents=True)
    env.prepare(workspace, private, "test")
    if SOLUTIONS[name] is not None:
        (workspace / "solution.py").write_text(SOLUTIONS[name])
    return run_scorer(env, "test", workspace, private), workspace


@pytest.fixture(scope="module")
def scored() -> Iterator[dict[str, tuple[ScoreResult, Path]]]:
    with tempfile.TemporaryDirectory(prefix="rebench-prefix-sum-") as tmp:
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            futures = {name: pool.submit(_score, name, Path(tmp)) for name in SOLUTIONS}
            results = {name: f.result() for name, f in futures.items()}
        yield results
        gc.collect()


def test_start_solution_scores_finite(scored: dict[str, tuple[ScoreResult, Path]]) -> None:
    result, _ = scored["start"]
    assert result.valid and math.isfinite(result.raw), result.message
    assert result.message["n"] == TEST_N
    assert math.isclose(result.raw, math.log(result.message["median_ms"]), rel_tol=1e-3, abs_tol=1e-3)
    assert len(result.details["timings_ms"]) == 3 and len(result.details["seeds"]) == 4
    assert len(result.details["floor_ms"]) == 3 and result.details["freezer"] == "SIGSTOP"
    measured, floor = result.message["measured_ms"], result.message["floor_ms"]
    assert math.isclose(result.message["median_ms"], max(measured - floor, 0.001), rel_tol=1e-3)


def test_wrong_solution_is_invalid_with_a_reason(scored: dict[str, tuple[ScoreResult, Path]]) -> None:
    result, _ = scored["wrong"]
    assert not result.valid
    assert "wrong output on call 1" in result.message["error"]


def test_raising_solution_is_invalid_with_the_exception(scored: dict[str, tuple[ScoreResult, Path]]) -> None:
    result, _ = scored["raises"]
    assert not result.valid
    assert "RuntimeError: boom from the solution" in result.message["error"]


def test_clocks_patched_during_the_call_do_not_shorten_the_timing(
    scored: dict[str, tuple[ScoreResult, Path]],
) -> None:
    result, _ = scored["fake_clock"]
    assert result.valid, result.message
    # The gross time: the net one (less the round-trip floor) may come a hair under the 20 ms slept.
    assert result.message["measured_ms"] >= 20, "the judge read a clock the solution patched"


def test_patches_to_clocks_the_judge_or_its_classes_stay_in_the_participants_process(
    scored: dict[str, tuple[ScoreResult, Path]],
) -> None:
    result, _ = scored["tamper"]
    assert not result.valid
    assert "wrong output on call 1" in result.message["error"]


def test_caching_by_input_address_fails_verification(scored: dict[str, tuple[ScoreResult, Path]]) -> None:
    result, workspace = scored["cache"]
    assert (workspace / "cache_hits").exists()
    assert not result.valid
    assert "wrong output" in result.message["error"]


def test_searching_the_garbage_collector_finds_nothing_useful(scored: dict[str, tuple[ScoreResult, Path]]) -> None:
    result, _ = scored["gc_search"]
    assert not result.valid
    assert "wrong output" in result.message["error"]
