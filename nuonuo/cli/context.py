"""What every command shares: the ``Context`` (where the store is, a lazily opened backend) and
``--json`` output. Subcommand modules import this, never ``nuonuo.cli.main`` (which imports them)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI


class Context:
    """What every command shares: where the store is, and a lazily opened backend."""

    def __init__(self, home: str | None):
        self.home = home
        self._backend: MemoryAPI | None = None

    def backend(self) -> MemoryAPI:
        """The memory (``nuonuo.api.MemoryAPI``): the daemon's client when a daemon serves the home,
        else the store in this process."""
        if self._backend is None:
            from nuonuo.daemon.client import connect

            self._backend = connect(self.home)
        if self._backend is None:
            from nuonuo.memory import Memory

            self._backend = Memory.open(self.home)
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=None, default=str))
