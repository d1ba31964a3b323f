"""Calibration lookup by hardware fingerprint, normalization, and the mismatch warning."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from environments.calibration import Calibration, CalibrationLookup, find_calibration, home_path, save_calibration
from environments.hardware import fingerprint, hardware
from environments.registry import load_environment
from session.session import Session


def calibration(fp: str, start: float, reference: float, cpu_model: str = "Other CPU") -> Calibration:
    return Calibration("selftest", "cpu", start, reference, fp, {"cpu_model": cpu_model, "cpu_count": 64})


def test_normalization_maps_start_to_0_and_reference_to_1_both_directions() -> None:
    lower_is_better = calibration("x", start=5.0, reference=3.0)
    assert lower_is_better.normalize(5.0) == 0.0
    assert lower_is_better.normalize(3.0) == 1.0
    assert lower_is_better.normalize(2.0) == pytest.approx(1.5)  # above 1 allowed
    assert lower_is_better.normalize(6.0) == 0.0  # worse than start shows as 0
    assert math.isnan(lower_is_better.normalize(math.nan))
    assert calibration("x", start=0.2, reference=0.8).normalize(0.5) == pytest.approx(0.5)


def test_home_calibration_for_this_hardware_wins_over_shipped(home: Path) -> None:
    env = load_environment("selftest")
    save_calibration(home_path(home), calibration(fingerprint(hardware()), start=0.5, reference=2.0))
    found = find_calibration(env, "cpu", home)
    assert found.exact and found.calibration.start == 0.5 and found.warning is None


def test_unknown_hardware_falls_back_with_a_warning_in_status(home: Path, tmp_path: Path) -> None:
    env = load_environment("selftest")

    class Elsewhere(type(env)):  # the same environment, with only a foreign calibration shipped
        @property
        def folder(self) -> Path:
            return tmp_path

    save_calibration(tmp_path / "calibration.json", calibration("not-this-machine", 0.0, 1.0, "Big Iron 9000"))
    found = find_calibration(Elsewhere(), "cpu", home)
    assert not found.exact and found.calibration.fingerprint == "not-this-machine"
    assert "differs from every stored calibration" in found.warning and "Big Iron 9000" in found.warning

    with Session.create(home, "selftest", budget_s=60, kind="agent") as s:
        s.calibration = found
        status = s.call("status")
        assert "differs from every stored calibration" in status.text
        assert status.structured["calibration_warning"] == found.warning


def test_save_replaces_the_same_hardware_entry(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    save_calibration(path, calibration("a", 1.0, 2.0))
    save_calibration(path, calibration("b", 1.0, 2.0))
    save_calibration(path, calibration("a", 3.0, 4.0))
    env = load_environment("selftest")
    entries = path.read_text()
    assert entries.count('"fingerprint": "a"') == 1 and '"start": 3.0' in entries
    assert find_calibration(env, "cpu", None).calibration is not None


def test_a_session_records_its_calibration_and_marks_scores_from_another_machines_as_uncalibrated(
    home: Path,
) -> None:
    """A session normalized with another machine's calibration (as one recorded elsewhere and opened
    here) says "uncalibrated" in status and score; once this machine has one, its holder switches
    to it, normalizes the logged scores again and records that it did."""
    foreign = CalibrationLookup(calibration("not-this-machine", 0.0, 2.0, "Big Iron 9000"), exact=False)
    with Session.create(home, "selftest", budget_s=600, kind="agent") as s:
        here = s.recorder.meta("calibration")
        assert here["calibrated"] and here["calibration"]["fingerprint"] == fingerprint(hardware())
        s.recorder.set_meta("calibration", foreign.to_json())
        sid = s.id
    with Session.open(home, sid, hold=False) as s:  # reading changes nothing
        assert (
            not s.calibration.calibrated
            and s.recorder.meta("calibration")["calibration"]["fingerprint"] == "not-this-machine"
        )
        assert "uncalibrated" in s.calibration.warning
        (s.workspace / "solution.py").write_text("def answer():\n    return 0.5\n")
    with Session.open(home, sid) as s:  # this machine has a calibration: the holder switches to it
        assert s.calibration.calibrated
        recorded = [e for e in s.recorder.events("lifecycle") if e["name"] == "calibration"]
        assert len(recorded) == 1 and recorded[0]["result"]["calibration"]["fingerprint"] == fingerprint(hardware())
        scored = s.call("score")
        assert scored.structured["calibrated"] is True and "uncalibrated" not in scored.text
        assert scored.structured["normalized"] == pytest.approx(0.5)
        s.calibration = foreign  # as a holder on hardware no calibration was measured on sees it
        status, scored = s.call("status"), s.call("score")
        assert status.structured["calibrated"] is False and "(uncalibrated)" in status.text
        assert scored.structured["calibrated"] is False and "uncalibrated: " in scored.text
