"""LanceDB persistence: the single source of truth.

Tables:
- ``memories``: one row per memory (see ``memory_schema``);
- ``meta``: ``name → value`` strings: ``schema_version``, the encoder's name and dimension, seeds.

Other modules add their own tables through numbered migrations (``nuonuo/migrations.py``).
Everything in RAM is a cache rebuilt from these tables at open. A write returns only after
LanceDB has committed a new table version, so an acknowledged memory survives a crash.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa

from nuonuo.errors import StoreError, StoreLocked
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


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def id_filter(ids: Iterable[str]) -> str:
    return "id IN (" + ", ".join(_sql_str(i) for i in ids) + ")"


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
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Store:
    """Thin typed access to the LanceDB tables."""

    def __init__(self, uri: str, dim: int, storage_options: dict[str, str] | None = None):
        import lancedb

        self.uri = uri
        self.dim = dim
        try:
            self.db = lancedb.connect(uri, storage_options=storage_options or None)
        except Exception as exc:
            raise StoreError(f"cannot open the store at {uri}: {exc}") from None
        from nuonuo import migrations

        migrations.migrate(self)

    # --- tables -------------------------------------------------------------------------------
    def table_names(self) -> list[str]:
        result = self.db.table_names() if not hasattr(self.db, "list_tables") else self.db.list_tables()
        names = getattr(result, "tables", result)
        return list(names)

    def table(self, name: str):
        return self.db.open_table(name)

    def ensure_table(self, name: str, schema: pa.Schema):
        if name in self.table_names():
            return self.db.open_table(name)
        return self.db.create_table(name, schema=schema, exist_ok=True)

    @property
    def memories(self):
        return self.db.open_table("memories")

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, name: str, default: str | None = None) -> str | None:
        tbl = self.ensure_table("meta", META_SCHEMA)
        rows = tbl.search().where(f"name = {_sql_str(name)}").limit(1).to_list()
        return rows[0]["value"] if rows else default

    def set_meta(self, name: str, value: str) -> None:
        tbl = self.ensure_table("meta", META_SCHEMA)
        data = pa.Table.from_pylist([{"name": name, "value": value}], schema=META_SCHEMA)
        tbl.merge_insert("name").when_matched_update_all().when_not_matched_insert_all().execute(data)

    # --- memories -----------------------------------------------------------------------------
    def records_to_arrow(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> pa.Table:
        schema = memory_schema(self.dim)
        cols: dict[str, Any] = {
            "id": [r.id for r in records],
            "namespace": [r.namespace for r in records],
            "text": [r.text for r in records],
            "key": [r.key for r in records],
            "key_canonical": [getattr(r, "_key_canonical", None) for r in records],
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

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 500):
            self.memories.delete(id_filter(ids[start:start + 500]))

    def load_all(self) -> pa.Table:
        return self.memories.to_arrow()

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
                self.db.open_table(name).optimize(cleanup_older_than=keep)


def record_from_row(row: dict[str, Any]) -> MemoryRecord:
    try:
        metadata = json.loads(row.get("metadata") or "{}")
    except json.JSONDecodeError:
        metadata = {}
    rec = MemoryRecord(
        id=row["id"], text=row["text"], namespace=row["namespace"], key=row.get("key"),
        metadata=metadata, created_at=row["created_at"] or 0.0, updated_at=row["updated_at"] or 0.0,
        last_access=row["last_access"] or 0.0, importance=float(row["importance"] or 0.0),
        access_count=int(row["access_count"] or 0), sha256=row["sha256"] or "",
        status=row.get("status") or "active",
    )
    rec._key_canonical = row.get("key_canonical")  # type: ignore[attr-defined]
    return rec
