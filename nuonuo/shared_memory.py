"""Sharing one store between several agent processes without a daemon.

A ``Memory`` holds the store's file lock for as long as it is open: right for one program, wrong for
agent plugins, where every MCP client (Claude Desktop, Cursor, an IDE, a second chat window) starts
its own server process on the same home. Holding the lock for a whole session would make the
second process wait ``lock_timeout_s`` and fail.

``SharedMemory`` has Memory's methods, but each call holds the lock only for that call:

    acquire lock → store changed since my last call? (table versions differ) → reopen
                 → run the call (writes commit to LanceDB) → flush → note the versions → release

so concurrent writers queue on the lock for milliseconds, each sees every other's committed writes
before it writes (nothing is lost, unlike stores that rewrite a whole file per process), and the
in-RAM caches are rebuilt only when someone else wrote. When a daemon runs, ``open_backend`` routes
to it instead (the daemon owns the lock; its client has the same methods).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from nuonuo.config import Config, load_config
from nuonuo.errors import ConfigError, StoreError, StoreLocked

BACKENDS = ("auto", "daemon", "embedded", "shared")


def store_fingerprint(store: Any) -> tuple[tuple[str, int], ...]:
    """The committed version of every table: changes whenever any process writes anything."""
    return tuple(sorted((name, int(store.table(name).version)) for name in store.table_names()))


def daemon_client(home: str | Path | None = None) -> Any | None:
    """A client of the daemon serving ``home`` if one runs, else None (also when the daemon
    package is not installed)."""
    try:
        from nuonuo.daemon.client import connect
    except ImportError:
        return None
    return connect(home)


def _file_lock(memory: Any, action: str, *args: Any) -> None:
    """Take or give back a Memory's store lock (object-storage stores have none: nothing to do)."""
    lock = memory.file_lock
    if lock is not None:
        getattr(lock, action)(*args)


class SharedMemory:
    """Memory's methods with the store lock held per call, never between calls. Thread-safe."""

    def __init__(self, home: str | Path | None = None, *, config: Config | None = None,
                 encoder: Any = None, use_daemon: bool = True):
        self.config = config or load_config(home)
        self.home = self.config.home
        self.use_daemon = use_daemon
        self._encoder = encoder
        self._memory: Any = None
        self._seen: tuple | None = None
        self._lock = threading.RLock()
        self._closed = False

    # --- the per-call protocol ------------------------------------------------------------------
    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``Memory.<method>(*args, **kwargs)`` on the current store, holding the lock only now."""
        if self._closed:
            raise StoreError("this SharedMemory is closed")
        client = daemon_client(self.home) if self.use_daemon else None
        if client is None:
            try:
                with self._lock:
                    mem = self._acquire()
                    try:
                        return getattr(mem, method)(*args, **kwargs)
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
            return getattr(client, method)(*args, **kwargs)
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()

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

    def _acquire(self) -> Any:
        from nuonuo.memory import Memory

        timeout = self.config.store.lock_timeout_s
        if self._memory is not None:
            _file_lock(self._memory, "acquire", timeout)
            if store_fingerprint(self._memory.store) == self._seen:
                return self._memory
            self._drop_memory(locked=True)  # someone else wrote: rebuild the caches from the store
        # Memory() takes the lock itself (waiting up to lock_timeout_s) and loads the store
        self._memory = Memory(self.config, self._load_encoder())
        return self._memory

    def _park(self, mem: Any) -> None:
        """Flush pending writes, remember what the store looks like, let others in."""
        try:
            mem.flush()
            self._seen = store_fingerprint(mem.store)
        except Exception:
            self._drop_memory(locked=True)
            raise
        _file_lock(mem, "release")

    def _drop_memory(self, locked: bool = False) -> None:
        """Forget the cached Memory without writing through it (its view may be stale)."""
        mem, self._memory, self._seen = self._memory, None, None
        if mem is None:
            return
        mem.discard()  # never flush a possibly stale view
        if locked:
            _file_lock(mem, "release")

    def close(self) -> None:
        with self._lock:
            self._drop_memory()
            self._closed = True

    def __enter__(self) -> "SharedMemory":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- Memory's public methods ----------------------------------------------------------------
    def __getattr__(self, name: str) -> Callable[..., Any]:
        from nuonuo.memory import Memory

        if name.startswith("_") or not callable(getattr(Memory, name, None)) or name in ("open", "close"):
            raise AttributeError(f"{type(self).__name__} has no method {name!r}")
        method = lambda *args, **kwargs: self.call(name, *args, **kwargs)  # noqa: E731
        method.__name__ = method.__qualname__ = name
        method.__doc__ = getattr(Memory, name).__doc__
        return method


def open_backend(home: str | Path | None = None, backend: str | None = None,
                 config: Config | None = None, encoder: Any = None) -> Any:
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
