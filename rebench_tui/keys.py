"""One table of keys: the bindings, the footer, the help screen and the command palette."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    key: str
    action: str
    title: str
    help: str
    show: bool = True


KEYS: tuple[Key, ...] = (
    Key("s", "score", "Score", "Score the workspace now (a snapshot is taken first)"),
    Key("p", "toggle_pause", "Pause/Resume", "Pause or resume the clock, with a reason"),
    Key("n", "note", "Note", "Write a note; it is recorded with the time"),
    Key("t", "snapshot", "Snapshot", "Take a snapshot of the workspace now"),
    Key("x", "shell", "Shell", "Open a shell in the workspace (recorded); exit it to come back"),
    Key("u", "submit", "Submit", "End the session and submit (asks first)"),
    Key("1", "tab('score')", "Score tab", "Show the score log and plot", show=False),
    Key("2", "tab('instructions')", "Instructions", "Show the instructions (only while the clock runs)", show=False),
    Key("3", "tab('snapshots')", "Snapshots tab", "Show the snapshots", show=False),
    Key("4", "tab('resources')", "Resources tab", "Show CPU, RAM, disk and GPU use", show=False),
    Key("question_mark", "help", "Help", "Show this help"),
    Key("q", "quit", "Quit", "Leave the TUI (the session goes on; asks whether to pause first)"),
)


def bindings() -> list[Binding]:
    return [Binding(k.key, k.action, k.title, show=k.show) for k in KEYS]


def key_label(key: str) -> str:
    return {"question_mark": "?"}.get(key, key)
