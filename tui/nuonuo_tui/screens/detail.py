"""The memory detail modal: everything about one memory (and why it was recalled), with pin,
edit and forget. It returns a typed ``DetailOutcome``; the caller applies it through the memory API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from nuonuo.records import Hit, MemoryRecord, to_iso
from nuonuo_tui.widgets.recalled import badge

Action = Literal["close", "pin", "edit", "forget"]


@dataclass(frozen=True)
class DetailOutcome:
    action: Action
    memory_id: str
    text: str | None = None  # the new text, for "edit"


def describe(rec: MemoryRecord, hit: Hit | None, chain: list[str] | None = None) -> str:
    rows = [("id", rec.id), ("namespace", rec.namespace)]
    if rec.key:
        rows.append(("key", rec.key))
    rows += [("created", (to_iso(rec.created_at) or "")[:19].replace("T", " ") + " UTC"),
             ("importance", f"{rec.importance:.2f}" + ("  (pinned)" if rec.importance >= 1.0 else "")),
             ("recalled", f"{rec.access_count} time(s)"), ("status", rec.status)]
    if rec.metadata:
        rows.append(("metadata", ", ".join(f"{k}={v}" for k, v in rec.metadata.items())))
    if hit is not None:
        rows.append(("score", f"{hit.score:.3f}"))
        if hit.scores:
            rows.append(("channels", ", ".join(f"{k} {v:.3f}" for k, v in hit.scores.items())))
        if hit.path:
            rows.append(("chain", " → ".join(chain or [p[:8] for p in hit.path])))
    return "\n".join(f"[b]{name:>10}[/b]  {escape(str(value))}" for name, value in rows)


class MemoryDetailScreen(ModalScreen[DetailOutcome]):
    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("p", "pin", "pin"),
        Binding("e", "edit", "edit"),
        Binding("f", "forget", "forget"),
        Binding("ctrl+s", "save", "save edit", show=False),
    ]

    def __init__(self, record: MemoryRecord, hit: Hit | None = None, chain: list[str] | None = None) -> None:
        """``chain``: short texts of the memories on a Hebbian hit's path (ids are shown without it)."""
        super().__init__()
        self.record = record
        self.hit = hit
        self.chain = chain
        self.editing = False
        self.forget_armed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="detail"):
            title = badge(self.hit) if self.hit is not None else ""
            yield Static(title, id="detail-badge")
            with VerticalScroll(id="detail-text-box"):
                yield Static(escape(self.record.text), id="detail-text")
            yield TextArea(self.record.text, id="detail-editor", soft_wrap=True)
            yield Static(describe(self.record, self.hit, self.chain), id="detail-facts")
            yield Static("", id="detail-hint")
            with Horizontal(id="detail-buttons"):
                yield Button("Pin (p)", id="pin", variant="primary")
                yield Button("Edit (e)", id="edit")
                yield Button("Forget (f)", id="forget", variant="error")
                yield Button("Close (Esc)", id="close")

    def on_mount(self) -> None:
        self.query_one("#detail-editor").display = False
        self.query_one("#detail-badge").display = self.hit is not None
        self.query_one("#pin", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "edit" and self.editing:
            self.action_save()
            return
        {"pin": self.action_pin, "edit": self.action_edit, "forget": self.action_forget,
         "close": self.action_close}[event.button.id or "close"]()

    def action_close(self) -> None:
        if self.editing:
            self._stop_editing()
            return
        self.dismiss(DetailOutcome("close", self.record.id))

    def action_pin(self) -> None:
        if not self.editing:
            self.dismiss(DetailOutcome("pin", self.record.id))

    def action_edit(self) -> None:
        if self.editing:
            return
        self.editing = True
        editor = self.query_one("#detail-editor", TextArea)
        self.query_one("#detail-text-box").display = False
        editor.display = True
        editor.focus()
        self.query_one("#edit", Button).label = "Save (Ctrl+S)"
        self.query_one("#detail-hint", Static).update("editing: Ctrl+S saves, Esc cancels")

    def _stop_editing(self) -> None:
        self.editing = False
        self.query_one("#detail-editor").display = False
        self.query_one("#detail-text-box").display = True
        self.query_one("#edit", Button).label = "Edit (e)"
        self.query_one("#detail-hint", Static).update("")

    def action_save(self) -> None:
        if not self.editing:
            return
        text = self.query_one("#detail-editor", TextArea).text
        if not text.strip():
            self.query_one("#detail-hint", Static).update("[red]the text is empty: Esc cancels, or type something[/]")
            return
        self.dismiss(DetailOutcome("edit", self.record.id, text=text))

    def action_forget(self) -> None:
        if self.editing:
            return
        if not self.forget_armed:
            self.forget_armed = True
            self.query_one("#detail-hint", Static).update("[b red]press f again to forget this memory[/]")
            return
        self.dismiss(DetailOutcome("forget", self.record.id))


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; returns True for yes."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
