"""A hardware fingerprint: calibrations are only comparable on the same CPU and GPUs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from functools import cache
from typing import Any


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs NVML sees; empty when there is no driver or library."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        names = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names
    except pynvml.NVMLError:
        return []
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


@cache
def hardware() -> dict[str, Any]:
    gpus = gpu_names()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": _cpu_model(), "cpu_count": cpus, "gpu_name": gpus[0] if gpus else None, "gpu_count": len(gpus)}


def fingerprint(hw: dict[str, Any] | None = None) -> str:
    hw = hardware() if hw is None else hw
    key = {k: hw.get(k) for k in ("cpu_model", "cpu_count", "gpu_name", "gpu_count")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
