"""The TUI at 80x24 from the keyboard alone: safe defaults, scrolling, help, footer, words, tabs.

Each test drives the real app (Textual's Pilot) against a real session daemon on a temporary
home, and checks what the screen shows and what the recording says after the keys.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_tui import new_session, recorded, resume, tui, until
from textual import events
from textual.containers import VerticalScroll
from textual.pilot import _get_mouse_message_arguments
from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from rebench_tui.keys import KEYS
from rebench_tui.score_words import below_start
from rebench_tui.screens.modals import ChoiceModal, ConfirmWordModal, HelpScreen, NoteModal, ReasonModal
from rebench_tui.snapshot_view import SnapshotScreen
from rebench_tui.widgets.clock import ClockBar
from rebench_tui.widgets.plot import ScorePlot
from session.client import DaemonClient, ensure_daemon
from session.session import Session

SMALL = (80, 24)


def text_of(widget) -> str:
    return str(widget.render())


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def call_as_another_client(home: Path, sid: str, tool: str, **arguments) -> dict:
    """A tool call from outside the TUI (as `rebench-tui call` from a shell would make it)."""
    with DaemonClient(ensure_daemon(home, sid), timeout_s=60) as rpc:
        rpc.initialize("another client")
        return rpc.call_tool(tool, arguments)


def on_screen(widget, size: tuple[int, int] = SMALL) -> bool:
    region = widget.region
    return region.width > 0 and region.x >= 0 and region.y >= 0 and region.right <= size[0] and region.bottom <= size[1]


# -- destructive actions default to Cancel ------------------------------------------------------
async def test_submit_then_enter_cancels_and_only_the_typed_word_submits(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("u", "enter")  # the accident of the issue: it must not submit
        await until(pilot, lambda: not isinstance(app.screen, ConfirmWordModal))
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmWordModal))
        await pilot.press(*"sub", "enter")  # a wrong word is refused, the dialog stays
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmWordModal)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmWordModal))
        with recorded(home, sid) as s:
            assert s.recorder.session()["ended_at"] is None
            assert not [e for e in s.recorder.events("tool") if e["name"] == "submit"]
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmWordModal))
        await pilot.press(*"submit", "enter")
        clock = app.query_one(ClockBar)
        await until(pilot, lambda: clock.state and clock.state["ended"])
    with recorded(home, sid) as s:
        assert s.recorder.session()["end_reason"] == "submitted"


async def test_quit_dialog_starts_on_stay_and_arrows_reach_pause_and_quit(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal))
        assert app.focused.id == "cancel"
        await pilot.press("enter")  # Stay
        await until(pilot, lambda: not isinstance(app.screen, ChoiceModal))
        assert app.is_running and app.query_one(ClockBar).state["running"]
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await pilot.press("right")
        assert app.focused.id == "pause"
        await pilot.press("enter")
        await until(pilot, lambda: not app.is_running, timeout=10)
    await asyncio.sleep(0.2)
    with recorded(home, sid) as s:
        assert s.clock().paused_reason == "left the TUI"


async def test_idle_prompt_starts_on_keep_working(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False, idle_after_s=1.5) as (app, pilot):
        await resume(app, pilot)
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal) and app.screen.title_text == "Still there?")
        assert app.focused.id == "keep"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ChoiceModal))
        assert app.query_one(ClockBar).state["running"]
    with recorded(home, sid) as s:
        assert s.clock().running


# -- keyboard scrolling counts as activity --------------------------------------------------------
async def test_instructions_scroll_with_keys_and_reading_keeps_the_idle_prompt_away(home: Path) -> None:
    with Session.create(home, "prefix_sum", kind="human", budget_s=3600, hold=False) as s:  # long instructions
        sid = s.id
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("2")
        scroll = app.query_one("#instructions-scroll", VerticalScroll)
        await until(pilot, lambda: app._instructions_loaded and scroll.max_scroll_y > 0)
        assert app.focused is scroll
        # Each key press and wheel turn must count as activity. A prompt timed against the presses
        # would test the machine's speed too (under load one press has taken over a second).
        app.idle_after_s = 60.0
        for _ in range(6):
            before = app.last_activity
            await pilot.press("down")
            await pilot.pause(0.02)
            assert app.last_activity > before, "a key press while reading did not count as activity"
        assert scroll.scroll_y > 0
        await pilot.press("pagedown")
        await until(pilot, lambda: scroll.scroll_y >= min(scroll.max_scroll_y, 10))
        await pilot.press("home")
        await until(pilot, lambda: scroll.scroll_y == 0)
        # The mouse wheel counts too (posted to the app as the terminal driver posts it).
        for _ in range(6):
            before = app.last_activity
            app.post_message(events.MouseScrollDown(**_get_mouse_message_arguments(scroll, (5, 5))))
            await until(pilot, lambda before=before: app.last_activity > before)
        assert not isinstance(app.screen, ChoiceModal)
        app.idle_after_s = 2.0
        await until(pilot, lambda: isinstance(app.screen, ChoiceModal), timeout=10)  # and idleness still counts


# -- help, footer, clock bar --------------------------------------------------------------------------
async def test_help_fits_80x24_scrolls_and_shows_its_close_key(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        screen = app.screen
        assert on_screen(screen.query_one("#help-dialog"))
        close = screen.query_one("#close")
        assert on_screen(close) and "esc" in str(close.label)
        assert "esc" in text_of(screen.query_one(".dialog-title"))
        scroll = screen.query_one("#help-scroll", VerticalScroll)
        assert app.focused is scroll and scroll.max_scroll_y > 0  # more than a screenful, so it scrolls
        await pilot.press("pagedown")
        await until(pilot, lambda: scroll.scroll_y > 0)
        await pilot.press("end")
        await until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        help_text = " ".join(text_of(screen.query_one("#help-text")).split())
        assert all(k.help in help_text for k in KEYS)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_footer_keeps_help_and_quit_at_80_columns_and_narrower(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        for width in (80, 60):
            await pilot.resize_terminal(width, 24)
            await pilot.pause(0.3)
            keys = {k.action: k for k in app.screen.query(FooterKey)}
            for action in ("help", "quit"):
                key = keys[action]
                assert on_screen(key, (width, 24)) and key.region.y == 23, f"{action} is off screen at {width}"
            assert keys["help"].region.right <= keys["quit"].region.x  # side by side, Quit at the edge
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        shown = {k.action for k in app.screen.query(FooterKey) if on_screen(k)}
        assert {"score", "toggle_pause", "help", "quit"} <= shown


async def test_clock_bar_says_how_to_start_and_to_resume(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        clock = app.query_one(ClockBar)
        assert "PAUSED (not started)" in text_of(clock) and "press p to start the clock" in text_of(clock)
        await pilot.press("2")
        assert "press p to start" in text_of(app.query_one("#instructions-hidden", Static))
        await resume(app, pilot)
        assert "RUNNING" in text_of(clock) and "left" in text_of(clock)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*"lunch", "enter")
        await until(pilot, lambda: not clock.state["running"])
        assert "PAUSED (lunch)" in text_of(clock) and "p resumes" in text_of(clock)
        assert "press p to resume" in text_of(app.query_one("#instructions-hidden", Static))
        assert len(text_of(clock)) <= 80


# -- words that do not go stale ------------------------------------------------------------------
async def test_a_refusal_clears_once_the_clock_runs(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        last = app.query_one("#last-score", Static)
        await pilot.press("s")  # refused: the clock has not started
        await until(pilot, lambda: "paused" in text_of(last) or "not started" in text_of(last))
        await resume(app, pilot)
        await until(pilot, lambda: text_of(last) == "no score yet")


async def test_scoring_shows_progress_not_press_s_then_a_toast(home: Path) -> None:
    sid = new_session(home, "import time\ndef answer():\n    time.sleep(2)\n    return 0.25\n")
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        plot = app.query_one(ScorePlot)
        assert "press s to score" in text_of(plot)
        await pilot.press("s")
        await until(pilot, lambda: app.score_panel.busy)
        assert "press s" not in text_of(plot) and "scoring" in text_of(plot)
        await until(pilot, lambda: any("score finished: 0.250" in t for t in toasts(app)), timeout=30)
        # A score from another client (a shell's `rebench-tui call`) gets its toast too, once.
        (Path(app.status["workspace"]) / "solution.py").write_text("def answer():\n    return 0.75\n")
        await asyncio.to_thread(call_as_another_client, home, sid, "score")
        await until(pilot, lambda: any("score finished: 0.750" in t for t in toasts(app)), timeout=30)
        await pilot.pause(0.5)
        assert sum("score finished" in t for t in toasts(app)) == 2


async def test_a_valid_score_below_the_calibrated_start_is_said_in_words(home: Path) -> None:
    sid = new_session(home, "def answer():\n    return -0.5\n")  # selftest: start 0, reference 1
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        await pilot.press("s")
        table = app.query_one("#score-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        last = text_of(app.query_one("#last-score", Static))
        assert "0.000" in last and "below the calibrated start" in last and "start solution's 0.0000" in last
        assert "below the calibrated start" in text_of(app.query_one("#best-score", Static))
        assert "<start" in str(table.get_row_at(0)[3])


def test_below_start_words_for_a_timed_score() -> None:
    # prefix_sum's cpu calibration; raw = ln(ms): 2x slower than the start.
    calibration = {"start": 5.4199, "reference": 2.8202, "log_time": True}
    words = below_start(5.4199 + 0.6931, calibration)
    assert words is not None and "0.50x speedup against the start solution" in words and "2.00x faster" in words
    assert below_start(5.0, calibration) is None  # faster than the start: normalized above 0
    assert below_start(0.3, {"start": 0.36, "reference": 0.66, "log_time": False}).endswith(
        "(higher is better; the reference's is 0.6600)"
    )
    assert below_start(None, calibration) is None and below_start(6.0, None) is None


# -- notes, snapshots ----------------------------------------------------------------------------
async def test_notes_tab_lists_notes_from_the_keyboard_and_from_other_clients(home: Path) -> None:
    sid = new_session(home)
    call_as_another_client(home, sid, "note", text="written before the TUI opened")
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        await pilot.press(*"tried a bigger block", "ctrl+s")
        await pilot.press("5")
        notes = app.query_one("#notes-text", Static)
        await until(pilot, lambda: "tried a bigger block" in text_of(notes))
        assert "written before the TUI opened" in text_of(notes)
        assert app.focused is app.query_one("#notes-view")
        await asyncio.to_thread(call_as_another_client, home, sid, "note", text="from the shell")
        await until(pilot, lambda: "from the shell" in text_of(notes))
    with recorded(home, sid) as s:
        assert [n["text"] for n in s.recorder.notes()][-2:] == ["tried a bigger block", "from the shell"]


async def test_snapshot_diff_and_restore_from_the_live_tui(home: Path, tmp_path: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        (Path(app.status["workspace"]) / "solution.py").write_text("def answer():\n    return 0.9\n")
        table = app.snapshot_table
        before = table.row_count
        await pilot.press("t")
        await until(pilot, lambda: table.row_count == before + 1)
        await pilot.press("3")
        assert app.focused is table and table.cursor_row == table.row_count - 1
        await pilot.press("enter")  # enter on a row, or d
        await until(pilot, lambda: isinstance(app.screen, SnapshotScreen))
        view = app.screen.query_one("#snapshot-text", Static)
        await until(pilot, lambda: "+    return 0.9" in text_of(view))
        assert "against the previous snapshot" in text_of(view)
        await pilot.press("d")
        await until(pilot, lambda: "against the start snapshot" in text_of(view))
        dest = tmp_path / "restored"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*str(dest), "enter")
        await until(pilot, lambda: (dest / "solution.py").exists())
        assert "return 0.9" in (dest / "solution.py").read_text()
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SnapshotScreen))
        await pilot.press("d")  # d from the main screen: the selected snapshot
        await until(pilot, lambda: isinstance(app.screen, SnapshotScreen))


async def test_every_tab_is_reachable_and_focused_from_the_keyboard(home: Path) -> None:
    sid = new_session(home)
    async with tui(home, sid, size=SMALL, sample_resources=False) as (app, pilot):
        await resume(app, pilot)
        for key, tab in (("1", "score"), ("2", "instructions"), ("3", "snapshots"), ("4", "resources"), ("5", "notes")):
            await pilot.press(key)
            assert app.tabs.active == tab
        await pilot.press("1")
        assert isinstance(app.focused, DataTable)
        assert not isinstance(app.focused, Input)
