"""What the daemon holds: the one ``Memory`` of the store, its freshness, and its activity clock.

Local store (a folder): the daemon is the only writer (it holds the store's ``flock``), so its
in-RAM caches are always the truth and nothing needs refreshing.

Object storage (``s3://…``): there is no file lock, and other daemons may write the same tables.
Before a read, at most once every ``[daemon] refresh_interval_s``, the daemon compares the
LanceDB version of every table with the versions it loaded; if any moved (another daemon wrote,
or this one did) it loads a fresh ``Memory`` from the store and swaps it in. A version check is a
LIST and a GET per table, far cheaper than reloading; the reload itself is a full read of the
tables. So a daemon sees another's writes at most ``refresh_interval_s`` late (0 = every read).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from nuonuo.config import Config
from nuonuo.errors import StoreError
from nuonuo.memory import Memory

log = logging.getLogger("nuonuo.daemon")


class Service:
    def __init__(self, memory: Memory, config: Config):
        self._memory = memory
        self.config = config
        self.started = time.time()
        self.last_activity = time.time()
        self.remote = "://" in config.store_uri
        self._refresh_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._last_check = time.monotonic()
        self._versions = self._table_versions() if self.remote else {}
        self.reloads = 0
        self.sleep: Any = None  # the sleep scheduler, when one runs

    # --- the memory, fresh ------------------------------------------------------------------------
    @property
    def memory(self) -> Memory:
        """The memory as it is now (no refresh): for inspection and shutdown."""
        return self._memory

    def reader(self) -> Memory:
        """The memory for a read: on object storage, reloaded first if another writer moved it."""
        if self.remote:
            self._refresh_if_moved()
        return self._memory

    @contextmanager
    def writer(self) -> Iterator[Memory]:
        """The memory for a write, one write at a time.

        ``Memory`` checks for an identical stored text before it encodes and commits after, so two
        concurrent writes of the same text could both be stored; serialising writes here closes that
        gap (encoding already uses every core, so little throughput is lost; reads stay concurrent).
        On object storage the caches are refreshed first, so that a new value of a key supersedes the
        value another daemon wrote."""
        with self._write_lock:
            yield self.reader()

    def _table_versions(self) -> dict[str, int]:
        store = self._memory.store
        return {name: int(store.table(name).version) for name in store.table_names()}

    def _refresh_if_moved(self) -> None:
        interval = self.config.daemon.refresh_interval_s
        if time.monotonic() - self._last_check < interval:
            return
        with self._refresh_lock:
            if time.monotonic() - self._last_check < interval:
                return
            self._last_check = time.monotonic()
            old = self._memory
            old.flush()  # our own pending access counts go in before we compare
            versions = self._table_versions()
            if versions == self._versions:
                return
            fresh = Memory(old.config, old.encoder)
            self._memory, self._versions = fresh, versions
            self.reloads += 1
            if self.sleep is not None:
                self.sleep.scheduler.memory = fresh
            log.info("store moved (%s); reloaded %d memories", versions, len(fresh.records()))
            # the old instance is left to the garbage collector rather than closed: requests that
            # already hold it finish on it (there is no file lock to release on object storage)

    # --- activity (the idle trigger of the sleep job reads it) ------------------------------------
    def touch(self) -> None:
        self.last_activity = time.time()

    def idle_seconds(self) -> float:
        return time.time() - self.last_activity

    def close(self) -> None:
        """Close the store, leaving its snapshot for the CLI calls that follow a stop
        (``nuonuo.store_snapshot``: they read it without LanceDB)."""
        try:
            self._memory.save_snapshot()
        except StoreError as exc:
            log.warning("no snapshot left for the CLI: %s", exc.message)
        self._memory.close()
