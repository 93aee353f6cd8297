"""Chat messages: one Markdown body each; the assistant's reply streams into it through
``Markdown.get_stream`` (fragments are batched, never a full re-render per token)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

ROLE_TITLES = {"user": "you", "assistant": "assistant", "system": "nuonuo", "error": "error"}


class ChatMessage(Vertical):
    """A message with a role label and a Markdown body; ``note`` is a small status after the label
    (e.g. "queued", "stopped")."""

    def __init__(self, role: str, text: str = "", note: str = "") -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.text = text
        self._note = note
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._label(), classes="role")
        yield Markdown(self.text, classes="body")

    def _label(self) -> str:
        title = ROLE_TITLES.get(self.role, self.role)
        return f"{title}  [dim]{self._note}[/dim]" if self._note else title

    @property
    def body(self) -> Markdown:
        return self.query_one(".body", Markdown)

    def set_note(self, note: str) -> None:
        self._note = note
        self.query_one(".role", Static).update(self._label())

    async def write(self, fragment: str) -> None:
        """Append a streamed fragment."""
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        self.text += fragment
        await self._stream.write(fragment)

    async def finish(self, final_text: str | None = None) -> None:
        """Stop the stream; if the loop's final text differs from what streamed, show the final."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if final_text is not None and final_text != self.text:
            self.text = final_text
            await self.body.update(final_text)
