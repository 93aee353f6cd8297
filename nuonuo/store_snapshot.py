"""A read-only copy of the tables an open reads, for short processes (a cold ``nuonuo recall``).

``import lancedb`` costs a short process about 0.5–1 s, more than everything else a recall does
on a small store. A local store's CLI therefore keeps, in ``<home>/snapshot/``, the tables
``Memory`` reads at open (``meta``, ``memories``, ``associations``, ``hebbian_w``, ``sentence_keys``)
as Arrow IPC files, which pyarrow (imported anyway) reads without LanceDB.

Coherence. The snapshot records the store's *fingerprint*: for every table folder, the name, size
and modification time of each manifest in ``_versions/``. Every LanceDB commit writes a new
manifest (versions only grow; a table dropped and made again has new modification times), so the
snapshot is used only while the store is exactly as it was when the snapshot was taken: any write
by any process, a restore or a repair makes it stale, and a stale snapshot is never read. Both the
reader and the writer of a snapshot hold the store lock (``nuonuo.store.StoreLock``).

Writes. ``SnapshotStore`` refuses every write (``ReadOnlyStore``). The only writes a recall makes
are bookkeeping: access counts and co-recall pairs. A process reading a snapshot appends them to
``<home>/pending-access.jsonl``; the next process that opens the store itself applies them
(``read_pending``) and then removes the file (``clear_pending``).

Caches. What a reader builds from the tables and would build again each time (the n-gram
indexes: tokenising every text is most of a cold open of a large store) it may leave beside the
snapshot (``SnapshotStore.keep_derived``, an ``.npz`` tagged with the snapshot's fingerprint) for the
next reader of the same snapshot. A write makes a new snapshot folder, so the writes of the CLI
never pay for it; the first read after a write builds and leaves it.

Object storage (``s3://…``) has no snapshot: ``fingerprint`` returns None.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from nuonuo.errors import StoreError
from nuonuo.records import MemoryRecord
from nuonuo.store import GuardedTable, Store

SNAPSHOT_TABLES = ("meta", "memories", "associations", "hebbian_w", "sentence_keys")
FORMAT = 1
FOLDER = "snapshot"
PENDING = "pending-access.jsonl"


class ReadOnlyStore(StoreError):
    """A write reached a store opened from its snapshot."""


def fingerprint(uri: str) -> str | None:
    """A digest of every table's manifests (name, size, mtime), or None for a remote or missing store."""
    if "://" in uri or not Path(uri).is_dir():
        return None
    parts: list[str] = []
    try:
        for folder in sorted(Path(uri).glob("*.lance")):
            for path in sorted((folder / "_versions").glob("*.manifest")):
                st = path.stat()
                parts.append(f"{folder.name}/{path.name}:{st.st_size}:{st.st_mtime_ns}")
    except OSError:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest() if parts else None


def saved_fingerprint(home: Path) -> str | None:
    """The fingerprint the snapshot in ``home`` was taken at (None if there is none or it is unreadable)."""
    try:
        info = json.loads((home / FOLDER / "snapshot.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("fingerprint") if isinstance(info, dict) and info.get("format") == FORMAT else None


def save(store: Any, home: Path) -> bool:
    """Copy the tables an open reads into ``home/snapshot`` (the caller holds the store lock and has
    no write pending). Returns whether a snapshot was written: never for a remote store, one whose
    sleep run is half done, or where the disk refuses (a snapshot is a cache: the store is unharmed)."""
    fp = fingerprint(store.uri)
    if fp is None or fp == saved_fingerprint(home) or store.get_meta("sleep_pending"):
        return False
    names = set(store.table_names())
    tmp, final = home / (FOLDER + ".tmp"), home / FOLDER
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        for name in SNAPSHOT_TABLES:
            if name in names:
                data = store.table(name).to_arrow()
                with ipc.new_file(str(tmp / f"{name}.arrow"), data.schema) as writer:
                    writer.write_table(data)
        (tmp / "snapshot.json").write_text(json.dumps({"format": FORMAT, "fingerprint": fp, "dim": store.dim}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except (OSError, pa.ArrowException):
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True


def load(home: Path, uri: str, dim: int) -> "SnapshotStore | None":
    """The snapshot of the store at ``uri`` if it is exactly the store's present state, else None.
    The caller holds the store lock."""
    fp = fingerprint(uri)
    if fp is None or fp != saved_fingerprint(home):
        return None
    tables: dict[str, pa.Table] = {}
    try:
        for name in SNAPSHOT_TABLES:
            path = home / FOLDER / f"{name}.arrow"
            if path.exists():
                with ipc.open_file(pa.memory_map(str(path))) as reader:  # mapped: read as used, not copied
                    tables[name] = reader.read_all()
    except (OSError, pa.ArrowException):
        return None  # a damaged snapshot is no snapshot: the store itself is read instead
    if "memories" not in tables or "meta" not in tables:
        return None
    return SnapshotStore(uri, dim, tables, home / FOLDER, fp)


class SnapshotTable:
    """One table of a snapshot: reads only (handed out wrapped in ``GuardedTable``, like LanceDB's)."""

    def __init__(self, name: str, data: pa.Table):
        self.name = name
        self.data = data

    def to_arrow(self) -> pa.Table:
        return self.data

    def count_rows(self) -> int:
        return self.data.num_rows

    def __getattr__(self, attr: str) -> Any:  # add, delete, merge_insert, search, version, …
        raise ReadOnlyStore(f"the {self.name} table was read from its snapshot, which cannot {attr}")


class SnapshotStore(Store):
    """The reads of ``Store`` that an open and a recall make, from a snapshot; every write refused."""

    read_only = True

    def __init__(self, uri: str, dim: int, tables: dict[str, pa.Table], folder: Path | None = None,
                 fp: str = ""):  # no LanceDB: no super().__init__
        self.uri = uri
        self.dim = dim
        self.folder = folder  # where the snapshot is, and the caches of what its readers built
        self.fingerprint = fp
        self.orphans_removed = (0, 0)
        self.tables = tables
        meta = tables["meta"].to_pydict()
        self.meta = dict(zip(meta["name"], meta["value"]))

    def derived(self, name: str) -> dict[str, np.ndarray] | None:
        """What the first reader of this snapshot built and left (``keep_derived``), or None: none
        kept, kept for another snapshot, or unreadable (a cache: the reader builds instead)."""
        if self.folder is None:
            return None
        try:
            with np.load(self.folder / f"{name}.npz", allow_pickle=False) as saved:
                if saved["fingerprint"].tobytes().decode("utf-8") != self.fingerprint:
                    return None
                return {key: saved[key] for key in saved.files if key != "fingerprint"}
        except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile):
            return None

    def keep_derived(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Leave ``arrays`` beside the snapshot for its next readers, tagged with its fingerprint; a
        new snapshot replaces the folder, and the cache with it. A disk that refuses costs nothing."""
        if self.folder is None:
            return
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            payload: dict[str, Any] = {"fingerprint": np.frombuffer(self.fingerprint.encode("utf-8"), np.uint8), **arrays}
            with open(tmp, "wb") as fh:
                np.savez(fh, **payload)
            os.replace(tmp, self.folder / f"{name}.npz")
        except OSError:
            tmp.unlink(missing_ok=True)

    def refuse(self, action: str) -> ReadOnlyStore:
        return ReadOnlyStore(f"the store was read from its snapshot, which cannot {action}")

    def table_names(self) -> list[str]:
        return list(self.tables)

    def table(self, name: str) -> GuardedTable:
        if name not in self.tables:
            raise self.refuse(f"open the {name} table (not in the snapshot)")
        return GuardedTable(SnapshotTable(name, self.tables[name]), self.uri, name)

    def ensure_table(self, name: str, schema: pa.Schema) -> GuardedTable:
        return self.table(name)

    def clean_orphans(self, min_age_s: float = 0.0) -> tuple[int, int]:
        return 0, 0

    def get_meta(self, name: str, default: str | None = None) -> str | None:
        return self.meta.get(name, default)

    def set_meta(self, name: str, value: str) -> None:
        raise self.refuse("set_meta")

    def upsert(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        raise self.refuse("upsert")

    def load_all(self) -> pa.Table:
        return self.tables["memories"]

    def count(self) -> int:
        return self.tables["memories"].num_rows

    def compact(self) -> None:
        raise self.refuse("compact")


# --- bookkeeping a snapshot reader could not write ------------------------------------------------
def append_pending(home: Path, access: dict[str, tuple[int, float]], pairs: Sequence[tuple[str, str]]) -> bool:
    """Access counts (id → (count, last access)) and co-recall pairs, for the next full open.
    Returns False where the disk refused them: they are bookkeeping, and a recall that has answered
    does not fail over them."""
    if not access and not pairs:
        return True
    line = json.dumps({"access": access, "corecall": [list(p) for p in pairs]})
    try:
        fd = os.open(home / PENDING, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, ("\n" + line + "\n").encode())  # on a line of its own even after a torn one
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def read_pending(home: Path) -> tuple[dict[str, tuple[int, float]], list[tuple[str, str]]]:
    """Everything appended since the last ``clear_pending``, summed per memory; a torn or
    unreadable line (a crash mid-append) is skipped: it is bookkeeping, not a memory."""
    access: dict[str, tuple[int, float]] = {}
    pairs: list[tuple[str, str]] = []
    try:
        lines: Iterable[str] = (home / PENDING).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return access, pairs
    for line in lines:
        try:
            entry = json.loads(line)
            for mid, (n, last) in entry.get("access", {}).items():
                had_n, had_last = access.get(mid, (0, 0.0))
                access[mid] = (had_n + int(n), max(had_last, float(last)))
            pairs.extend((str(a), str(b)) for a, b in entry.get("corecall", []))
        except (ValueError, TypeError, AttributeError):
            continue
    return access, pairs


def clear_pending(home: Path) -> None:
    try:
        (home / PENDING).unlink(missing_ok=True)
    except OSError as exc:  # left in place it would be applied again at every open
        raise StoreError(f"cannot remove {home / PENDING} after applying it ({exc.strerror or exc}); "
                         "give this user write access to the folder and retry") from None
