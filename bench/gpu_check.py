"""The GPU paths, checked on a machine with a GPU (run on demand; needs only torch, triton,
psutil and nvidia-ml-py, so it also runs on a bare GPU image without the TUI's dependencies).

    python bench/gpu_check.py [--out DIR] [--runs N] [--envs prefix_sum,restricted_mlm] [--build rl_qa]

1. NVML through the resource sampler's GpuProbe (names, memory, utilisation, power).
2. `--build`: build those environments' gpu scales with their own build commands (BUILDS),
   each timed and its output's tail kept in DIR/build_<env>.log; a build that fails or runs
   past its limit is reported and its environment not calibrated.
3. Per environment: calibrate its `gpu` scale (start and reference through the real scorer
   subprocess), printing a table and writing the calibrations as JSON for shipping.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.registry import load_environment
from session.calibrate import calibrate
from session.resources import GpuProbe

# Each environment's commands that build its gpu scale (run from the checkout, in order).
BUILDS: dict[str, list[list[str]]] = {
    "rl_qa": [["-m", "environments.rl_qa.reference.build", "--scale", "gpu"]],
    "fix_embedding": [
        ["-m", "environments.fix_embedding.build", "--scale", "gpu", "--part", p]
        for p in ("small", "large", "reference", "start")
    ],
    "scaling_law": [
        ["-m", "environments.scaling_law.sweep", "--scale", "gpu"],
        ["-m", "environments.scaling_law.reference.fit", "--scale", "gpu"],
    ],
}


def build(env_id: str, out: Path, limit_s: float) -> str | None:
    """Run `env_id`'s gpu build commands; None when they all succeeded, else why not."""
    log = out / f"build_{env_id}.log"
    with log.open("w") as sink:
        for args in BUILDS[env_id]:
            started = time.monotonic()
            try:
                done = subprocess.run([sys.executable, *args], stdout=sink, stderr=subprocess.STDOUT, timeout=limit_s)
            except subprocess.TimeoutExpired:
                return f"{' '.join(args[1:])} ran past {limit_s:g} s (log: {log})"
            print(f"  {env_id}: {' '.join(args[1:])} took {time.monotonic() - started:.0f} s", flush=True)
            if done.returncode:
                return f"{' '.join(args[1:])} exited with {done.returncode} (log: {log})"
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--envs", default="prefix_sum")
    parser.add_argument("--build", default="", help=f"build these gpu scales first: {', '.join(BUILDS)}")
    parser.add_argument("--build-limit-s", type=float, default=600, help="each build command at most")
    args = parser.parse_args()
    if unknown := [e for e in filter(None, args.build.split(",")) if e not in BUILDS]:
        parser.error(f"no gpu build command for {', '.join(unknown)} (known: {', '.join(BUILDS)})")
    args.out.mkdir(parents=True, exist_ok=True)

    probe = GpuProbe()
    print(f"NVML: {probe.status}")
    for gpu in probe.read():
        print("  " + ", ".join(f"{k}={v}" for k, v in gpu.items()))

    rows, calibrations = [], []
    failed_builds = {}
    for env_id in filter(None, args.build.split(",")):
        if (why := build(env_id, args.out, args.build_limit_s)) is not None:
            failed_builds[env_id] = why
            rows.append((env_id, "BUILD FAILED", why[:200], "", ""))
    for env_id in args.envs.split(","):
        if env_id in failed_builds:
            continue
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
