"""LanceDB persistence: the single source of truth.

Tables:
- ``memories``: one row per memory (see ``memory_schema``);
- ``meta``: ``name → value`` strings: ``schema_version``, the encoder's name and dimension, seeds.

Other modules add their own tables through numbered migrations (``nuonuo/migrations.py``).
Everything in RAM is a cache rebuilt from these tables at open. A write returns only after
LanceDB has committed a new table version, so an acknowledged memory survives a crash.

Faults. Every table handed out is wrapped (``GuardedTable``) so that a storage failure of LanceDB,
pyarrow or the OS (a full disk, a damaged file, permission denied, a read-only file system) comes
out as a ``StoreError`` whose one sentence says what failed, on which table (and file), whether
anything acknowledged was lost, and what to do (``storage_error``). A local store deletes, when it
is opened (its writer holds the store lock), the files of writes that failed before their commit.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa

import nuonuo.store_files as store_files
from nuonuo.errors import NuonuoError, StoreDamaged, StoreError, StoreFull, StoreLocked
from nuonuo.records import MemoryRecord


def memory_schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("namespace", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("key", pa.string()),            # the key as the user wrote it
        pa.field("key_canonical", pa.string()),  # canonical form (nuonuo.canonical), for lookup
        pa.field("vector", pa.list_(pa.float32(), dim)),
        pa.field("created_at", pa.float64()),
        pa.field("updated_at", pa.float64()),
        pa.field("last_access", pa.float64()),
        pa.field("importance", pa.float32()),
        pa.field("access_count", pa.int64()),
        pa.field("metadata", pa.string()),       # JSON object
        pa.field("sha256", pa.string()),
        pa.field("status", pa.string()),         # active | superseded | merged
    ])


META_SCHEMA = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("value", pa.string())])


def sql_str(value: str) -> str:
    """A string literal for a LanceDB filter (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def id_filter(ids: Iterable[str]) -> str:
    return "id IN (" + ", ".join(sql_str(i) for i in ids) + ")"


# --- faults ---------------------------------------------------------------------------------------
_FULL = ("no space left on device", "os error 28", "file too large", "os error 27", "disk quota exceeded",
         "os error 122")
_READ_ONLY = ("read-only file system", "os error 30")
_DENIED = ("permission denied", "os error 13", "operation not permitted", "os error 1)")
_DAMAGED = ("failed to fill whole buffer", "unexpected eof", "corrupt", "invalid magic", "checksum",
            "error decoding", "failed to decode", "invalid protobuf", "out of range for slice",
            "invalid footer", "not a lance file", "object at location")
_STORAGE = ("lance error", "lanceerror", "io error", "ioerror", "os error", "arrow")
_ERRNO = {errno.ENOSPC: "full", errno.EFBIG: "full", errno.EDQUOT: "full", errno.EROFS: "read_only",
          errno.EACCES: "denied", errno.EPERM: "denied", errno.EIO: "damaged"}
WRITES = frozenset({"add", "delete", "execute", "update", "optimize", "restore", "create_table",
                    "cleanup_old_versions", "compact_files", "drop_table", "merge", "add_columns"})


def _cause(exc: BaseException) -> str:
    """The OS's words from a LanceDB/pyarrow message, without the Rust source location."""
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"^(lance error: )?(LanceError\(\w+\): )?", "", text)
    text = re.sub(r",\s*/\S+\.rs:\d+:\d+\s*$", "", text)
    text = re.sub(r"^Generic \w+ error: ", "", text)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _fault_kind(exc: BaseException) -> str | None:
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    text = str(exc).lower()
    if "not found" in text and ".lance/" in text:  # a data or deletion file a version names is gone
        return "damaged"
    for kind, words in (("full", _FULL), ("read_only", _READ_ONLY), ("denied", _DENIED), ("damaged", _DAMAGED)):
        if any(w in text for w in words):
            return kind
    if isinstance(exc, OSError) or any(w in text for w in _STORAGE) or type(exc).__module__.startswith("pyarrow"):
        return "other"
    return None


def storage_error(exc: BaseException, uri: str, table: str | None, action: str = "read") -> NuonuoError | None:
    """The ``StoreError`` for a storage failure (None when ``exc`` is not one: a bug stays a bug).

    ``action`` is "write" or "read": a failed write stored nothing, so nothing acknowledged is lost."""
    if isinstance(exc, NuonuoError):
        return exc
    kind = _fault_kind(exc)
    if kind is None:
        return None
    cause = _cause(exc)
    what = f"the {table} table" if table else "the store"
    doing = "writing" if action == "write" else "reading"
    kept = ("nothing acknowledged was lost (this write was not stored)" if action == "write"
            else "nothing was changed")
    if kind == "full":
        return StoreFull(f"disk full: {doing} {what} in {uri} failed ({cause}); {kept}; free space "
                         "(or raise the file-size limit) and retry")
    if kind == "damaged":
        files = store_files.damaged_files(uri, table) if table else []
        where = f" (damaged file{'s' if len(files) > 1 else ''}: {', '.join(files)})" if files else ""
        return StoreDamaged(f"the store is damaged: {doing} {what} in {uri} failed ({cause}){where}; what it "
                            "holds cannot be read until repaired: run `nuonuo doctor` to check and "
                            "`nuonuo doctor --repair` to restore it from an earlier version or a backup")
    if kind == "read_only":
        return StoreError(f"read-only file system: {doing} {what} in {uri} failed ({cause}); {kept}; "
                          "remount it writable or point NUONUO_HOME elsewhere, and retry")
    if kind == "denied":
        return StoreError(f"permission denied: {doing} {what} in {uri} failed ({cause}); {kept}; give this "
                          "user read and write access to the store's folder, and retry")
    return StoreError(f"storage error: {doing} {what} in {uri} failed ({cause}); {kept}; "
                      "run `nuonuo doctor` to check the store")


class GuardedTable:
    """A LanceDB table (or one of its query/merge builders) whose every call turns a storage failure
    into a ``StoreError`` (see ``storage_error``). Attributes and results pass through unchanged."""

    __slots__ = ("_obj", "_uri", "_table", "_write")

    def __init__(self, obj: Any, uri: str, table: str, write: bool = False):
        self._obj, self._uri, self._table, self._write = obj, uri, table, write

    def _fail(self, exc: BaseException, name: str) -> BaseException:
        action = "write" if (self._write or name in WRITES) else "read"
        return storage_error(exc, self._uri, self._table, action) or exc

    def __getattr__(self, name: str) -> Any:
        try:
            attr = getattr(self._obj, name)
        except AttributeError:
            raise
        except Exception as exc:  # a property that reads (``version``)
            raise self._fail(exc, name) from None
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                out = attr(*args, **kwargs)
            except Exception as exc:
                err = self._fail(exc, name)
                if err is exc:
                    raise
                raise err from None
            if type(out).__module__.startswith("lancedb") and out is not self._obj:
                return GuardedTable(out, self._uri, self._table, self._write or name == "merge_insert")
            return self if out is self._obj else out

        return call

    def __repr__(self) -> str:
        return f"GuardedTable({self._obj!r})"


class StoreLock:
    """An exclusive ``flock`` on ``<home>/store.lock``: one writing process per store.

    The kernel drops the lock when the process dies, so a crash never leaves a stale lock."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout_s: float) -> None:
        import time

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                    os.close(fd)
                    raise StoreLocked(
                        f"the store in {self.path.parent} is in use by pid {holder}. If that is the nuonuo "
                        "daemon, go through it (the CLI and plugins do so by themselves) or run "
                        "`nuonuo daemon stop`; otherwise stop that process, or run `nuonuo daemon start` "
                        "so that every client shares the store"
                    ) from None
                time.sleep(0.05)
        try:  # the holder's pid, for the message a second writer gets; on a full disk it stays unsaid
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Store:
    """Thin typed access to the LanceDB tables (each wrapped in ``GuardedTable``)."""

    read_only = False  # True for ``nuonuo.store_snapshot.SnapshotStore``

    def __init__(self, uri: str, dim: int, storage_options: dict[str, str] | None = None,
                 migrate: bool = True):
        import nuonuo.lazy_imports as lazy_imports

        lancedb = lazy_imports.lancedb()  # without the namespace REST client a local store never uses

        self.uri = uri
        self.dim = dim
        try:
            self.db = lancedb.connect(uri, storage_options=storage_options or None)
        except Exception as exc:
            err = storage_error(exc, uri, None, "read")
            raise (err or StoreError(f"cannot open the store at {uri}: {exc}")) from None
        self.orphans_removed = self.clean_orphans() if "://" not in uri else (0, 0)
        if migrate:
            from nuonuo.migrations import migrate as run_migrations

            run_migrations(self)

    def guard(self, fn, table: str | None, action: str, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with a storage failure turned into its ``StoreError``."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            err = storage_error(exc, self.uri, table, action)
            if err is None:
                raise
            raise err from None

    # --- tables -------------------------------------------------------------------------------
    def table_names(self) -> list[str]:
        def names() -> list[str]:
            result = self.db.table_names() if not hasattr(self.db, "list_tables") else self.db.list_tables()
            return list(getattr(result, "tables", result))

        return self.guard(names, None, "read")

    def table(self, name: str) -> GuardedTable:
        return GuardedTable(self.guard(self.db.open_table, name, "read", name), self.uri, name)

    def ensure_table(self, name: str, schema: pa.Schema) -> GuardedTable:
        if name in self.table_names():
            return self.table(name)
        tbl = self.guard(self.db.create_table, name, "write", name, schema=schema, exist_ok=True)
        return GuardedTable(tbl, self.uri, name)

    @property
    def memories(self) -> GuardedTable:
        return self.table("memories")

    def clean_orphans(self, min_age_s: float = 0.0) -> tuple[int, int]:
        """Delete the files of writes that failed before their commit (local store only; the caller
        holds the store lock, or ``min_age_s`` keeps files a write in progress may still commit).
        Returns (files, bytes) removed."""
        count = freed = 0
        try:
            names = self.table_names()
        except StoreError:
            return 0, 0
        for name in names:
            found = store_files.orphans(self.uri, name, min_age_s)
            count += len(found)
            freed += store_files.remove(found)
        return count, freed

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, name: str, default: str | None = None) -> str | None:
        tbl = self.ensure_table("meta", META_SCHEMA)
        rows = tbl.search().where(f"name = {sql_str(name)}").limit(1).to_list()
        return rows[0]["value"] if rows else default

    def set_meta(self, name: str, value: str) -> None:
        tbl = self.ensure_table("meta", META_SCHEMA)
        data = pa.Table.from_pylist([{"name": name, "value": value}], schema=META_SCHEMA)
        tbl.merge_insert("name").when_matched_update_all().when_not_matched_insert_all().execute(data)

    def check_encoder(self, name: str, dim: int) -> None:
        """Record the encoder a new store is made with; ``StoreError`` if the store holds vectors of
        another dimension."""
        stored, stored_dim = self.get_meta("encoder"), self.get_meta("encoder_dim")
        if stored is None:
            self.set_meta("encoder", name)
            self.set_meta("encoder_dim", str(dim))
        elif int(stored_dim or 0) != dim:
            raise StoreError(
                f"the store at {self.uri} holds {stored_dim}-dimensional vectors from {stored}, but the "
                f"configured encoder {name} makes {dim}; use the same encoder or export, then import "
                "into a new home")

    # --- memories -----------------------------------------------------------------------------
    def records_to_arrow(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> pa.Table:
        schema = memory_schema(self.dim)
        cols: dict[str, Any] = {
            "id": [r.id for r in records],
            "namespace": [r.namespace for r in records],
            "text": [r.text for r in records],
            "key": [r.key for r in records],
            "key_canonical": [r.key_canonical for r in records],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1)), self.dim),
            "created_at": [r.created_at for r in records],
            "updated_at": [r.updated_at for r in records],
            "last_access": [r.last_access for r in records],
            "importance": [r.importance for r in records],
            "access_count": [r.access_count for r in records],
            "metadata": [json.dumps(r.metadata, ensure_ascii=False) for r in records],
            "sha256": [r.sha256 for r in records],
            "status": [r.status for r in records],
        }
        return pa.Table.from_pydict(cols, schema=schema)

    def add(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        if records:
            self.memories.add(self.records_to_arrow(records, vectors))

    def upsert(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        """Insert or replace whole rows by id, in one commit."""
        if records:
            data = self.records_to_arrow(records, vectors)
            (self.memories.merge_insert("id").when_matched_update_all()
             .when_not_matched_insert_all().execute(data))

    def delete(self, ids: Sequence[str], table: str = "memories") -> None:
        """Delete the rows of ``ids`` (column ``id``) from ``table``, 500 ids per commit."""
        for start in range(0, len(ids), 500):
            self.table(table).delete(id_filter(ids[start:start + 500]))

    def load_all(self) -> pa.Table:
        return self.memories.to_arrow()

    def derived(self, name: str) -> dict[str, np.ndarray] | None:
        """What a component built from the tables, kept for the next reader of the same state (a
        snapshot's readers: ``SnapshotStore``); a live store keeps none, its readers build."""
        return None

    def keep_derived(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Leave ``arrays`` for the next reader of the same state (only a snapshot does)."""

    def count(self) -> int:
        return self.memories.count_rows()

    def compact(self) -> None:
        """Merge small fragments and drop old versions (LanceDB ``optimize``).

        A local store has one process (the store lock), so every old version can go at once. An
        object-storage store may be read by other daemons at the same moment: versions younger
        than an hour stay, so a reader in the middle of a query never loses its files."""
        import warnings
        from datetime import timedelta

        keep = timedelta(hours=1) if "://" in self.uri else timedelta(seconds=0)
        for name in self.table_names():
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
                self.table(name).optimize(cleanup_older_than=keep)
        if "://" not in self.uri:  # files of failed writes; a write of this process may be running
            self.clean_orphans(min_age_s=600)


def record_from_row(row: dict[str, Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row["id"], text=row["text"], namespace=row["namespace"], key=row.get("key"),
        metadata=metadata_of(row.get("metadata")), created_at=row["created_at"] or 0.0,
        updated_at=row["updated_at"] or 0.0, last_access=row["last_access"] or 0.0,
        importance=float(row["importance"] or 0.0), access_count=int(row["access_count"] or 0),
        sha256=row["sha256"] or "", status=row.get("status") or "active", key_canonical=row.get("key_canonical"),
    )


def vectors_of(column: pa.ChunkedArray, dim: int) -> np.ndarray:
    """The ``(rows, dim)`` float32 vectors of a fixed-size-list column, chunk by chunk, zero-copy
    where Arrow allows (``flatten`` would import pyarrow.compute: 0.05 s of a cold CLI call)."""
    parts = [c.values.to_numpy(zero_copy_only=False)[c.offset * dim:(c.offset + len(c)) * dim] for c in column.chunks]
    return (parts[0] if len(parts) == 1 else np.concatenate(parts or [np.zeros(0, np.float32)])).reshape(-1, dim)


def records_from_table(table: pa.Table) -> list[MemoryRecord]:
    """Every row of a memories table as a record, read column by column (what an open does for
    every memory; at 100K, 0.60 s against 0.78 s through a dict per row, measured side by side)."""
    n = table.num_rows
    col = lambda name: table.column(name).to_pylist() if name in table.column_names else [None] * n  # noqa: E731
    return [MemoryRecord(id=i, text=t, namespace=ns, key=k, metadata=metadata_of(m), created_at=c or 0.0,
                         updated_at=u or 0.0, last_access=la or 0.0, importance=float(imp or 0.0),
                         access_count=int(ac or 0), sha256=sha or "", status=st or "active", key_canonical=kc)
            for i, t, ns, k, m, c, u, la, imp, ac, sha, st, kc in zip(
                col("id"), col("text"), col("namespace"), col("key"), col("metadata"), col("created_at"),
                col("updated_at"), col("last_access"), col("importance"), col("access_count"), col("sha256"),
                col("status"), col("key_canonical"))]


def metadata_of(stored: str | None) -> dict[str, Any]:
    """A record's metadata from its stored JSON (unreadable JSON: none)."""
    if not stored or stored == "{}":
        return {}
    try:
        out = json.loads(stored)
    except json.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}


# --- what a reader built per namespace, as one set of arrays (``Store.keep_derived``) ------------------
def pack_namespaces(states: dict[str, dict[str, np.ndarray]], **shared: np.ndarray) -> dict[str, np.ndarray]:
    """Each namespace's arrays under ``<i>.<name>``, their names in ``namespaces``, and ``shared``
    as they are: one flat set that ``np.savez`` writes (``unpack_namespaces`` reads it back)."""
    out = {"namespaces": np.frombuffer("\0".join(states).encode("utf-8"), np.uint8), **shared}
    for i, arrays in enumerate(states.values()):
        out.update({f"{i}.{key}": value for key, value in arrays.items()})
    return out


def unpack_namespaces(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """``pack_namespaces``'s namespaces and their arrays (``KeyError`` / ``UnicodeDecodeError``
    where ``arrays`` is not such a set)."""
    names = arrays["namespaces"].tobytes().decode("utf-8")
    parts: dict[str, dict[str, np.ndarray]] = {ns: {} for ns in (names.split("\0") if names else [])}
    order = list(parts)
    for key, value in arrays.items():
        head, _, rest = key.partition(".")
        if rest and head.isdigit() and int(head) < len(order):
            parts[order[int(head)]][rest] = value
    return parts
