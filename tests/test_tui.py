"""The TUI under Textual's Pilot, against a real daemon and the seconds-long selftest environment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from conftest import GatedAnswer
from textual.widgets import DataTable, Markdown, Static, TabbedContent

from rebench_tui.app import RebenchApp
from rebench_tui.screens.modals import ChoiceModal, ConfirmWordModal, ReasonModal
from rebench_tui.tui_client import SessionClient
from rebench_tui.widgets.clock import ClockBar
from rebench_tui.widgets.plot import ScorePlot
from session.session import Session


def new_session(home: Path, solution: str = "def answer():\n    return 0.5\n") -> str:
    with Session.create(home, "selftest", kind="human", budget_s=3600, hold=False) as s:
        (s.workspace / "solution.py").write_text(solution)
        return s.id


async def until(pilot, predicate: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the TUI"
        await pilot.pause(0.05)
    await pilot.pause()  # let the screen lay out what it just got


async def click(pilot, selector: str) -> None:
    assert await pilot.click(selector), f"could not click {selector}"


@asynccontextmanager
async def tui(
    home: Path, sid: str, size: tuple[int, int] = (100, 32), **kwargs: Any
) -> AsyncIterator[tuple[RebenchApp, Any]]:
    app = RebenchApp(SessionClient(home, sid), **kwargs)
    async with app.run_test(size=size) as pilot:
        await until(pilot, app.connected.is_set)
        yield app, pilot


async def resume(app: RebenchApp, pilot) -> None:
    await pilot.press("p")
    await until(pilot, lambda: isinstance(app.screen, ReasonModal))
    await pilot.press("enter")
    await until(pilot, lambda: (app.query_one(ClockBar).state or {}).get("running"))


def recorded(home: Path, sid: str) -> Session:
    return Session.open(home, sid, hold=False)


async def test_score_key_records_a_score_and_updates_table_and_plot(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("s")
        table = app.query_one("#score-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert "0.500" in str(app.query_one("#last-score", Static).render())
        assert app.query_one(ScorePlot).points == [(app.query_one(ScorePlot).points[0][0], 0.5)]
        assert "0.500" in str(app.query_one("#best-score", Static).render())
    with recorded(home, sid) as s:
        assert [r["raw"] for r in s.recorder.scores()] == [0.5]
        assert any(e["client"] == "unix:rebench-tui" and e["name"] == "score" for e in s.recorder.events("tool"))


async def test_pause_hides_instructions_and_stops_the_clock(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "instructions"
        assert app.query_one("#instructions-hidden", Static).display  # not started = paused
        await resume(app, pilot)
        view = app.query_one("#instructions-view", Markdown)
        await until(pilot, lambda: view.display and app._instructions_loaded)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*"lunch", "enter")
        clock = app.query_one(ClockBar)
        await until(pilot, lambda: clock.state and not clock.state["running"])
        assert clock.state["paused_reason"] == "lunch"
        assert not view.display and app.query_one("#instructions-hidden", Static).display
        frozen = clock.current()["working_s"]
        await pilot.pause(1.2)
        assert clock.current()["working_s"] == frozen
    with recorded(home, sid) as s:
        assert s.clock().paused_reason == "lunch"


async def test_submit_asks_for_the_word_then_ends_the_session(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmWordModal))
        await pilot.press(*"submit", "enter")
        clock = app.query_one(ClockBar)
        await until(pilot, lambda: clock.state and clock.state["ended"])
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal) and app.screen.title_text == "Session over")
    with recorded(home, sid) as s:
        assert s.recorder.session()["end_reason"] == "submitted"


async def test_tui_stays_responsive_while_a_slow_scorer_runs(home: Path) -> None:
    # The scorer answers only once the test lets it (selftest's limit is 5 s): key presses that
    # waited for it would find it timed out, neither busy nor scored. No wall-clock bound: under a
    # heavy load three presses alone have taken 1.8 s and more.
    with GatedAnswer(0.25) as gated:
        sid = new_session(home, gated.solution)
        async with tui(home, sid, sample_resources=False) as (app, pilot):
            await resume(app, pilot)
            await pilot.press("s")
            panel = app.query_one("#score-panel")
            await until(pilot, lambda: panel.busy)
            await pilot.press("3")
            assert app.query_one(TabbedContent).active == "snapshots"
            await pilot.press("s")  # a second scoring is refused while one runs
            await pilot.press("1")
            assert panel.busy, "key presses waited for the scorer"
            await until(pilot, lambda: "scoring…" in str(app.query_one("#last-score", Static).render()))
            gated.open()
            await until(pilot, lambda: not panel.busy, timeout=30)
    with recorded(home, sid) as s:
        assert [r["raw"] for r in s.recorder.scores()] == [0.25]


async def test_shell_key_runs_in_the_workspace_and_the_cast_is_recorded(home: Path) -> None:
    sid = new_session(home)
    command = ["bash", "-c", "echo shell-was-here > made.txt; echo visible output; echo $REBENCH_SESSION"]
    async with tui(home, sid, sample_resources=False, shell_command=command) as (app, pilot):
        await pilot.press("x")  # refused while paused
        await pilot.pause(0.3)
        with recorded(home, sid) as s:
            assert s.recorder.casts() == []
        await resume(app, pilot)
        await pilot.press("x")
        await until(pilot, lambda: recorded_casts(home, sid))
    with recorded(home, sid) as s:
        assert (s.workspace / "made.txt").read_text() == "shell-was-here\n"
        (cast,) = s.recorder.casts()
        lines = cast["cast"].splitlines()
        header = json.loads(lines[0])
        assert header["version"] == 2 and header["width"] == 80
        output = "".join(json.loads(line)[2] for line in lines[1:] if json.loads(line)[1] == "o")
        assert "visible output" in output and sid in output
        started, ended = s.recorder.events("shell")  # a cast event when it starts, and when it ends
        assert started["name"] == "cast_started" and ended["name"] == "cast"
        assert ended["result"]["cast_id"] == cast["id"] and ended["result"]["cut_off"] is False


def recorded_casts(home: Path, sid: str) -> list:
    with recorded(home, sid) as s:
        return s.recorder.casts()


async def test_resources_panel_renders_without_a_gpu(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid) as (app, pilot):
        await pilot.press("4")
        cpu = app.query_one("#res-cpu", Static)
        await until(pilot, lambda: "CPU" in str(cpu.render()))
        gpu_text = str(app.query_one("#res-gpu", Static).render())
        assert gpu_text.startswith("no GPU") or "GPU0" in gpu_text
        assert "workspace" in str(app.query_one("#res-disk", Static).render())


async def test_idle_prompt_offers_to_pause(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, sample_resources=False, idle_after_s=1.5) as (app, pilot):
        await resume(app, pilot)
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal) and app.screen.title_text == "Still there?")
        await click(pilot, "#pause")
        clock = app.query_one(ClockBar)
        await until(pilot, lambda: clock.state and clock.state["paused_reason"] == "idle")


async def test_quit_asks_whether_to_pause_and_the_session_goes_on(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await click(pilot, "#pause")
        await until(pilot, lambda: not app.is_running, timeout=10)
    await asyncio.sleep(0.2)
    with recorded(home, sid) as s:
        state = s.clock()
        assert not state.ended and state.paused_reason == "left the TUI"


async def test_command_palette_and_help_list_every_action(home: Path) -> None:
    from rebench_tui.keys import KEYS
    from rebench_tui.screens.modals import HelpScreen

    sid = new_session(home)
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {k.title for k in KEYS} <= titles
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_text = " ".join(str(app.screen.query_one("#help-text", Static).render()).split())
        assert all(k.help in help_text for k in KEYS)


async def test_hidden_score_environment_shows_validity_only(home: Path) -> None:
    with Session.create(home, "selftest_hidden", kind="human", budget_s=3600, hold=False) as s:
        (s.workspace / "solution.py").write_text("def answer():\n    return 0.7\n")
        sid = s.id
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("s")
        table = app.query_one("#score-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        headers = [str(c.label) for c in table.columns.values()]
        assert headers == ["#", "at", "valid", "message"]
        last = str(app.query_one("#last-score", Static).render())
        assert "valid" in last and "0.7" not in last
        assert "hidden" in str(app.query_one("#best-score", Static).render())
        assert not app.query_one(ScorePlot).display


async def test_the_resources_tab_shows_the_profile_and_what_is_not_enforced(home: Path) -> None:
    with Session.create(home, "selftest", kind="human", budget_s=3600, hold=False, isolation=False) as s:
        sid = s.id
    async with tui(home, sid, sample_resources=False) as (app, pilot):
        await pilot.press("4")
        text = str(app.query_one("#res-isolation", Static).render())
        assert "NOT isolated" in text and "user: not enforced (turned off by the operator)" in text
        assert "memory: not enforced" in text and "gpus: CUDA_VISIBLE_DEVICES=" in text
