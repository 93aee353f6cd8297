"""``NuonuoApp``: the chat TUI. It starts at once on the chat screen while a worker thread opens
the memory and loads the chat model (``load_engine``); what the user types meanwhile is queued.

    NuonuoApp(home=None).run()                       # what `nuonuo chat` does
    NuonuoApp(engine_loader=lambda: my_engine)       # tests: a scripted loop, same event stream
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable

from textual import work
from textual.app import App
from textual.binding import Binding

from nuonuo.errors import NuonuoError
from nuonuo.records import Hit
from nuonuo_tui.engine import Engine, load_engine
from nuonuo_tui.screens.browser import MemoryBrowser
from nuonuo_tui.screens.chat import ChatScreen
from nuonuo_tui.screens.detail import DetailOutcome, MemoryDetailScreen
from nuonuo_tui.screens.missing import Choice, missing_model_screen, store_problem_screen
from nuonuo_tui.screens.sleep import SleepScreen
from nuonuo_tui.widgets.recalled import one_line


class NuonuoApp(App):
    CSS_PATH = "nuonuo.tcss"
    TITLE = "nuonuo"
    BINDINGS = [Binding("ctrl+q", "quit", "quit", priority=True)]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # screen classes for the stylesheet

    def __init__(self, home: str | Path | None = None, engine_loader: Callable[[], Engine] | None = None,
                 sleep_now: float | None = None, session_id: str | None = None,
                 chat_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        from nuonuo.config import default_home

        self.home = Path(home).expanduser() if home else default_home()
        self.engine_loader = engine_loader or (lambda: load_engine(
            home, session_id, chat_options, progress=lambda stage: self.call_from_thread(self.loading, stage)))
        self.engine: Engine | None = None
        self.load_error: str | None = None
        self.last_sleep_report: Any = None
        self.sleep_now = sleep_now  # fixed clock for the sleep chart (tests)
        self._chat: ChatScreen | None = None

    def get_default_screen(self) -> ChatScreen:
        self._chat = ChatScreen(history_file=self.home / "chat_input_history")
        return self._chat

    @property
    def chat(self) -> ChatScreen:
        """The chat screen (the default screen, under any other)."""
        if self._chat is None:
            raise RuntimeError("the app has not started: it has no chat screen yet")
        return self._chat

    def on_mount(self) -> None:
        self.load_engine()

    # --- loading ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_engine(self) -> None:
        try:
            engine = self.engine_loader()
        except NuonuoError as exc:
            self.call_from_thread(self.engine_failed, exc.message)
            return
        # mypy cannot solve Textual's ``Callable[..., T | Awaitable[T]]`` for a coroutine function
        self.call_from_thread(self.engine_loaded, engine)  # type: ignore[arg-type]

    def loading(self, stage: str) -> None:
        self.chat.status.set(stage=stage)

    async def engine_loaded(self, engine: Engine) -> None:
        self.engine = engine
        await self.chat.engine_ready(engine)
        if engine.model_error:
            self.push_screen(missing_model_screen(engine.model_error), self.problem_choice)

    def engine_failed(self, message: str) -> None:
        self.load_error = message
        self.chat.status.set(state="error", model="—")
        self.push_screen(store_problem_screen(message), self.problem_choice)

    def problem_choice(self, choice: Choice | None) -> None:
        if choice == "quit":
            self.exit()
        elif choice == "memories":
            self.action_memories()

    # --- navigation -----------------------------------------------------------------------------
    def action_memories(self) -> None:
        if not isinstance(self.screen, MemoryBrowser):
            self.push_screen(MemoryBrowser())

    def action_sleep(self, run_now: bool = False) -> None:
        if not isinstance(self.screen, SleepScreen):
            self.push_screen(SleepScreen(run_now=run_now, now=self.sleep_now))

    # --- one memory -------------------------------------------------------------------------------
    def open_detail(self, memory_id: str, hit: Hit | None = None,
                    after: Callable[[], Awaitable[None]] | None = None) -> None:
        """Open the detail modal for a memory; apply what it returns (pin / edit / forget)."""
        self.run_worker(self._open_detail(memory_id, hit, after), group="detail")

    async def _open_detail(self, memory_id: str, hit: Hit | None,
                           after: Callable[[], Awaitable[None]] | None) -> None:
        if self.engine is None:
            return
        try:
            record = await asyncio.to_thread(self.engine.memory.get, memory_id)
        except NuonuoError as exc:
            self.notify(exc.message, severity="error")
            return
        chain = await asyncio.to_thread(chain_texts, self.engine.memory, hit.path) if hit and hit.path else None
        outcome = await self.push_screen_wait(MemoryDetailScreen(record, hit, chain))
        await self.apply_outcome(outcome)
        if after is not None and outcome.action != "close":
            await after()

    async def apply_outcome(self, outcome: DetailOutcome) -> None:
        if self.engine is None:  # the detail modal opens only once the memory is loaded
            return
        memory = self.engine.memory
        try:
            if outcome.action == "pin":
                await asyncio.to_thread(memory.update, outcome.memory_id, importance=1.0)
                self.notify("pinned: importance 1.0, kept through sleep", title="memory")
            elif outcome.action == "edit":
                await asyncio.to_thread(memory.update, outcome.memory_id, text=outcome.text)
                self.notify("memory updated", title="memory")
            elif outcome.action == "forget":
                await asyncio.to_thread(memory.forget, outcome.memory_id)
                self.notify("memory forgotten", title="memory")
        except NuonuoError as exc:
            self.notify(exc.message, title="memory", severity="error")
            return
        if outcome.action != "close":
            self.chat.refresh_memory_status()
            await self.chat.panel.changed(outcome.memory_id, text=outcome.text,
                                          forgotten=outcome.action == "forget")

    # --- shutting down ----------------------------------------------------------------------------
    async def on_unmount(self) -> None:
        chat = self.chat
        if chat.busy and chat.loop is not None:
            chat.loop.cancel()  # a reply still streaming stops before the store closes
        else:
            await chat.end_session(refresh=False)
        if self.engine is not None:
            engine, self.engine = self.engine, None
            await asyncio.to_thread(engine.close)


def chain_texts(memory: Any, path: list[str], width: int = 28) -> list[str]:
    """The association chain of a Hebbian hit as short texts ("?" for a memory gone since)."""
    out = []
    for memory_id in path:
        try:
            out.append(one_line(memory.get(memory_id).text, width))
        except NuonuoError:
            out.append("?")
    return out


def run(home: str | Path | None = None, session_id: str | None = None, **chat_options: Any) -> None:
    """Start the chat TUI (``nuonuo chat``); ``chat_options`` override ``[chat]`` settings."""
    NuonuoApp(home, session_id=session_id, chat_options=chat_options).run()
