"""``MemoryAPI``: the one interface every shell talks to.

Three implementations satisfy it, and a shell never asks which one it holds:

- ``nuonuo.Memory``: the store in this process (holds the store's file lock while open);
- ``nuonuo.daemon.client.Client``: the same calls over the daemon's HTTP API (a Unix socket, or TCP
  with a token);
- ``nuonuo.shared_memory.SharedMemory``: the store lock taken per call, for several processes.

``mypy`` checks the conformance statically (``nuonuo/_conformance.py``, run by
``tests/test_typecheck.py``) and ``tests/test_memory_api.py`` runs one behavioural suite on all
three. Arguments and results are the same everywhere: ``MemoryRecord`` and ``Hit`` values, and the
same ``NuonuoError`` subclass for the same mistake (the input rules are ``nuonuo.validate``'s).

Chat sessions (``sessions``) live beside the memories in the same store, so that a chat can run on
any of the three: ``nuonuo chat`` and the TUI while a daemon serves the home, for instance.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from nuonuo.records import Hit, MemoryRecord

if TYPE_CHECKING:
    from nuonuo.chat.events import Turn
    from nuonuo.config import Config

Progress = Callable[[int], object]


class ChatSessions(Protocol):
    """The saved chat sessions of a store (tables ``chat_sessions`` and ``chat_turns``).

    A session row is a dict: ``id``, ``title``, ``namespace``, ``created_at``, ``n_turns``,
    ``window_start``, ``evicted_total`` and ``state`` (a JSON-able dict: the chat loop's small
    state). Turns are appended, never rewritten."""

    def save(self, session: Mapping[str, Any], new_turns: Sequence[Turn]) -> None:
        """Append ``new_turns`` and write the session row. Durable when this returns."""
        ...

    def load(self, session_id: str) -> tuple[dict[str, Any], builtins.list[Turn]]:
        """The session row and every turn, oldest first; ``NotFound`` for an unknown id."""
        ...

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every session, most recently used first: ``{id, title, updated_at, turns, namespace}``."""
        ...

    def delete(self, session_id: str) -> None:
        """Delete a session and its turns (the memories its evicted turns became stay)."""
        ...


@runtime_checkable
class MemoryAPI(Protocol):
    """The memory as every shell sees it. See ``nuonuo.memory.Memory`` for what each call does."""

    @property
    def config(self) -> Config:
        """The configuration of the home this memory serves (a client: of the local home)."""
        ...

    @property
    def sessions(self) -> ChatSessions:
        """The store's chat sessions."""
        ...

    # --- writing ---------------------------------------------------------------------------------------
    def remember(self, text: str, key: str | None = None, namespace: str = "default",
                 metadata: Mapping[str, Any] | None = None, timestamp: Any = None,
                 importance: float = 0.5) -> MemoryRecord: ...

    def remember_many(self, items: Iterable[Any], namespace: str = "default", batch_size: int | None = None,
                      progress: Progress | None = None) -> builtins.list[str]: ...

    def update(self, id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None,
               importance: float | None = None) -> MemoryRecord: ...

    def forget(self, id: str | None = None, *, key: str | None = None, namespace: str | None = None) -> int: ...

    def associate(self, cue_id: str, target_id: str, weight: float = 1.0, kind: str = "link") -> None: ...

    def consolidate(self, **options: Any) -> dict[str, Any]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    # --- reading ---------------------------------------------------------------------------------------
    def recall(self, query: str | None = None, k: int | None = None, namespace: str = "default",
               at: Any = None, key: str | None = None) -> builtins.list[Hit]: ...

    def get(self, id: str) -> MemoryRecord: ...

    def lookup(self, key: str, namespace: str = "default") -> MemoryRecord | None: ...

    def history(self, key: str, namespace: str = "default") -> builtins.list[MemoryRecord]: ...

    def list(self, namespace: str | None = "default", limit: int = 50, offset: int = 0,
             include_history: bool = False) -> builtins.list[MemoryRecord]: ...

    def namespaces(self) -> dict[str, int]: ...

    def associations(self, id: str) -> builtins.list[dict[str, Any]]: ...

    def stats(self) -> dict[str, Any]: ...

    def export(self, path: str | Path, namespace: str | None = None) -> int: ...


def check_memory(memory: Any) -> MemoryAPI:
    """``memory`` if it is a nuonuo memory, else a ``TypeError`` that says what to pass: for the
    shells that take a memory from their caller (the LangChain plugin)."""
    if not isinstance(memory, MemoryAPI):
        raise TypeError(f"{type(memory).__name__} is not a nuonuo memory (nuonuo.api.MemoryAPI); pass "
                        "nuonuo.Memory.open(), a daemon client, or langchain_nuonuo.open_memory()")
    return memory


__all__ = ["MemoryAPI", "ChatSessions", "check_memory"]
