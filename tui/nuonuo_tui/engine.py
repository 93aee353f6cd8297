"""What the app talks to: the memory (``nuonuo.api.MemoryAPI``: the daemon's client when a daemon
serves the home, else an embedded ``Memory``), the chat model, and a way to start or resume a chat
loop. Built off the UI thread by ``load_engine``.

Everything here goes through nuonuo's public API: ``MemoryAPI`` and ``nuonuo.chat``
(``load_chat_model``, ``ChatLoop``). The chat works the same on both: with a daemon, its session
and the memories its evicted turns become are kept by the daemon, so other clients see them at
once. Tests build an ``Engine`` around a scripted loop with the same shape as ``ChatLoop``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nuonuo.api import MemoryAPI
from nuonuo.errors import NuonuoError

LoopFactory = Callable[[str | None], Any]  # session id to resume (None = a new session) → a chat loop


@dataclass
class ModelInfo:
    name: str = "—"
    path: str = ""
    n_ctx: int = 0
    detail: str = ""


@dataclass
class Engine:
    """A loaded backend. ``model_error`` is set (and ``new_loop`` is None) when no chat model could
    be loaded; the memory still works then (browser, slash commands)."""

    memory: MemoryAPI
    mode: str = "embedded"  # "embedded" | "daemon"
    model: ModelInfo = field(default_factory=ModelInfo)
    new_loop: LoopFactory | None = None
    list_sessions: Callable[[], list[dict]] = list
    model_error: str | None = None
    close: Callable[[], None] = lambda: None
    first_loop: Any = None  # the loop of the first session, built off the UI thread

    def start_loop(self) -> Any:
        """The first session's loop (built by the loader when it could be), else a new one."""
        loop, self.first_loop = self.first_loop, None
        return loop if loop is not None else self.new_loop(None)  # type: ignore[misc]

    @property
    def can_chat(self) -> bool:
        return self.new_loop is not None


def open_memory(home: str | Path | None) -> tuple[MemoryAPI, str]:
    """The daemon's client when a daemon serves ``home``, else an embedded ``Memory``."""
    from nuonuo.daemon.client import connect

    try:
        client = connect(home)
    except NuonuoError:
        client = None
    if client is not None:
        return client, "daemon"
    from nuonuo.memory import Memory

    return Memory.open(home), "embedded"


def start_sleep_scheduler(memory: MemoryAPI) -> Any:
    """The nightly/idle sleep job for an embedded memory (None if the schedule cannot start, or
    if ``memory`` is not the store in this process: a daemon runs its own)."""
    from nuonuo.memory import Memory

    if not isinstance(memory, Memory):
        return None
    try:
        from nuonuo.scheduler import SleepScheduler

        return SleepScheduler(memory).start()
    except (ImportError, NuonuoError):
        return None


def describe_model(model: Any, chat_config: Any) -> ModelInfo:
    path = str(getattr(model, "path", "") or getattr(chat_config, "model_path", "") or "")
    name = str(getattr(model, "name", "") or (Path(path).stem if path else "chat model"))
    n_ctx = int(getattr(model, "n_ctx", 0) or getattr(chat_config, "n_ctx", 0) or 0)
    return ModelInfo(name=name, path=path, n_ctx=n_ctx)


def load_engine(home: str | Path | None = None, session_id: str | None = None,
                chat_options: dict[str, Any] | None = None, memory: MemoryAPI | None = None,
                sleep_scheduler: bool = True, progress: Callable[[str], None] | None = None) -> Engine:
    """Open the memory, load the chat model and start (or resume) a session. Slow: run it in a
    worker thread. ``chat_options`` override ``[chat]`` settings (namespace, model_path, max_tokens).

    A model that cannot be loaded is not fatal: the engine comes back with ``model_error`` set to
    the error's message (for a missing model it says what to install or set). ``memory``: an
    already open memory to use instead of opening one. While the chat runs embedded it owns
    the store, so it also runs the sleep schedule (``[sleep] schedule`` / ``idle_minutes``); with a
    daemon, the daemon runs it.
    ``progress`` is told each stage as it starts."""
    say = progress or (lambda stage: None)
    if memory is None:
        say("opening the memory (encoder and store)")
    if memory is None:
        memory, mode = open_memory(home)
    else:
        mode = "embedded"
    from nuonuo.chat import ChatLoop, load_chat_model

    scheduler = start_sleep_scheduler(memory) if sleep_scheduler and mode == "embedded" else None

    def close_memory() -> None:
        if scheduler is not None:
            scheduler.stop()
        memory.close()

    chat_config = memory.config.chat
    for name, value in (chat_options or {}).items():
        if value is not None:
            setattr(chat_config, name, value)
    say("loading the chat model")
    try:
        model = load_chat_model(chat_config)
    except NuonuoError as exc:
        return Engine(memory=memory, mode=mode, model_error=exc.message, close=close_memory)

    def new_loop(session_id: str | None) -> Any:
        if session_id:
            return ChatLoop.resume(memory, model, chat_config, session_id)
        return ChatLoop(memory, model, chat_config, session_id=None)

    def close() -> None:
        closer = getattr(model, "close", None)
        if callable(closer):
            closer()
        close_memory()

    info = describe_model(model, chat_config)
    say("starting the chat session")
    try:
        first = new_loop(session_id)
    except NuonuoError as exc:  # e.g. an unknown session id to resume
        return Engine(memory=memory, mode=mode, model=info, close=close,
                      model_error=f"the model loaded, but a chat session could not start: {exc.message}")
    info.n_ctx = first.n_ctx or info.n_ctx
    return Engine(memory=memory, mode=mode, model=info, new_loop=new_loop,
                  list_sessions=memory.sessions.list, close=close, first_loop=first)
