"""``nuonuo doctor``: read the whole store back, and repair it when a file is damaged.

Check (``check``): every table is read through at its latest version (all fragments, every column:
the memories, the links, the W snapshot, the meta table, the chat tables), its row count is
compared with what its manifest says, data files cut short are named, files of failed writes
(orphans) are removed, and when every table reads, the in-RAM caches are rebuilt by opening the
memory and their counts are compared with the tables'.

Repair (``repair``), for each table that does not read:
1. the newest LanceDB version of it that reads through is restored (LanceDB keeps the versions
   since the last compaction);
2. for the memories table, rows of the newest backup newer than that version and missing from
   it are added back (a backup is a full copy, ``nuonuo.backup``); with no readable version,
   the backup is restored whole;
3. with neither, the table is left as it is and the repair fails.
It then says which memories it could not recover: their ids and first words when the damaged
version's ids and texts can still be read, else how many rows were lost (and the ids that links
still name).

Exit codes of the CLI: 0 healthy · 10 damaged (run with --repair) · 11 repaired, nothing lost ·
12 repaired, some memories lost (listed) · 13 could not repair.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator

from nuonuo import backup as backups
from nuonuo import store_files
from nuonuo.config import Config
from nuonuo.errors import StoreError
from nuonuo.store import Store, StoreLock

EXIT = {"healthy": 0, "damaged": 10, "repaired": 11, "repaired_with_loss": 12, "unrepairable": 13}


@contextmanager
def locked_store(config: Config) -> Iterator[Store]:
    """The store, opened for checking or repair (no migration) under the store lock of a local
    store, which is released when the block ends."""
    lock = None
    if "://" not in config.store_uri:
        lock = StoreLock(config.home / "store.lock")
        lock.acquire(config.store.lock_timeout_s)
    try:
        yield Store(config.store_uri, 0, config.store.storage_options, migrate=False)
    finally:
        if lock:
            lock.release()


def _check_table(store: Store, name: str) -> dict[str, Any]:
    info: dict[str, Any] = {"table": name, "readable": False}
    try:
        tbl = store.table(name)
        info["version"] = tbl.version
        info["versions"] = len(tbl.list_versions())
        info["rows_manifest"] = tbl.count_rows()
        data = tbl.to_arrow()
        info["rows"] = data.num_rows
        info["readable"] = data.num_rows == info["rows_manifest"]
        if not info["readable"]:
            info["error"] = f"read {data.num_rows} rows, the manifest says {info['rows_manifest']}"
    except StoreError as exc:
        info["error"] = exc.message
    info["damaged_files"] = store_files.damaged_files(store.uri, name)
    return info


def _check_caches(config: Config, encoder: Any, tables: dict[str, dict]) -> dict[str, Any]:
    """Open the memory (every cache rebuilds from the tables) and compare its counts."""
    from nuonuo.memory import Memory

    with Memory(config, encoder) as mem:
        stats = mem.stats()
        records = len(mem.records())
    out = {"records": records, "memories": stats.get("memories"), "history": stats.get("history"),
           "keys": stats.get("keys"), "links": stats.get("links", stats.get("associations"))}
    rows = tables.get("memories", {}).get("rows")
    out["agree"] = rows == records
    if not out["agree"]:
        out["error"] = f"the memories table has {rows} rows but {records} records were loaded"
    return out


def check(config: Config, encoder: Any = None, caches: bool = True) -> dict[str, Any]:
    """Read the whole store back; returns a report with ``status`` "healthy" or "damaged"."""
    t0 = time.perf_counter()
    with locked_store(config) as store:
        tables = {name: _check_table(store, name) for name in store.table_names()}
        orphans = store.orphans_removed
    problems = [f"{name}: {t['error']}" for name, t in tables.items() if not t["readable"]]
    problems += [f"{name}: damaged file {f}" for name, t in tables.items() for f in t["damaged_files"]
                 if t["readable"]]
    for required in ("meta", "memories"):
        if tables and required not in tables:
            problems.append(f"the {required} table is missing")
    report: dict[str, Any] = {"store": config.store_uri, "tables": tables,
                              "orphans_removed": {"files": orphans[0], "bytes": orphans[1]}}
    if caches and not problems and tables:
        try:
            report["caches"] = _check_caches(config, encoder, tables)
            if not report["caches"]["agree"]:
                problems.append(report["caches"]["error"])
        except StoreError as exc:
            problems.append(f"caches: {exc.message}")
    report["problems"] = problems
    report["status"] = "damaged" if problems else "healthy"
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


# --- repair -------------------------------------------------------------------------------------------
def _newest_readable_version(store: Store, name: str) -> tuple[int, float] | None:
    tbl = store.table(name)
    latest = tbl.version
    for v in sorted(tbl.list_versions(), key=lambda v: v["version"], reverse=True):
        if v["version"] >= latest:
            continue
        try:
            tbl.checkout(v["version"])
            tbl.to_arrow()
            return v["version"], v["timestamp"].timestamp()
        except StoreError:
            continue
    return None


def _known_texts(store: Store, name: str, count: int) -> dict[str, str] | None:
    """Ids → texts of the damaged latest version, if those two columns can still be read."""
    try:
        rows = store.table(name).search().select(["id", "text"]).limit(max(1, count)).to_arrow()
        return dict(zip(rows.column("id").to_pylist(), rows.column("text").to_pylist()))
    except (StoreError, ValueError, TypeError):
        return None


def _linked_ids(store: Store) -> set[str]:
    try:
        t = store.table("associations").to_arrow()
        return set(t.column("cue").to_pylist()) | set(t.column("target").to_pylist())
    except (StoreError, KeyError):
        return set()


def _repair_table(store: Store, name: str, backup: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {"table": name, "method": None}
    tbl = store.table(name)
    rows_before = tbl.count_rows()
    known = _known_texts(store, name, rows_before) if name == "memories" else None
    found = _newest_readable_version(store, name)
    try:
        from_backup = backups.read_table(backup, name) if backup else None
    except StoreError as exc:  # a damaged backup: the versions may still do
        from_backup, out["backup_error"] = None, exc.message
    if found is not None:
        version, stamp = found
        tbl = store.table(name)
        tbl.restore(version)
        out["method"] = f"version {version}"
        if name == "memories" and from_backup is not None and backup is not None and backup["created"] > stamp:
            have = set(tbl.to_arrow().column("id").to_pylist())
            extra = from_backup.filter([i not in have for i in from_backup.column("id").to_pylist()])
            if extra.num_rows:
                tbl.add(extra)
                out["method"] += f" + {extra.num_rows} rows from backup {backup['name']}"
    elif from_backup is not None and backup is not None:
        backups.write_table(store, name, from_backup)
        out["method"] = f"backup {backup['name']}"
    else:
        out["error"] = "no readable earlier version and no backup holds this table"
        return out
    after = store.table(name).to_arrow()
    with warnings.catch_warnings():  # drop the versions that name the damaged files, and the files
        warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
        store.table(name).optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
    out["rows_before"], out["rows_after"] = rows_before, after.num_rows
    if name == "memories":
        have = set(after.column("id").to_pylist())
        if known is not None:
            out["lost"] = [{"id": i, "text": " ".join((t or "").split()[:8])} for i, t in known.items() if i not in have]
        else:
            out["lost"] = [{"id": i, "text": None} for i in sorted(_linked_ids(store) - have)]
            out["lost_rows"] = max(0, rows_before - after.num_rows)
    return out


def repair(config: Config, encoder: Any = None) -> dict[str, Any]:
    """Check, repair every table that does not read, check again; ``status`` is one of ``EXIT``."""
    first = check(config, encoder)
    if first["status"] == "healthy":
        return first
    bad = [name for name, t in first["tables"].items() if not t["readable"]]
    repairs = []
    with locked_store(config) as store:
        available = backups.list_backups(backups.backups_dir(config.home))
        newest = available[0] if available else None
        for name in bad:
            try:
                repairs.append(_repair_table(store, name, newest))
            except StoreError as exc:
                repairs.append({"table": name, "method": None, "error": exc.message})
    final = check(config, encoder)
    final["before"] = {"problems": first["problems"]}
    final["repairs"] = repairs
    lost = [m for r in repairs for m in r.get("lost", [])]
    lost_rows = sum(r.get("lost_rows", 0) for r in repairs)
    final["lost"], final["lost_rows"] = lost, lost_rows
    if final["status"] != "healthy" or any(r.get("error") for r in repairs):
        final["status"] = "unrepairable"
    else:
        final["status"] = "repaired_with_loss" if lost or lost_rows else "repaired"
    return final


def format_report(report: dict[str, Any]) -> str:
    lines = [f"store {report['store']}: {report['status'].replace('_', ' ')}"]
    for name, t in sorted(report["tables"].items()):
        state = "ok" if t["readable"] else "UNREADABLE"
        lines.append(f"  {name:<14} {t.get('rows', t.get('rows_manifest', '?'))!s:>8} rows  "
                     f"{t.get('versions', '?')} versions  {state}")
    caches = report.get("caches")
    if caches:
        lines.append(f"  caches rebuilt: {caches['records']} records, {caches['memories']} active, "
                     f"{caches['keys']} keys; counts {'agree' if caches['agree'] else 'DISAGREE'}")
    orphans = report.get("orphans_removed", {})
    if orphans.get("files"):
        lines.append(f"  removed {orphans['files']} orphaned file(s) of failed writes ({orphans['bytes']:,} bytes)")
    for r in report.get("repairs", []):
        lines.append(f"  repaired {r['table']}: {r.get('method') or 'NOT repaired: ' + r.get('error', '')}")
    for p in report.get("problems", []) if report["status"] != "healthy" else ():
        lines.append(f"  problem: {p}")
    if report.get("lost"):
        lines.append(f"  could not recover {len(report['lost'])} memories:")
        lines += [f"    {m['id']}  {m['text'] or '(text unknown)'}" for m in report["lost"][:50]]
    if report.get("lost_rows"):
        lines.append(f"  {report['lost_rows']} rows of the damaged files were lost (their ids were only in those files)")
    if report["status"] == "damaged":
        lines.append("  run `nuonuo doctor --repair` to restore it from an earlier version or a backup")
    return "\n".join(lines)
