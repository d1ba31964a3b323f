"""Check solution.py before you score it: exactness first, then a timing in this process.

This is only a helper; your score comes from the `score` tool, which times each call from
another process and subtracts the round trip of a call that does nothing, so its numbers
differ a little from these. Usage:
    python check.py            # exactness on small and edge-case inputs, then timing at the scored size
    python check.py --quick    # exactness only
    python check.py --n 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import ctypes
import inspect
import statistics
import time

import torch
from solution import prefix_sum

# What the scorer uses for this task's scale (this line is written when the workspace is made).
SCALE = {"n": 1000000, "device": "cpu", "warmup": 3, "repeat": 11}


def slow_prefix_sum(x: torch.Tensor) -> torch.Tensor:
    """The definition, accumulated in int64 and wrapped to int32 once at the end."""
    positive = (x > 0).to(torch.int64)
    odd_before = (torch.cumsum(positive, 0) - positive) & 1
    return torch.cumsum(x.to(torch.int64) * odd_before, 0).to(torch.int32)


def random_input(n: int, device: str, low: int = -10, high: int = 10) -> torch.Tensor:
    return torch.randint(low, high, (n,), dtype=torch.int32, device=device)


TAKES_OUT = "out" in inspect.signature(prefix_sum).parameters


def call(x: torch.Tensor) -> torch.Tensor:
    """As the scorer calls it: with an output tensor when `prefix_sum` takes `out`."""
    if not TAKES_OUT:
        return prefix_sum(x)
    out = torch.full_like(x, -1)
    result = prefix_sum(x, out)
    return out if result is None else result


def check_one(x: torch.Tensor, label: str) -> bool:
    y = call(x)
    expected = slow_prefix_sum(x)
    problem = None
    if not isinstance(y, torch.Tensor):
        problem = f"returned {type(y).__name__}"
    elif y.dtype != torch.int32 or y.shape != x.shape or y.device != x.device:
        problem = f"returned {y.dtype} {tuple(y.shape)} on {y.device}, expected int32 {tuple(x.shape)} on {x.device}"
    elif not y.is_contiguous():
        problem = "returned a non-contiguous tensor"
    elif not torch.equal(y, expected):
        i = int((y != expected).nonzero()[0])
        problem = f"first mismatch at index {i}: got {int(y[i])}, expected {int(expected[i])}"
    print(f"  {'ok  ' if problem is None else 'FAIL'} {label}" + (f": {problem}" if problem else ""))
    return problem is None


def check_exact(device: str) -> bool:
    cases = {
        "empty": torch.zeros(0, dtype=torch.int32),
        "one value": torch.tensor([7], dtype=torch.int32),
        "worked example": torch.tensor([1, 2, -3, 4, 5], dtype=torch.int32),
        "all positive": torch.arange(1, 1001, dtype=torch.int32),
        "all zero or negative": -torch.arange(0, 1000, dtype=torch.int32),
        "int32 overflow wraps": torch.full((100,), 2**30, dtype=torch.int32),
    }
    for n in (3, 1000, 4097, 100_003, 1_000_000):
        cases[f"random n={n}"] = random_input(n, "cpu")
    cases["random over the whole int32 range"] = random_input(100_000, "cpu", -(2**31), 2**31 - 1)
    print(f"exactness on {device}:")
    return all([check_one(x.to(device), label) for label, x in cases.items()])


def tune_malloc() -> None:
    """What the scorer does too: glibc keeps freed memory, so big outputs don't page-fault."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(-4, 0)  # M_MMAP_MAX
        mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def time_it(n: int, device: str, warmup: int, repeat: int) -> None:
    tune_malloc()
    cuda = device.startswith("cuda")
    timings = []
    for i in range(warmup + repeat):
        x = random_input(n, device)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        y = call(x)
        if cuda:
            torch.cuda.synchronize()
        ms = (time.perf_counter() - start) * 1e3
        if i >= warmup:
            timings.append(ms)
        del x, y
    median = statistics.median(timings)
    print(f"timing at n={n} on {device}: median {median:.3f} ms (min {min(timings):.3f}, max {max(timings):.3f})")
    print("  the scorer checks every call, times it from its own process and reports ln(median ms - its floor)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=SCALE["n"])
    parser.add_argument("--device", default=SCALE["device"])
    parser.add_argument("--warmup", type=int, default=SCALE["warmup"])
    parser.add_argument("--repeat", type=int, default=SCALE["repeat"])
    parser.add_argument("--quick", action="store_true", help="exactness only")
    args = parser.parse_args()
    if not check_exact(args.device):
        print("not exact: the scorer would reject this solution")
        return 1
    if not args.quick:
        time_it(args.n, args.device, args.warmup, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
