"""Calibrations: the raw scores of the starting and reference solutions on given hardware.

Shipped calibrations live beside each environment (`calibration.json`); the ones an
operator measures with `rebench-tui calibrate` live in the home folder and win. A
lookup on hardware that matches no calibration falls back to one of the same scale
and says so: such normalized scores are marked uncalibrated wherever they appear.
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


def describe_hardware(hw: dict[str, Any]) -> str:
    where = f"{hw.get('cpu_count')}x {hw.get('cpu_model')}"
    return where + (f" with {hw.get('gpu_count')}x {hw.get('gpu_name')}" if hw.get("gpu_count") else "")


@dataclass(frozen=True)
class CalibrationLookup:
    """The calibration a session normalizes with, and whether it was measured on this hardware.

    A session records it when it is made (`to_json`), so its scores stay tied to the values
    they were normalized with; an inexact one marks every normalized score "uncalibrated"."""

    calibration: Calibration | None
    exact: bool

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None and self.exact

    @property
    def warning(self) -> str | None:
        if self.calibration is None:
            return "no calibration for this environment and scale: normalized scores are unavailable"
        if not self.exact:
            return (
                "uncalibrated: this hardware differs from every stored calibration; normalized scores use the one "
                f"measured on {describe_hardware(self.calibration.hardware)}, so they are only approximate"
                f" (run `rebench-tui calibrate {self.calibration.env_id} --scale {self.calibration.scale}` here)"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "calibrated": self.calibrated,
            "exact": self.exact,
            "here": fingerprint(hardware()),
            "calibration": asdict(self.calibration) if self.calibration else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CalibrationLookup:
        found = data.get("calibration")
        if found:
            found = {**found, "start_runs": tuple(found.get("start_runs", ())),
                     "reference_runs": tuple(found.get("reference_runs", ()))}  # fmt: skip
        return cls(Calibration(**found) if found else None, bool(data.get("exact")))


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
