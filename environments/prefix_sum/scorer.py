"""The prefix_sum scorer. It runs only inside the scorer subprocess, and it imports torch.

The participant's module runs in this process, so the order of steps is what keeps the
measurement honest:

1. Take references to everything the measurement uses (clocks, CUDA synchronize and
   events, the random generator, hashing, memory reads, this module's own functions)
   into an immutable tuple. Patching `time.perf_counter`, `torch.cuda.synchronize`,
   `torch.randint` or this module later changes nothing in the measurement, and after
   every call an audit makes such a patch an invalid score that names what was replaced.
2. For every call, draw a seed from os.urandom, build the input, compute the trusted
   output and keep only the seed and the sha256 of the output's bytes. No input or
   expected tensor exists when the participant's module loads, so there is nothing to
   find with gc and no input to compute ahead of time.
3. Import solution.py, then for each call rebuild the input from its seed, time the
   call and compare the digest of the output's raw bytes. Every call gets a new input,
   so a cache of earlier results fails the check.

Not covered, left to the review of the recording (no in-process check can be complete):
code that reads this module's frames to learn the seeds, rewrites objects with ctypes,
overrides torch kernels with torch.library, or leaves work running in background
threads after `prefix_sum` returns (the CPU time other threads use right after each
call is recorded in `details` as evidence).
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import math
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from environments.base import ScaleConfig, ScoreResult
from environments.participant_code import Invalid, import_from_workspace
from environments.prefix_sum.trusted import prefix_sum_trusted, random_input

# glibc mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


class Trusted(NamedTuple):
    """Functions taken before any participant code runs. A tuple, so it cannot be rebound."""

    perf: Callable[[], float]
    process_time: Callable[[], float]
    thread_time: Callable[[], float]
    gc_enable: Callable[[], None]
    gc_disable: Callable[[], None]
    randint: Callable[..., torch.Tensor]
    generator: type
    sha256: Callable[..., Any]
    string_at: Callable[[int, int], bytes]
    tensor_type: type
    data_ptr: Callable[[torch.Tensor], int]
    is_contiguous: Callable[[torch.Tensor], bool]
    to_cpu: Callable[[torch.Tensor], torch.Tensor]
    cuda_sync: Callable[[], None] | None
    cuda_stream: Any
    event: Any
    record: Callable[..., None] | None
    elapsed: Callable[..., float] | None
    # This module's own steps, so that rebinding them in the module has no effect.
    random_input: Callable[..., torch.Tensor]
    time_call: Callable[..., tuple[Any, float, float]]
    check_output: Callable[..., None]
    digest: Callable[..., bytes]
    audit: Callable[..., list[str]]
    watched: tuple[Watched, ...]


class Watched(NamedTuple):
    """One name the measurement relies on, with the object (and code) it was bound to."""

    label: str
    owner: Any
    name: str
    value: Any
    code: Any


def _watch_list() -> list[tuple[str, Any, tuple[str, ...]]]:
    from environments.prefix_sum import trusted

    clocks = ("perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "process_time", "thread_time")
    ours = ("measure", "time_call", "check_output", "output_digest", "find_tampering", "_overlaps", "random_input")
    # Rebinding these names changes nothing (the measurement holds its own references); it is
    # still tampering, and changing a function's __code__ in place would change the measurement.
    return [
        ("time", time, clocks),
        ("gc", gc, ("enable", "disable")),
        ("hashlib", hashlib, ("sha256",)),
        ("ctypes", ctypes, ("string_at",)),
        ("torch", torch, ("randint", "Generator", "Tensor")),
        ("torch._C", torch._C, ("_cuda_synchronize",)),
        ("torch.cuda", torch.cuda, ("synchronize", "Event", "current_stream")),
        ("torch.cuda.Event", torch.cuda.Event, ("record", "elapsed_time", "synchronize")),
        ("scorer", sys.modules[__name__], ours),
        ("trusted", trusted, ("random_input", "prefix_sum_trusted")),
    ]


def watch() -> tuple[Watched, ...]:
    return tuple(
        Watched(f"{label}.{name}", owner, name, value, getattr(value, "__code__", None))
        for label, owner, names in _watch_list()
        for name in names
        if (value := getattr(owner, name, None)) is not None
    )


def find_tampering(watched: tuple[Watched, ...]) -> list[str]:
    """The watched names the participant's code rebound, or whose function code it swapped."""
    changed = []
    for w in watched:
        now = getattr(w.owner, w.name, None)
        if now is not w.value or (w.code is not None and getattr(now, "__code__", None) is not w.code):
            changed.append(w.label)
    return changed


def capture(device: str) -> Trusted:
    cuda = device.startswith("cuda")
    return Trusted(
        perf=time.perf_counter,
        process_time=time.process_time,
        thread_time=time.thread_time,
        gc_enable=gc.enable,
        gc_disable=gc.disable,
        randint=torch.randint,
        generator=torch.Generator,
        sha256=hashlib.sha256,
        string_at=ctypes.string_at,
        tensor_type=torch.Tensor,
        data_ptr=torch._C.TensorBase.data_ptr,
        is_contiguous=torch._C.TensorBase.is_contiguous,
        to_cpu=torch._C.TensorBase.cpu,
        cuda_sync=torch._C._cuda_synchronize if cuda else None,
        cuda_stream=torch.cuda.current_stream() if cuda else None,
        event=torch.cuda.Event if cuda else None,
        record=torch.cuda.Event.record if cuda else None,
        elapsed=torch.cuda.Event.elapsed_time if cuda else None,
        random_input=random_input,
        time_call=time_call,
        check_output=check_output,
        digest=output_digest,
        audit=find_tampering,
        watched=watch(),
    )


def tune_malloc() -> bool:
    """Keep freed memory in glibc's heap, so a fresh output does not cost a page fault per 4 KiB.

    Without this, each 64 MB tensor is a new mmap, and page faults (not the kernel)
    dominate every timing on CPU. A caching allocator does the same job on GPU.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def output_digest(out: torch.Tensor, n: int, t: Trusted) -> bytes:
    """sha256 of the output's raw bytes, read directly from memory (a snapshot, taken at once)."""
    if n == 0:
        return t.sha256(b"").digest()
    host = out if out.device.type == "cpu" else t.to_cpu(out)
    return t.sha256(t.string_at(t.data_ptr(host), 4 * n)).digest()


def make_cases(n: int, device: str, count: int, t: Trusted) -> tuple[tuple[int, bytes], ...]:
    """(seed, digest of the trusted output) per call; every tensor is dropped afterwards."""
    cases = []
    for _ in range(count):
        seed = int.from_bytes(os.urandom(8), "little") & (2**63 - 1)
        x = random_input(seed, n, device, t.randint, t.generator)
        expected = prefix_sum_trusted(x)
        cases.append((seed, output_digest(expected, n, t)))
        del x, expected
    gc.collect()
    return tuple(cases)


def load_solution(workspace: Path) -> Callable[[torch.Tensor], Any]:
    """Import workspace/solution.py (see environments.participant_code) and return its prefix_sum."""
    module = import_from_workspace(workspace, "solution.py")
    fn = getattr(module, "prefix_sum", None)
    if not callable(fn):
        raise Invalid("solution.py does not define a function prefix_sum(x)")
    return fn


def _overlaps(a: int, b: int, nbytes: int) -> bool:
    return a < b + nbytes and b < a + nbytes


def check_output(out: Any, x: torch.Tensor, previous: torch.Tensor | None, n: int, t: Trusted) -> None:
    """Raise Invalid unless `out` is a plain, contiguous int32 tensor of x's shape and device."""
    if type(out) is not t.tensor_type:
        kind = "a subclass of torch.Tensor" if isinstance(out, torch.Tensor) else "not a torch.Tensor"
        raise Invalid(f"prefix_sum returned {type(out).__name__}, {kind}; return a plain torch.Tensor")
    if out.dtype != torch.int32:
        raise Invalid(f"prefix_sum returned dtype {out.dtype}, expected torch.int32")
    if tuple(out.shape) != (n,):
        raise Invalid(f"prefix_sum returned shape {tuple(out.shape)}, expected ({n},)")
    if out.device != x.device:
        raise Invalid(f"prefix_sum returned a tensor on {out.device}, expected {x.device}")
    if out.layout != torch.strided or not t.is_contiguous(out):
        raise Invalid("prefix_sum must return a contiguous tensor")
    if n == 0:
        return
    ptr = t.data_ptr(out)
    if _overlaps(ptr, t.data_ptr(x), 4 * n):
        raise Invalid("prefix_sum must return a new tensor, not one sharing memory with its input")
    if previous is not None and _overlaps(ptr, t.data_ptr(previous), 4 * n):
        raise Invalid("prefix_sum must return a new tensor, not memory of its previous result")


def time_call(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, t: Trusted) -> tuple[Any, float, float]:
    """(output, milliseconds, wall milliseconds). On CUDA the device is idle before the call,
    and the end event is recorded after a device-wide synchronize, so work the call left on
    any stream is counted."""
    if t.cuda_sync is None:
        t.gc_disable()
        try:
            start = t.perf()
            out = fn(x)
            ms = (t.perf() - start) * 1e3
        finally:
            t.gc_enable()
        return out, ms, ms
    begin, end = t.event(enable_timing=True), t.event(enable_timing=True)
    t.cuda_sync()
    t.gc_disable()
    try:
        t.record(begin, t.cuda_stream)
        start = t.perf()
        out = fn(x)
        t.cuda_sync()
        wall = (t.perf() - start) * 1e3
        t.record(end, t.cuda_stream)
        t.cuda_sync()
    finally:
        t.gc_enable()
    return out, t.elapsed(begin, end), wall


def measure(
    fn: Callable[[torch.Tensor], Any], cases: tuple[tuple[int, bytes], ...], n: int, device: str, t: Trusted
) -> tuple[list[float], list[float], list[float]]:
    """Call once per case on its own input; verify each output, and that nothing the
    measurement relies on was replaced, before the next call."""
    timings, walls, after_return_cpu = [], [], []
    previous = None
    for i, (seed, expected) in enumerate(cases):
        x = t.random_input(seed, n, device, t.randint, t.generator)
        try:
            out, ms, wall = t.time_call(fn, x, t)
        except BaseException as exc:
            reason = f"prefix_sum raised {type(exc).__name__}: {exc}"[:2000]
            raise Invalid(reason, call=i, traceback=traceback.format_exc()[-8000:]) from None
        cpu_returned, own_returned = t.process_time(), t.thread_time()
        t.check_output(out, x, previous, n, t)
        if t.digest(out, n, t) != expected:
            raise Invalid(f"wrong output on call {i + 1} (a fresh random input of n={n})", call=i, seed=seed)
        # CPU time used by other threads while this thread checked the output: evidence of deferred work.
        other = (t.process_time() - cpu_returned) - (t.thread_time() - own_returned)
        if changed := t.audit(t.watched):
            raise Invalid(
                f"solution.py replaced {', '.join(changed)}: changing the scorer's clocks, synchronization,"
                " random inputs or code is not allowed",
                call=i,
                replaced=changed,
            )
        timings.append(ms)
        walls.append(wall)
        after_return_cpu.append(round(other * 1e3, 3))
        previous = out
        del x
    return timings, walls, after_return_cpu


def score(workspace: Path, config: ScaleConfig) -> ScoreResult:
    params = config.params
    n, device = int(params["n"]), str(params["device"])
    warmup, repeat = int(params["warmup"]), int(params["repeat"])
    if device.startswith("cuda") and not torch.cuda.is_available():
        return ScoreResult.invalid(f"scale {config.name!r} needs a CUDA GPU, and none is visible")
    malloc_tuned = tune_malloc()
    t = capture(device)
    # Locals, bound before the import: rebinding these names from solution.py changes nothing here.
    run, median_of, log = measure, statistics.median, math.log
    try:
        cases = make_cases(n, device, warmup + repeat, t)
        fn = load_solution(workspace)
        timings, walls, after_return_cpu = run(fn, cases, n, device, t)
    except Invalid as exc:
        return ScoreResult.invalid(exc.reason, n=n, device=device, **exc.details)
    timed = timings[warmup:]
    median = median_of(timed)
    if not median > 0:
        return ScoreResult.invalid(f"median time is not positive ({median} ms)", timings_ms=timings)
    return ScoreResult(
        log(median),
        {"median_ms": round(median, 4), "n": n},
        {
            "device": device,
            "torch": torch.__version__,
            "warmup": warmup,
            "repeat": repeat,
            "timings_ms": [round(v, 4) for v in timed],
            "warmup_ms": [round(v, 4) for v in timings[:warmup]],
            "wall_ms": [round(v, 4) for v in walls],
            "after_return_cpu_ms": after_return_cpu,
            "malloc_tuned": malloc_tuned,
            "seeds": [seed for seed, _ in cases],
        },
    )
