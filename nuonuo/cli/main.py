"""The click group, error handling and the shared ``--home``/``--json`` plumbing.

Errors: a ``NuonuoError`` becomes ``error: <message>`` on stderr and the error's exit code.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from nuonuo.errors import NuonuoError

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI


class NuonuoGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NuonuoError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # the store is closed (pending writes flushed) after ``invoke``: a store fault there too is one line
        try:
            return super().main(*args, **kwargs)
        except NuonuoError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)


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


@click.group(cls=NuonuoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", envvar="NUONUO_HOME", type=click.Path(file_okay=False), default=None,
              help="Data folder (default: $NUONUO_HOME, else the user data dir).")
@click.version_option(package_name="nuonuo")
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """nuonuo: a local memory for LLM agents."""
    obj = Context(home)
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def register() -> None:
    from nuonuo.cli import memories  # noqa: F401  (commands register on import)
    from nuonuo.cli import sleep  # noqa: F401
    from nuonuo.cli import daemon  # noqa: F401
    from nuonuo.cli import mcp  # noqa: F401
    from nuonuo.cli import chat  # noqa: F401
    from nuonuo.cli import doctor  # noqa: F401


register()
