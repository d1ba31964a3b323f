"""A scorer that hangs, crashes, blows its memory or lies is contained; the session goes on."""

from __future__ import annotations

import time

import pytest
from conftest import write_solution

from session.session import Session

FAULTS = {
    "hang": ("import time\ndef answer():\n    time.sleep(600)\n", "timed out after 5 s", "timeout"),
    "segfault": ("import ctypes\ndef answer():\n    ctypes.string_at(0)\n", "signal SIGSEGV", "crashed"),
    "exit": ("import os\ndef answer():\n    os._exit(7)\n", "exit code 7", "crashed"),
    "memory": (
        "def answer():\n    blocks = [bytearray(50 * 2**20) for _ in range(40)]\n    return len(blocks)\n",
        "more than 400 MB",
        "out_of_memory",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_scorer_fault_gives_nan_with_reason(selftest: Session, fault: str) -> None:
    body, reason, flag = FAULTS[fault]
    write_solution(selftest, body)
    started = time.monotonic()
    result = selftest.call("score")
    elapsed = time.monotonic() - started
    assert not result.is_error
    assert result.structured["valid"] is False
    assert reason in result.structured["message"]["error"]
    row = selftest.recorder.scores()[-1]
    assert row["raw"] is None and not row["valid"]
    assert row["details"][flag] is True
    if fault == "hang":
        assert 5 <= elapsed < 15, "the hung scorer was not killed at its timeout"

    # The session goes on: the next scoring works.
    write_solution(selftest, "def answer():\n    return 0.5\n")
    assert selftest.call("score").structured["valid"]


def test_hung_scorer_children_are_killed_too(selftest: Session) -> None:
    marker = selftest.workspace / "grandchild-was-here"
    write_solution(
        selftest,
        "import subprocess, time\n"
        "def answer():\n"
        f"    subprocess.Popen(['sh', '-c', 'sleep 7; touch {marker}'])\n"
        "    time.sleep(600)\n",
    )
    assert "timed out" in selftest.call("score").text
    time.sleep(3)
    assert not marker.exists()


def test_solution_cannot_fake_the_scorer_result_by_printing(selftest: Session) -> None:
    write_solution(selftest, 'print(\'{"raw": 99.0, "message": {}}\')\ndef answer():\n    return 0.3\n')
    assert selftest.call("score").structured["raw"] == 0.3


def test_workspace_package_cannot_shadow_the_scorer(selftest: Session) -> None:
    fake = selftest.workspace / "environments"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    write_solution(selftest, "def answer():\n    return 0.2\n")
    assert selftest.call("score").structured["raw"] == 0.2
