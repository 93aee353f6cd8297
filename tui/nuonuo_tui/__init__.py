"""nuonuo's chat TUI (Textual): ``nuonuo chat``. See docs/tui.md."""

from __future__ import annotations


def run(home=None, session_id=None, **chat_options) -> None:
    """Start the chat TUI; imports Textual only when called. ``chat_options`` override ``[chat]``
    settings (namespace, model_path, max_tokens)."""
    from nuonuo_tui.app import run as run_app

    run_app(home, session_id, **chat_options)
