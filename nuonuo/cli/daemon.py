"""`nuonuo daemon start [--foreground] | stop | status`."""

from __future__ import annotations

import sys
import time

import click

from nuonuo.cli.context import Context, emit_json


pass_ctx = click.make_pass_decorator(Context)


@click.group()
def daemon() -> None:
    """Run the memory daemon: one owner of the store, shared by the CLI, the TUI and agents."""


@daemon.command()
@click.option("--foreground", is_flag=True, help="Stay in the foreground (for systemd/launchd); log to stderr.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def start(obj: Context, foreground: bool, as_json: bool) -> None:
    """Start the daemon (in the background unless --foreground)."""
    from nuonuo.daemon import server

    obj.close()  # the daemon opens the store itself
    if foreground:
        server.serve(obj.home)
        return
    state = server.start(obj.home)
    if as_json:
        emit_json(state)
    else:
        click.echo(f"daemon started: pid {state['pid']}, socket {state['socket']}"
                   + (f", http://{state['tcp']}" if state.get("tcp") else "") + f", log {state['log']}")


@daemon.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stop(obj: Context, as_json: bool) -> None:
    """Stop the daemon gracefully (in-flight writes finish first)."""
    from nuonuo.daemon import server

    pid = server.stop(obj.home)
    if as_json:
        emit_json({"stopped": pid})
    elif pid is None:
        click.echo("no daemon is running")
    else:
        click.echo(f"daemon stopped (pid {pid})")


@daemon.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Pid, uptime, memory count, socket, next sleep run and the last sleep report."""
    from nuonuo.daemon import server

    data = server.status(obj.home)
    if data is None:
        if as_json:
            emit_json({"running": False})
        else:
            click.echo("no daemon is running", err=True)
        sys.exit(3)
    if as_json:
        emit_json({"running": True, **data})
        return
    up = time.strftime("%H:%M:%S", time.gmtime(data["uptime_s"]))
    days = int(data["uptime_s"] // 86400)
    click.echo(f"running: pid {data['pid']}, up {f'{days}d ' if days else ''}{up}, {data['memories']} memories")
    click.echo(f"socket: {data['socket']}" + (f"   tcp: http://{data['tcp']}" if data.get("tcp") else ""))
    click.echo(f"store: {data['store']}")
    sleep = data.get("sleep")
    if not sleep:
        click.echo("sleep: not scheduled (consolidation is not installed)")
        return
    click.echo(f"sleep: next run {sleep.get('next_run') or 'not scheduled'}"
               + (", running now" if sleep.get("running") else ""))
    report = sleep.get("last_report")
    if report:
        click.echo(f"last sleep: {sleep.get('last_run') or ''}")
        for name, value in report.items():
            if not isinstance(value, (dict, list)):
                click.echo(f"  {name}: {value}")
    else:
        click.echo("last sleep: none yet")



