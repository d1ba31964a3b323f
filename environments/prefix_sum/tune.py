"""glibc malloc settings for the participant's side of a prefix_sum scoring (and check.py)."""

from __future__ import annotations

import ctypes

# glibc mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


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
