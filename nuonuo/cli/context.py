"""What every command shares: the ``Context`` (where the store is, a lazily opened backend) and
``--json`` output. Subcommand modules import this, never ``nuonuo.cli.main`` (which imports them)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from nuonuo.errors import StoreError

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI
    from nuonuo.memory import Memory


class Context:
    """What every command shares: where the store is, and a lazily opened backend."""

    def __init__(self, home: str | None):
        self.home = home
        self._backend: MemoryAPI | None = None
        self._memory: Memory | None = None  # the store opened in this process (no daemon), read-write

    def backend(self, reads_only: bool = False) -> MemoryAPI:
        """The memory (``nuonuo.api.MemoryAPI``): the daemon's client when a daemon serves the home,
        else the store in this process. ``reads_only`` (recall, list, …): the store's snapshot
        serves while it is current, without importing LanceDB (``nuonuo.store_snapshot``)."""
        if self._backend is None:
            from nuonuo.daemon.client import connect

            self._backend = connect(self.home)
        if self._backend is None:
            from nuonuo.memory import Memory

            mem = Memory.open(self.home, snapshot=reads_only)
            self._backend = mem
            self._memory = None if mem.store.read_only else mem
        return self._backend

    def close(self) -> None:
        """Close the backend; a store opened here leaves a snapshot of itself for the next call."""
        if self._memory is not None:
            try:
                self._memory.save_snapshot()
            except StoreError:
                pass  # a cache: the command's work is done, and the next full open reports the fault
            self._memory = None
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=None, default=str))
