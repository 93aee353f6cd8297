"""Sharing one store between several agent processes without a daemon.

A ``Memory`` holds the store's file lock for as long as it is open: right for one program, wrong for
agent plugins, where every MCP client (Claude Desktop, Cursor, an IDE, a second chat window) starts
its own server process on the same home. Holding the lock for a whole session would make the
second process wait ``lock_timeout_s`` and fail.

``SharedMemory`` has Memory's methods (it satisfies ``nuonuo.api.MemoryAPI``), but each call holds
the lock only for that call:

    acquire lock → store changed since my last call? (table versions differ) → reopen
                 → run the call (writes commit to LanceDB) → flush → note the versions → release

so concurrent writers queue on the lock for milliseconds, each sees every other's committed writes
before it writes (nothing is lost, unlike stores that rewrite a whole file per process), and the
in-RAM caches are rebuilt only when someone else wrote. When a daemon runs, ``open_backend`` routes
to it instead (the daemon owns the lock; its client has the same methods).
"""

from __future__ import annotations

import builtins
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, TypeVar

from nuonuo.config import Config, load_config
from nuonuo.errors import ConfigError, StoreError, StoreLocked

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI, Progress
    from nuonuo.chat.events import Turn
    from nuonuo.daemon.client import Client
    from nuonuo.memory import Memory
    from nuonuo.records import Hit, MemoryRecord

T = TypeVar("T")

BACKENDS = ("auto", "daemon", "embedded", "shared")


def store_fingerprint(store: Any) -> tuple[tuple[str, int], ...]:
    """The committed version of every table: changes whenever any process writes anything."""
    return tuple(sorted((name, int(store.table(name).version)) for name in store.table_names()))


def daemon_client(home: str | Path | None = None) -> Client | None:
    """A client of the daemon serving ``home`` if one runs, else None (also when the daemon
    package is not installed)."""
    try:
        from nuonuo.daemon.client import connect
    except ImportError:
        return None
    return connect(home)


class SharedMemory:
    """Memory's methods with the store lock held per call, never between calls. Thread-safe."""

    def __init__(self, home: str | Path | None = None, *, config: Config | None = None,
                 encoder: Any = None, use_daemon: bool = True):
        self.config = config or load_config(home)
        self.home = self.config.home
        self.use_daemon = use_daemon
        self._encoder = encoder
        self._memory: Memory | None = None
        self._seen: tuple | None = None
        self._lock = threading.RLock()
        self._closed = False

    # --- the per-call protocol ------------------------------------------------------------------
    def run(self, fn: Callable[[MemoryAPI], T]) -> T:
        """``fn(memory)`` on the current store, holding the lock only now (or on the daemon's client
        when a daemon serves the home)."""
        if self._closed:
            raise StoreError("this SharedMemory is closed")
        client = daemon_client(self.home) if self.use_daemon else None
        if client is None:
            try:
                with self._lock:
                    mem = self._acquire()
                    try:
                        return fn(mem)
                    finally:
                        self._park(mem)
            except StoreLocked:
                # a daemon may have started meanwhile and taken the store: go through it
                client = daemon_client(self.home) if self.use_daemon else None
                if client is None:
                    raise
        with self._lock:
            self._drop_memory()
        try:
            return fn(client)
        finally:
            client.close()

    def preload(self) -> None:
        """Load the encoder now rather than on the first call (no-op when a daemon serves the home)."""
        if self.use_daemon and daemon_client(self.home) is not None:
            return
        with self._lock:
            self._load_encoder()

    def _load_encoder(self) -> Any:
        if self._encoder is None:
            from nuonuo.encoder import load_encoder

            enc = self.config.encoder
            self._encoder = load_encoder(enc.model, enc.max_seq_length, enc.threads)
        return self._encoder

    def _acquire(self) -> Memory:
        from nuonuo.memory import Memory

        timeout = self.config.store.lock_timeout_s
        if self._memory is not None:
            if self._memory.store_lock is not None:  # object storage has none
                self._memory.store_lock.acquire(timeout)
            if store_fingerprint(self._memory.store) == self._seen:
                return self._memory
            self._drop_memory()  # someone else wrote: rebuild the caches from the store
        # Memory() takes the lock itself (waiting up to lock_timeout_s) and loads the store
        self._memory = Memory(self.config, self._load_encoder())
        return self._memory

    def _park(self, mem: Memory) -> None:
        """Flush pending writes, remember what the store looks like, let others in."""
        try:
            mem.flush()
            self._seen = store_fingerprint(mem.store)
        except Exception:
            self._drop_memory()
            raise
        if mem.store_lock is not None:
            mem.store_lock.release()

    def _drop_memory(self) -> None:
        """Forget the cached Memory without writing through it (its view may be stale); the store
        lock is released if it was held."""
        mem, self._memory, self._seen = self._memory, None, None
        if mem is not None:
            mem.discard()

    def close(self) -> None:
        with self._lock:
            self._drop_memory()
            self._closed = True

    def __enter__(self) -> "SharedMemory":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- Memory's public methods (nuonuo.api.MemoryAPI) ------------------------------------------
    @property
    def sessions(self) -> SharedSessions:
        return SharedSessions(self)

    def remember(self, text: str, key: str | None = None, namespace: str = "default",
                 metadata: Mapping[str, Any] | None = None, timestamp: Any = None,
                 importance: float = 0.5) -> MemoryRecord:
        return self.run(lambda m: m.remember(text, key=key, namespace=namespace, metadata=metadata,
                                             timestamp=timestamp, importance=importance))

    def remember_many(self, items: Iterable[Any], namespace: str = "default", batch_size: int | None = None,
                      progress: Progress | None = None) -> builtins.list[str]:
        items = builtins.list(items)
        return self.run(lambda m: m.remember_many(items, namespace=namespace, batch_size=batch_size,
                                                  progress=progress))

    def update(self, id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None,
               importance: float | None = None) -> MemoryRecord:
        return self.run(lambda m: m.update(id, text=text, metadata=metadata, importance=importance))

    def forget(self, id: str | None = None, *, key: str | None = None, namespace: str | None = None) -> int:
        return self.run(lambda m: m.forget(id, key=key, namespace=namespace))

    def associate(self, cue_id: str, target_id: str, weight: float = 1.0, kind: str = "link") -> None:
        self.run(lambda m: m.associate(cue_id, target_id, weight=weight, kind=kind))

    def consolidate(self, **options: Any) -> dict[str, Any]:
        return self.run(lambda m: m.consolidate(**options))

    def flush(self) -> None:
        """Nothing to do: every call flushes before it lets go of the store."""

    def recall(self, query: str | None = None, k: int | None = None, namespace: str = "default",
               at: Any = None, key: str | None = None) -> builtins.list[Hit]:
        return self.run(lambda m: m.recall(query, k=k, namespace=namespace, at=at, key=key))

    def get(self, id: str) -> MemoryRecord:
        return self.run(lambda m: m.get(id))

    def lookup(self, key: str, namespace: str = "default") -> MemoryRecord | None:
        return self.run(lambda m: m.lookup(key, namespace))

    def history(self, key: str, namespace: str = "default") -> builtins.list[MemoryRecord]:
        return self.run(lambda m: m.history(key, namespace))

    def list(self, namespace: str | None = "default", limit: int = 50, offset: int = 0,
             include_history: bool = False) -> builtins.list[MemoryRecord]:
        return self.run(lambda m: m.list(namespace, limit=limit, offset=offset, include_history=include_history))

    def namespaces(self) -> dict[str, int]:
        return self.run(lambda m: m.namespaces())

    def associations(self, id: str) -> builtins.list[dict[str, Any]]:
        return self.run(lambda m: m.associations(id))

    def stats(self) -> dict[str, Any]:
        return self.run(lambda m: m.stats())

    def export(self, path: str | Path, namespace: str | None = None) -> int:
        return self.run(lambda m: m.export(path, namespace))


class SharedSessions:
    """The chat sessions (``nuonuo.api.ChatSessions``) with the store lock held per call."""

    def __init__(self, shared: SharedMemory):
        self.shared = shared

    def save(self, session: Mapping[str, Any], new_turns: Sequence[Turn]) -> None:
        self.shared.run(lambda m: m.sessions.save(session, new_turns))

    def load(self, session_id: str) -> tuple[dict[str, Any], builtins.list[Turn]]:
        return self.shared.run(lambda m: m.sessions.load(session_id))

    def list(self) -> builtins.list[dict[str, Any]]:
        return self.shared.run(lambda m: m.sessions.list())

    def delete(self, session_id: str) -> None:
        self.shared.run(lambda m: m.sessions.delete(session_id))


def open_backend(home: str | Path | None = None, backend: str | None = None,
                 config: Config | None = None, encoder: Any = None) -> MemoryAPI:
    """The memory an agent plugin talks to, chosen by ``[plugins] backend``:

    - ``auto``: the daemon's client when a daemon serves this home, else an embedded ``Memory``;
    - ``daemon``: the daemon's client; an error if none runs;
    - ``embedded``: ``Memory`` in this process (holds the store lock while open);
    - ``shared``: ``SharedMemory`` (the lock per call: for several processes on one home).
    """
    cfg = config or load_config(home)
    choice = backend or cfg.plugins.backend
    if choice not in BACKENDS:
        raise ConfigError(f"[plugins] backend must be one of {', '.join(BACKENDS)}, not {choice!r}")
    if choice in ("auto", "daemon"):
        client = daemon_client(cfg.home)
        if client is not None:
            return client
        if choice == "daemon":
            raise StoreError(f"no nuonuo daemon serves {cfg.home}; start one with `nuonuo daemon start`")
    if choice == "shared":
        return SharedMemory(config=cfg, encoder=encoder)
    from nuonuo.memory import Memory

    return Memory(cfg, encoder)
