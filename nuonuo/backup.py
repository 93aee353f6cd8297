"""Backups of a local store: a compact copy of every table, made by reading it back.

A backup is a folder ``<home>/backups/<UTC time>/`` holding a LanceDB database with one table per
store table at its latest version (one fragment each, no history) and ``backup.json`` (time,
row counts, nuonuo version). Making one reads every table through, so a backup that exists was
readable when it was made. It is written under a ``.partial`` name and renamed when complete: a
backup killed or out of space halfway is never listed, and its leftovers go at the next backup.

``restore`` writes each table of a backup over the store's table as a new LanceDB version (the
versions before it stay until the next compaction), so a restore is itself undoable until then.
The sleep job keeps the last ``[store] backups`` of them (``nuonuo.scheduler``).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from nuonuo.errors import NotFound, StoreError
from nuonuo.store import Store, storage_error

MANIFEST = "backup.json"


def backups_dir(home: Path) -> Path:
    return Path(home) / "backups"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def create(store: Store, folder: Path) -> dict[str, Any]:
    """Copy every table of ``store`` into a new backup under ``folder``; returns its description."""
    import lancedb

    t0 = time.perf_counter()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    clean_partials(folder)
    now = time.time()
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    while (folder / name).exists():
        name += "-1"
    tmp = folder / f".{name}.partial"
    rows: dict[str, int] = {}
    try:
        db = lancedb.connect(str(tmp))
        for table in store.table_names():
            data = store.table(table).to_arrow()
            db.create_table(table, data=data, schema=data.schema)
            rows[table] = data.num_rows
        info = {"name": name, "created": now, "rows": rows, "memories": rows.get("memories", 0)}
        (tmp / MANIFEST).write_text(json.dumps(info), encoding="utf-8")
        tmp.rename(folder / name)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        err = storage_error(exc, str(folder), None, "write") if isinstance(exc, Exception) else None
        if err is not None and err is not exc:
            raise type(err)(f"backup failed, nothing changed in the store: {err.message}") from None
        raise
    return dict(info, path=str(folder / name), bytes=_size(folder / name),
                seconds=round(time.perf_counter() - t0, 3))


def clean_partials(folder: Path) -> None:
    for path in folder.glob(".*.partial"):
        shutil.rmtree(path, ignore_errors=True)


def list_backups(folder: Path) -> list[dict[str, Any]]:
    """Complete backups, newest first."""
    found = []
    for path in folder.iterdir() if folder.is_dir() else ():
        manifest = path / MANIFEST
        if path.name.startswith(".") or not manifest.is_file():
            continue
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append(dict(info, path=str(path)))
    return sorted(found, key=lambda b: b.get("created", 0.0), reverse=True)


def prune(folder: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` backups; returns the names deleted."""
    gone = []
    for info in list_backups(folder)[max(0, keep):]:
        shutil.rmtree(info["path"], ignore_errors=True)
        gone.append(info["name"])
    return gone


def find(folder: Path, name: str | None) -> dict[str, Any]:
    backups = list_backups(folder)
    if not backups:
        raise NotFound(f"no backups in {folder}: make one with `nuonuo backup`")
    if name is None:
        return backups[0]
    for info in backups:
        if info["name"] == name or info["path"] == name:
            return info
    raise NotFound(f"no backup named {name!r} in {folder} (there are: {', '.join(b['name'] for b in backups)})")


def read_table(info: dict[str, Any], table: str):
    """A table of a backup as a pyarrow table (None if the backup lacks it)."""
    try:
        copy = Store(info["path"], 0, migrate=False)
        return copy.table(table).to_arrow() if table in copy.table_names() else None
    except StoreError as err:
        raise StoreError(f"backup {info['name']} is unreadable too: {err.message}") from None


def write_table(store: Store, table: str, data) -> None:
    """Replace ``table``'s rows with ``data`` as a new version (recreating a table it cannot open)."""
    if table in store.table_names():
        try:
            if data.num_rows:
                store.table(table).add(data, mode="overwrite")
            else:  # LanceDB cannot overwrite with no rows: delete them all (a new version too)
                store.table(table).delete("true")
            return
        except StoreError as exc:
            if exc.kind == "store_full":
                raise
            store.guard(store.db.drop_table, table, "write", table)
    store.guard(store.db.create_table, table, "write", table, data=data, schema=data.schema)


def restore(store: Store, info: dict[str, Any]) -> dict[str, int]:
    """Write every table of backup ``info`` over the store's; returns rows per table."""
    rows = {}
    for table in info.get("rows", {}):
        data = read_table(info, table)
        if data is not None:
            write_table(store, table, data)
            rows[table] = data.num_rows
    return rows
