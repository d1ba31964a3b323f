"""`selftest`: a seconds-long environment for checking the harness itself.

The participant's `solution.py` defines `answer()`; its return value is the raw score
(higher is better). Because the scorer runs the participant's code, any failure a real
environment's participant code can cause (a hang, a crash, a memory blow-up, a wrong
type) can be produced here in a test, in a real scorer process, in a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

from environments.base import Environment, Resources, ScaleConfig, ScoreResult

_HERE = Path(__file__).resolve().parent


class SelfTest(Environment):
    id = "selftest"
    title = "Harness self-test: return a number"
    aggregation = "max"
    score_visible = True
    resources = Resources(cpus=1, gpus=0, memory_gb=1)
    scales = {
        "cpu": ScaleConfig("cpu", score_timeout_s=5, memory_limit_mb=400),
        "gpu": ScaleConfig("gpu", score_timeout_s=5, memory_limit_mb=400),
    }

    def instructions(self, scale: str) -> str:
        return (_HERE / "instructions.md").read_text()

    def prepare(self, workspace: Path, private: Path, scale: str) -> None:
        shutil.copy(_HERE / "start" / "solution.py", workspace / "solution.py")
        (private / "secret.json").write_text(json.dumps({"held_out": 42}))

    def install_reference(self, workspace: Path, scale: str) -> None:
        shutil.copy(_HERE / "reference" / "solution.py", workspace / "solution.py")

    def score(self, workspace: Path, private: Path, scale: str) -> ScoreResult:
        json.loads((private / "secret.json").read_text())  # the scorer can read private state
        spec = importlib.util.spec_from_file_location("solution", workspace / "solution.py")
        if spec is None or spec.loader is None:
            return ScoreResult.invalid("solution.py not found")
        module = importlib.util.module_from_spec(spec)
        sys.modules["solution"] = module
        spec.loader.exec_module(module)
        value = module.answer()
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return ScoreResult.invalid(f"answer() returned {value!r}, not a finite number")
        # A hidden-score environment's message must not give the score away.
        message = {"answer": value} if self.score_visible else {"result": "valid answer"}
        return ScoreResult(float(value), message, {"secret_checked": True, "answer": value})


class SelfTestHidden(SelfTest):
    """The same, with the score hidden from the participant (as RE-Bench's scaling-law task)."""

    id = "selftest_hidden"
    title = "Harness self-test, hidden score"
    score_visible = False

    def instructions(self, scale: str) -> str:
        return super().instructions(scale) + "\nThe score is hidden: scoring tells only whether it was valid.\n"
