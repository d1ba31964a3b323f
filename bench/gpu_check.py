"""The GPU paths, checked on a machine with a GPU (run on demand; needs only torch, triton,
psutil and nvidia-ml-py, so it also runs on a bare GPU image without the TUI's dependencies).

    python bench/gpu_check.py [--out DIR] [--runs N] [--envs prefix_sum,restricted_mlm]

1. NVML through the resource sampler's GpuProbe (names, memory, utilisation, power).
2. Per environment: calibrate its `gpu` scale (start and reference through the real scorer
   subprocess), printing a table and writing the calibrations as JSON for shipping.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.registry import load_environment
from session.calibrate import calibrate
from session.resources import GpuProbe


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--envs", default="prefix_sum")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    probe = GpuProbe()
    print(f"NVML: {probe.status}")
    for gpu in probe.read():
        print("  " + ", ".join(f"{k}={v}" for k, v in gpu.items()))

    rows, calibrations = [], []
    for env_id in args.envs.split(","):
        env = load_environment(env_id)
        if "gpu" not in env.scales:
            continue
        started = time.monotonic()
        try:
            cal = calibrate(env, "gpu", runs=args.runs, progress=lambda m, e=env_id: print(f"  {e}: {m}", flush=True))
        except Exception as exc:  # report and go on with the next environment
            rows.append((env_id, "FAILED", str(exc)[:200], "", ""))
            continue
        seconds = time.monotonic() - started
        calibrations.append(asdict(cal))
        s, r = cal.start_runs, cal.reference_runs
        spread = f"{min(s):.3f}-{max(s):.3f} / {min(r):.3f}-{max(r):.3f}"
        rows.append((env_id, f"{cal.start:.4f}", f"{cal.reference:.4f}", spread, f"{seconds:.0f}s"))
    print(f"\n{'environment':16} {'start raw':>10} {'ref raw':>10}  {'spread (start / ref)':30} {'time':>6}")
    for row in rows:
        print(f"{row[0]:16} {row[1]:>10} {row[2]:>10}  {row[3]:30} {row[4]:>6}")
    (args.out / "gpu_calibrations.json").write_text(json.dumps({"calibrations": calibrations}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
