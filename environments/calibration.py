"""Calibrations: the raw scores of the starting and reference solutions on given hardware.

Shipped calibrations live beside each environment (`calibration.json`); the ones an
operator measures with `rebench-tui calibrate` live in the home folder and win. A
lookup on hardware that matches no calibration falls back to one of the same scale
and says so, because normalized scores are then only approximate.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from environments.base import Environment
from environments.hardware import fingerprint, hardware


@dataclass(frozen=True)
class Calibration:
    env_id: str
    scale: str
    start: float
    reference: float
    fingerprint: str
    hardware: dict[str, Any]
    runs: int = 0
    measured_at: str = ""
    start_runs: tuple[float, ...] = ()
    reference_runs: tuple[float, ...] = ()

    def normalize(self, raw: float) -> float:
        """RE-Bench normalization: start -> 0, reference -> 1, worse than start shows as 0."""
        if math.isnan(raw) or self.reference == self.start:
            return math.nan
        return max(0.0, (raw - self.start) / (self.reference - self.start))


@dataclass(frozen=True)
class CalibrationLookup:
    calibration: Calibration | None
    exact: bool

    @property
    def warning(self) -> str | None:
        if self.calibration is None:
            return "no calibration for this environment and scale: normalized scores are unavailable"
        if not self.exact:
            hw = self.calibration.hardware
            return (
                "this hardware differs from every stored calibration; normalized scores use the one "
                f"measured on {hw.get('cpu_count')}x {hw.get('cpu_model')}"
                + (f" with {hw.get('gpu_count')}x {hw.get('gpu_name')}" if hw.get("gpu_count") else "")
                + " (run `rebench-tui calibrate` here)"
            )
        return None


def _read(path: Path) -> list[Calibration]:
    try:
        entries = json.loads(path.read_text()).get("calibrations", [])
    except (OSError, ValueError):
        return []
    out = []
    for e in entries:
        e = dict(e)
        e["start_runs"] = tuple(e.get("start_runs", ()))
        e["reference_runs"] = tuple(e.get("reference_runs", ()))
        out.append(Calibration(**e))
    return out


def shipped_path(env: Environment) -> Path:
    return env.folder / "calibration.json"


def home_path(home: Path) -> Path:
    return home / "calibrations.json"


def find_calibration(env: Environment, scale: str, home: Path | None) -> CalibrationLookup:
    here = fingerprint(hardware())
    candidates = (_read(home_path(home)) if home else []) + _read(shipped_path(env))
    candidates = [c for c in candidates if c.env_id == env.id and c.scale == scale]
    for c in candidates:
        if c.fingerprint == here:
            return CalibrationLookup(c, exact=True)
    return CalibrationLookup(candidates[0] if candidates else None, exact=False)


def save_calibration(path: Path, calibration: Calibration) -> None:
    """Add or replace the entry for (env, scale, fingerprint) in a calibrations file."""
    existing = [
        c
        for c in _read(path)
        if (c.env_id, c.scale, c.fingerprint) != (calibration.env_id, calibration.scale, calibration.fingerprint)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"calibrations": [asdict(c) for c in [calibration, *existing]]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
