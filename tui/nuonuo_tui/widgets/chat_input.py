"""The chat input: ↑/↓ walk the history (kept in NUONUO_HOME across runs), Tab completes a
slash command."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.widgets import Input

from nuonuo_tui.commands import SlashSuggester

HISTORY_LIMIT = 500


class ChatInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "older input", show=False),
        Binding("down", "history(1)", "newer input", show=False),
        Binding("tab", "complete", "complete", show=False, priority=True),
    ]

    def __init__(self, history_file: Path | None = None, **kwargs) -> None:
        super().__init__(suggester=SlashSuggester(), **kwargs)
        self.history_file = history_file
        self.history: list[str] = self._load()
        self._cursor = len(self.history)
        self._draft = ""

    def _load(self) -> list[str]:
        if self.history_file is None or not self.history_file.exists():
            return []
        try:
            lines = self.history_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        return [ln.replace("\\n", "\n") for ln in lines if ln][-HISTORY_LIMIT:]

    def remember_line(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
            if self.history_file is not None:
                try:
                    self.history_file.parent.mkdir(parents=True, exist_ok=True)
                    with self.history_file.open("a", encoding="utf-8") as fh:
                        fh.write(line.replace("\n", "\\n") + "\n")
                except OSError:
                    pass  # history is a convenience; never fail a send over it
        self._cursor = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._cursor == len(self.history):
            self._draft = self.value
        self._cursor = max(0, min(len(self.history), self._cursor + step))
        self.value = self._draft if self._cursor == len(self.history) else self.history[self._cursor]
        self.cursor_position = len(self.value)

    async def action_complete(self) -> None:
        if self._suggestion and self.value.startswith("/"):
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            hits = self.screen.query("#recalled-list ListItem")
            if hits:  # Tab jumps to the recalled memories: ↑/↓ pick one, Enter opens it
                self.screen.query_one("#recalled-list").focus()
            else:
                self.screen.focus_next()
