"""Slash commands: the table, parsing, and completion for the chat input."""

from __future__ import annotations

from dataclasses import dataclass

from textual.suggester import Suggester


@dataclass(frozen=True)
class SlashCommand:
    name: str
    args: str
    help: str


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("remember", "TEXT", "store TEXT as a memory"),
    SlashCommand("recall", "QUERY", "show the memories QUERY recalls (side panel)"),
    SlashCommand("forget", "ID", "forget the memory with this id (or id prefix)"),
    SlashCommand("sleep", "", "run sleep consolidation now and show its report"),
    SlashCommand("memories", "", "open the memory browser"),
    SlashCommand("model", "", "show the chat model and context size"),
    SlashCommand("new", "", "start a new chat session"),
    SlashCommand("resume", "[ID]", "list chat sessions, or resume one"),
    SlashCommand("help", "", "show commands and keys"),
    SlashCommand("quit", "", "leave the chat (also /exit; Ctrl+Q)"),
)
BY_NAME = {c.name: c for c in COMMANDS}
ALIASES = {"exit": "quit", "q": "quit"}  # what the line-mode chat (`nuonuo chat --plain`) also takes


@dataclass(frozen=True)
class Parsed:
    name: str
    arg: str


class UnknownCommand(ValueError):
    pass


def parse(line: str) -> Parsed | None:
    """``/name rest`` → Parsed; plain text → None. An unknown name (or a unique prefix) is resolved
    or raises ``UnknownCommand`` with a message that lists the commands."""
    if not line.startswith("/") or line.startswith("//"):
        return None
    head, _, rest = line[1:].partition(" ")
    head = head.lower()
    head = ALIASES.get(head, head)
    if head in BY_NAME:
        return Parsed(head, rest.strip())
    matches = [c.name for c in COMMANDS if c.name.startswith(head)] if head else []
    if len(matches) == 1:
        return Parsed(matches[0], rest.strip())
    known = " ".join("/" + c.name for c in COMMANDS)
    raise UnknownCommand(f"unknown command /{head} — commands: {known}")


def help_markdown() -> str:
    rows = "\n".join(f"| `/{c.name}{' ' + c.args if c.args else ''}` | {c.help} |" for c in COMMANDS)
    return ("| command | what it does |\n|---|---|\n" + rows +
            "\n\nKeys: **Enter** send · **Esc** stop the reply · **↑/↓** input history · "
            "**Tab** complete a command, or jump to the recalled memories (↑/↓, Enter opens one) · **F2** memories · **F3** sleep · **Ctrl+R** recalled panel · "
            "**Ctrl+N** new session · **Ctrl+Q** quit. Start a line with `//` to send a literal `/`.")


class SlashSuggester(Suggester):
    """Completes a command name after ``/`` (case-insensitively)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value.startswith("/") or " " in value:
            return None
        head = value[1:].lower()
        for c in COMMANDS:
            if c.name.startswith(head) and c.name != head:
                return "/" + c.name + (" " if c.args else "")
        return None
