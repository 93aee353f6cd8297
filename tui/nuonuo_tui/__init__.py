"""nuonuo's chat TUI (Textual): ``nuonuo chat``. See docs/tui.md."""

from __future__ import annotations


def run(home=None) -> None:
    """Start the chat TUI; imports Textual only when called."""
    from nuonuo_tui.app import run as run_app

    run_app(home)
