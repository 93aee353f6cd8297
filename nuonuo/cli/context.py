"""What every command shares: the ``Context`` (where the store is, a lazily opened backend) and
``--json`` output. Subcommand modules import this, never ``nuonuo.cli.main`` (which imports them)."""

from __future__ import annotations

import json
from typing import Any

import click


class Context:
    """What every command shares: where the store is, and a lazily opened backend."""

    def __init__(self, home: str | None):
        self.home = home
        self._backend = None

    def backend(self):
        """The ``Memory`` (or, when a daemon runs, a client with the same methods)."""
        if self._backend is None:
            from nuonuo.daemon.client import connect

            self._backend = connect(self.home)
        if self._backend is None:
            from nuonuo.memory import Memory

            self._backend = Memory.open(self.home)
        return self._backend

    def memory(self):
        """An in-process ``Memory`` (never a daemon client), opened on first use: for the commands that
        need the store in this process (the chat keeps its sessions there)."""
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
