"""Small dialogs: a reason, a note, a yes/no question, a choice, a message."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, TextArea

from rebench_tui.keys import KEYS, key_label


class ReasonModal(ModalScreen[str | None]):
    """Asks for a reason (pausing and resuming are recorded with one)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str, default: str = "") -> None:
        super().__init__()
        self.title_text, self.placeholder, self.default = title, placeholder, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(value=self.default, placeholder=self.placeholder, id="reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._done()
        else:
            self.dismiss(None)

    def _done(self) -> None:
        reason = self.query_one(Input).value.strip()
        if reason:
            self.dismiss(reason)
        else:
            self.notify("a reason is required", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Note (ctrl+s saves, escape cancels)", classes="dialog-title")
            yield TextArea(id="note-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        text = self.query_one(TextArea).text.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceModal(ModalScreen[str | None]):
    """A question with labelled answers; dismisses with the chosen answer's id."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text, self.body, self.choices = title, body, choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            yield Markdown(self.body)
            with Horizontal(classes="dialog-buttons"):
                for choice_id, label, variant in self.choices:
                    yield Button(label, id=choice_id, variant=variant)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MessageModal(ChoiceModal):
    def __init__(self, title: str, body: str) -> None:
        super().__init__(title, body, [("ok", "OK", "primary")])


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        rows = "\n".join(f"| `{key_label(k.key)}` | {k.help} |" for k in KEYS)
        body = (
            "# Keys\n\n| key | what it does |\n|---|---|\n"
            + rows
            + "\n| `ctrl+p` | command palette (every action) |\n\n"
            "The clock counts working time; pause it for breaks. Quitting the TUI does not end the session."
        )
        with Vertical(classes="dialog wide"):
            yield Markdown(body)
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def confirm_choices(yes: str, no: str = "Cancel") -> list[tuple[str, str, str]]:
    return [("yes", yes, "error"), ("no", no, "default")]


__all__: list[Any] = ["ChoiceModal", "HelpScreen", "MessageModal", "NoteModal", "ReasonModal", "confirm_choices"]
