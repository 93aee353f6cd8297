"""doctor, backup, restore: check and repair the store, and copies of it (``nuonuo.doctor``,
``nuonuo.backup``). They work on the store directly (not through a daemon): stop the daemon first."""

from __future__ import annotations

import sys

import click

from nuonuo.cli.context import Context, emit_json

pass_ctx = click.make_pass_decorator(Context)


def _config(obj: Context):
    from nuonuo.config import load_config

    return load_config(obj.home)


@click.command()
@click.option("--repair", is_flag=True, help="Restore damaged tables from an earlier version or the newest backup.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def doctor(obj: Context, repair: bool, as_json: bool) -> None:
    """Read the whole store back and check it (exit 0 healthy, 10 damaged, 11 repaired,
    12 repaired with memories lost, 13 could not repair)."""
    from nuonuo import doctor as doc

    cfg = _config(obj)
    report = doc.repair(cfg) if repair else doc.check(cfg)
    emit_json(report) if as_json else click.echo(doc.format_report(report))
    sys.exit(doc.EXIT[report["status"]])


@click.command()
@click.option("--keep", type=click.IntRange(1, 1000), default=None,
              help="Then keep only the newest N backups (default: [store] backups).")
@click.option("--list", "list_only", is_flag=True, help="List the backups instead of making one.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def backup(obj: Context, keep, list_only: bool, as_json: bool) -> None:
    """Copy every table of the store into <home>/backups/<time>/."""
    from nuonuo import backup as bk
    from nuonuo.doctor import locked_store

    cfg = _config(obj)
    folder = bk.backups_dir(cfg.home)
    if list_only:
        found = bk.list_backups(folder)
        if as_json:
            emit_json(found)
        for b in found if not as_json else ():
            click.echo(f"{b['name']}  {b.get('memories', 0)} memories  {b['path']}")
        return
    with locked_store(cfg) as store:
        info = bk.create(store, folder)
    info["pruned"] = bk.prune(folder, keep or max(1, cfg.store.backups))
    if as_json:
        emit_json(info)
    else:
        click.echo(f"backup {info['name']}: {info['memories']} memories, {info['bytes']:,} bytes, "
                   f"{info['seconds']:.2f} s → {info['path']}")


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def restore(obj: Context, name, as_json: bool) -> None:
    """Put the store back to backup NAME (default: the newest). The state before stays as an
    earlier LanceDB version until the next compaction."""
    from nuonuo import backup as bk
    from nuonuo.doctor import locked_store

    cfg = _config(obj)
    info = bk.find(bk.backups_dir(cfg.home), name)
    with locked_store(cfg) as store:
        rows = bk.restore(store, info)
    if as_json:
        emit_json({"restored": info["name"], "rows": rows})
    else:
        click.echo(f"restored backup {info['name']}: {rows.get('memories', 0)} memories")
