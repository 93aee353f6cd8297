"""The click group (every subcommand is added here), error handling and ``--home``.

Errors: a ``NuonuoError`` becomes ``error: <message>`` on stderr and the error's exit code.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from nuonuo.cli.chat import chat
from nuonuo.cli.context import Context, emit_json  # noqa: F401  (re-exported)
from nuonuo.cli.daemon import daemon
from nuonuo.cli.doctor import backup, doctor, restore
from nuonuo.cli.mcp import mcp_command
from nuonuo.cli.memories import export_, forget, import_, list_, recall, remember, stats
from nuonuo.cli.sleep import consolidate, link, links
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


# Every subcommand registers here, in one place: the modules define plain click commands and never
# import this group.
for _command in (remember, recall, forget, list_, stats, export_, import_, consolidate, link, links, daemon,
                 mcp_command, chat, doctor, backup, restore):
    main.add_command(_command)
