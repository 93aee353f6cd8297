"""``nuonuo mcp``: serve the memory to MCP clients (Claude Desktop, Cursor, oterm, …)."""

from __future__ import annotations

import click

from nuonuo.cli.context import Context

pass_ctx = click.make_pass_decorator(Context)


@click.command("mcp")
@click.option("--http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1 instead of stdio.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="HTTP port (default: [plugins] mcp_port, 8765).")
@pass_ctx
def mcp_command(ctx: Context, http: bool, port: int | None) -> None:
    """Run the MCP server: tools remember, recall, forget, consolidate, stats.

    An MCP client starts it over stdio (see docs/plugins.md for the client configuration).
    It never holds the store between calls, so several clients can share one home."""
    from nuonuo.mcp_server import serve

    serve(ctx.home, http=http, port=port)
