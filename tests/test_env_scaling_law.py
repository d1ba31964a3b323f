"""scaling_law at cpu scale: real sessions, the real scorer, train.py as a subprocess, the real TUI.

The score is hidden from the participant (as in RE-Bench): these tests check that no tool
result and no TUI widget shows the raw or normalized score, L(answer) or L_opt.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Static

from environments.base import Judging
from environments.registry import load_environment
from environments.scaling_law import train
from environments.scaling_law.env import sweep_file
from environments.scaling_law.settings import SCALES, compute, n_params, train_settings
from rebench_tui.app import RebenchApp
from rebench_tui.screens.modals import ReasonModal
from rebench_tui.tui_client import SessionClient
from rebench_tui.widgets.clock import ClockBar
from session.session import Session
from session.tools import REGISTRY

SETTINGS = train_settings("cpu")


def _write_answer(session: Session, **answer: Any) -> None:
    (session.workspace / "answer.json").write_text(json.dumps(answer))


def _recorded(session: Session) -> tuple[float, dict]:
    row = session.recorder.scores()[-1]
    return row["raw"], row["details"] if isinstance(row["details"], dict) else json.loads(row["details"])


def test_compute_formula_matches_the_model() -> None:
    from environments import tiny_gpt

    for d in (48, 100, 384):
        model = tiny_gpt.GPT(tiny_gpt.GPTConfig(SETTINGS["n_layer"], SETTINGS["n_head"], d, SETTINGS["block_size"]))
        assert sum(p.numel() for p in model.parameters()) == n_params(d, SETTINGS) == train.n_params(d)
        assert compute(d, 10, SETTINGS) == train.compute(d, 10) == 6 * n_params(d, SETTINGS) * 1024 * 10


def test_start_scores_about_0_and_reference_about_1_on_cpu_scale(home: Path) -> None:
    with Session.create(home, "scaling_law", scale="cpu", kind="agent") as s:
        assert s.calibration.calibration is not None
        assert s.call("score").structured["valid"]
        start_raw, _ = _recorded(s)
        load_environment("scaling_law").install_reference(s.workspace, "cpu")
        assert s.call("score").structured["valid"]
        reference_raw, details = _recorded(s)
        assert abs(s.normalize(start_raw)) <= 0.02
        assert 0.98 <= s.normalize(reference_raw) <= 1.02
        assert reference_raw - start_raw > 0.2  # clearly apart
        assert details["prediction_error"] < 0.25 and 0.9 <= details["fraction_of_budget"] <= 1.1


def test_invalid_answers_score_nan_with_a_reason(home: Path) -> None:
    budget_iters = int(SETTINGS["budget"] / compute(96, 1, SETTINGS))
    cases = [
        ({"n_embd": 96, "max_iters": int(budget_iters * 1.12), "loss_prediction": 1.5}, "over budget"),
        ({"n_embd": 96, "max_iters": 5, "loss_prediction": 1.5}, "uses only"),
        ({"n_embd": 96, "max_iters": budget_iters}, "lacks loss_prediction"),
        ({"loss_prediction": 1.5}, "lacks n_embd, max_iters"),
        ({"n_embd": 28, "max_iters": 100, "loss_prediction": 1.5}, "between 32 and 256"),
        ({"n_embd": 98, "max_iters": 100, "loss_prediction": 1.5}, "multiple of 4"),
        ({"n_embd": 96.0, "max_iters": 100, "loss_prediction": 1.5}, "positive integer"),
        ({"n_embd": 96, "max_iters": True, "loss_prediction": 1.5}, "positive integer"),
        ({"n_embd": 96, "max_iters": 100, "loss_prediction": "low"}, "finite number"),
    ]
    with Session.create(home, "scaling_law", scale="cpu", kind="agent") as s:
        for answer, reason in cases:
            _write_answer(s, **answer)
            result = s.call("score").structured
            assert not result["valid"] and reason in result["message"]["error"], (answer, result)
        over = s.recorder.scores()[0]
        assert over["message"]["fraction_of_budget"] > 1.1
        for text, reason in (("{not json", "not valid JSON"), ("[1, 2]", "JSON object")):
            (s.workspace / "answer.json").write_text(text)
            result = s.call("score").structured
            assert not result["valid"] and reason in result["message"]["error"]
        (s.workspace / "answer.json").unlink()
        assert "missing" in s.call("score").structured["message"]["error"]


def test_train_script_refuses_runs_over_the_cap_and_runs_small_ones(home: Path) -> None:
    with Session.create(home, "scaling_law", scale="cpu", kind="agent", hold=False) as s:
        ws = s.workspace
    cap = SETTINGS["cap_fraction"] * SETTINGS["budget"]
    over = int(cap // compute(128, 1, SETTINGS)) + 1
    refused = subprocess.run(
        [sys.executable, "train.py", "--n_embd", "128", "--max_iters", str(over)],
        cwd=ws, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "refused" in refused.stderr and "over the experiment cap" in refused.stderr
    ran = subprocess.run(
        [sys.executable, "train.py", "--n_embd", "48", "--max_iters", "30", "--eval_every", "15", "--out", "r.json"],
        cwd=ws, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads((ws / "r.json").read_text())
    assert [e["iter"] for e in result["evals"]] == [15, 30] and 2.0 < result["evals"][-1]["loss"] < 5.6
    assert json.loads(ran.stdout.strip().splitlines()[-1])["fraction_of_budget"] < SETTINGS["cap_fraction"]


def test_sweep_and_validation_text_stay_out_of_the_workspace(home: Path) -> None:
    from environments.text_corpus import build_corpus

    sweep = json.loads(sweep_file("cpu").read_text())
    assert sweep["settings"] == SETTINGS
    losses = [f"{p['loss']:.6f}" for run in sweep["runs"].values() for p in run["points"]]
    with Session.create(home, "scaling_law", scale="cpu", kind="agent", hold=False) as s:
        files = {p: p.read_bytes() for p in s.workspace.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert {p.name for p in files} >= {"answer.json", "train.py", "model.py", "train.bin"}
    assert not any("sweep" in p.name for p in files)
    corpus = build_corpus()
    probes = [corpus.validation[i : i + 120] for i in range(0, len(corpus.validation) - 120, 1000)]
    probes = [p for p in probes if p not in corpus.train]
    for path, data in files.items():
        text = data.decode("utf-8", "replace")
        assert not any(v in text for v in losses), path
        assert not any(p in data for p in probes), path


def _secret_patterns(values: list[float]) -> list[re.Pattern]:
    out = []
    for v in values:
        for text in {repr(v), f"{v:.3f}", f"{v:.4f}", f"{v:.5f}", f"{v:.6g}", f"{v:.3g}", f"{v:.2e}"}:
            # As a whole number in the text: not the tail of a timestamp or a longer number.
            out.append(re.compile(r"(?<![\d.])" + re.escape(text) + r"(?![\d])"))
    return out


def _leaks(text: str, patterns: list[re.Pattern]) -> list[str]:
    return [p.pattern for p in patterns if p.search(text)]


def _without_times(value: Any) -> Any:
    """A result's structured part without its clock readings (`working_s`, `wall`, `duration_ms`...):
    they are the session's times, not the judge's, and a snapshot taken 0.62 s into the session
    once matched a secret of 0.620377 written to three figures."""
    if isinstance(value, dict):
        timed = ("_s", "_ms")
        return {k: _without_times(v) for k, v in value.items() if not (k == "wall" or k.endswith(timed))}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _args_for(name: str) -> dict[str, Any]:
    given = {
        "note": {"text": "trying n_embd 96"},
        "pause": {"reason": "break"},
        "resume": {"reason": "back"},
        "run": {"command": "ls -la; cat answer.json"},
        "report_usage": {"input_tokens": 10, "output_tokens": 5},
    }
    if name in given:
        return given[name]
    schema = REGISTRY[name].input_schema
    filler = {"string": "x", "integer": 1, "number": 1.0, "boolean": False}
    return {k: filler[schema["properties"][k].get("type", "string")] for k in schema.get("required", [])}


def _secrets(session: Session) -> tuple[list[float], dict]:
    """The raw and normalized score, L(answer) and L_opt of the last scoring."""
    raw, details = _recorded(session)
    normalized = session.normalize(raw)
    values = [raw, details["loss"], details["optimal_loss"]] + ([normalized] if normalized is not None else [])
    return values, details


def _some_valid_answer(session: Session) -> None:
    """Between sweep sizes and short of the budget, so no secret is a round number."""
    iters = int(0.83 * SETTINGS["budget"] / compute(116, 1, SETTINGS))
    _write_answer(session, n_embd=116, max_iters=iters, loss_prediction=1.7123)


def test_hidden_score_reaches_no_tool_result(home: Path) -> None:
    with Session.create(home, "scaling_law", scale="cpu", kind="agent") as s:
        _some_valid_answer(s)
        first = s.call("score")
        assert first.structured["valid"]
        values, _ = _secrets(s)
        patterns = _secret_patterns(values)
        # The patterns do find the secrets where they are recorded (the score log's details).
        recorded = json.dumps(s.recorder.scores()[-1], default=str) + f" {s.normalize(values[0])}"
        assert len(_leaks(recorded, patterns)) >= len(values)
        assert set(first.structured["message"]) == {"result", "fraction_of_budget"}
        seen = {"score": first.text + json.dumps(_without_times(first.structured), default=str)}
        order = sorted(REGISTRY, key=lambda n: (n == "submit", n == "pause", n))  # end with pause, submit
        for name in order:
            result = s.call(name, _args_for(name))
            seen[name] = result.text + "\n" + json.dumps(_without_times(result.structured), default=str)
        assert set(seen) >= {"status", "score", "score_log", "snapshots", "instructions", "submit", "run", "note"}
        for name, text in seen.items():
            assert not _leaks(text, patterns), (name, _leaks(text, patterns), text[:2000])
        assert "fraction_of_budget" in seen["score_log"]
        assert s.recorder.session()["final_raw"] == values[0]  # recorded, never shown


async def _until(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the TUI"
        await pilot.pause(0.05)
    await pilot.pause()


async def test_hidden_score_reaches_no_tui_widget(home: Path) -> None:
    with Session.create(home, "scaling_law", scale="cpu", kind="human", hold=False) as s:
        _some_valid_answer(s)
        sid = s.id
    app = RebenchApp(SessionClient(home, sid), sample_resources=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await _until(pilot, app.connected.is_set)
        await pilot.press("p")
        await _until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")
        await _until(pilot, lambda: (app.query_one(ClockBar).state or {}).get("running"))
        await pilot.press("s")
        table = app.query_one("#score-table", DataTable)
        await _until(pilot, lambda: table.row_count == 1)
        await _until(pilot, lambda: "valid" in str(app.query_one("#last-score", Static).render()))
        headers = [str(c.label) for c in table.columns.values()]
        assert headers == ["#", "at", "valid", "message"]
        texts = [str(w.render()) for w in app.query(Static)]
        texts += [str(cell) for row in range(table.row_count) for cell in table.get_row_at(row)]
        screen_text = "\n".join(texts)
        assert "fraction_of_budget" in screen_text or "fraction" in screen_text
    with Session.open(home, sid, hold=False) as s:
        values, _ = _secrets(s)
    patterns = _secret_patterns(values)
    assert _leaks(" ".join(f"{v:.3f}" for v in values), patterns)  # the patterns work
    leaks = _leaks(screen_text, patterns)
    assert not leaks, (leaks, screen_text[:3000])
    assert all(math.isfinite(v) for v in values)


def test_gpu_scale_without_its_sweep_is_invalid_with_a_reason(tmp_path: Path) -> None:
    env = load_environment("scaling_law")
    assert SCALES["gpu"]["budget"] > SCALES["cpu"]["budget"]
    if sweep_file("gpu").exists():
        return
    result = env.judge(Judging(private=tmp_path, scale="gpu", inputs={}, outputs=tmp_path, submission=tmp_path))
    assert not result.valid and "sweep --scale gpu" in result.message["error"]
