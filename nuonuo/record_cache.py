"""The in-RAM caches of ``Memory``'s records, rebuilt from the store at open: every record by id,
the ids of each (namespace, canonical key) oldest first (a key's history), the active record of
each (namespace, key, content hash) (exact duplicates), and each namespace's pattern index (the
active memories' vectors, ``nuonuo.hopfield.PatternIndex``). Not thread-safe: ``Memory`` holds its
lock around every call.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from nuonuo.hopfield import PatternIndex
from nuonuo.records import MemoryRecord

from nuonuo.store import pack_namespaces, unpack_namespaces

if TYPE_CHECKING:
    from nuonuo.store import Store

IVF_DERIVED = "ivf"  # the IVF indexes a snapshot's first reader built (``Store.derived``)


class RecordCache:
    """See the module docstring; the four mappings are read by ``Memory`` directly."""

    def __init__(self, dim: int):
        self.dim = dim
        self.records: dict[str, MemoryRecord] = {}
        self.patterns: dict[str, PatternIndex] = {}
        self.by_hash: dict[tuple[str, str, str], str] = {}
        self.keys: dict[tuple[str, str], list[str]] = {}  # (ns, canonical key) → ids, oldest first
        self.accessed: dict[str, int] = {}  # id → accesses counted here, not yet written
        self.ivf_kept: set[str] = set()  # namespaces whose IVF index the store has (``keep_ivf``)

    # --- accesses: bookkeeping for sleep, written in batches -----------------------------------------
    def touch(self, ids: Iterable[str], now: float) -> int:
        """Count an access of each id; returns how many memories have accesses not yet written."""
        for mid in ids:
            self._count(mid, 1, now)
        return len(self.accessed)

    def add_accesses(self, access: dict[str, tuple[int, float]]) -> None:
        """Accesses counted elsewhere (id → (count, last access)), as if counted here."""
        for mid, (n, last) in access.items():
            self._count(mid, n, last)

    def _count(self, mid: str, n: int, last: float) -> None:
        rec = self.records.get(mid)
        if rec is not None:
            rec.access_count += n
            rec.last_access = max(rec.last_access or 0.0, last)
            self.accessed[mid] = self.accessed.get(mid, 0) + n

    def take_accesses(self) -> dict[str, tuple[int, float]]:
        """The accesses not yet written (id → (count, last access)); they are then no longer pending."""
        out = {m: (n, self.records[m].last_access) for m, n in self.accessed.items() if m in self.records}
        self.accessed.clear()
        return out

    def sort_keys(self) -> None:
        """Each key's values oldest first (after a load: rows come in storage order)."""
        for ids in self.keys.values():
            ids.sort(key=lambda m: self.records[m].created_at)

    def index(self, recs: Sequence[MemoryRecord], vectors: np.ndarray, store: "Store | None" = None) -> None:
        """Put records (and the active ones' vectors) into the in-RAM caches. From a ``store`` that
        keeps the IVF indexes a first reader built (a snapshot: ``keep_ivf``), a namespace's new
        pattern index takes its rows in its IVF's order, and the IVF with them."""
        by_ns: dict[str, list[int]] = {}
        for i, rec in enumerate(recs):
            self.records[rec.id] = rec
            canon = rec.key_canonical
            if canon:
                self.keys.setdefault((rec.namespace, canon), []).append(rec.id)
            if rec.status == "active":
                self.by_hash[(rec.namespace, canon or "", rec.sha256)] = rec.id
                by_ns.setdefault(rec.namespace, []).append(i)
        kept = self._kept_ivf(store) if store is not None else {}
        for ns, idx in by_ns.items():
            index = self.patterns.setdefault(ns, PatternIndex(self.dim))
            times = np.array([recs[i].created_at for i in idx])
            index.add([recs[i].id for i in idx], vectors, times, rows=np.array(idx), ivf=kept.get(ns))
            if ns in kept and index.has_ivf:
                self.ivf_kept.add(ns)

    def supersede(self, fresh: list[MemoryRecord]) -> list[MemoryRecord]:
        """A new value for a key makes the key's active value 'superseded' (kept as history)."""
        old: list[MemoryRecord] = []
        latest: dict[tuple[str, str], MemoryRecord] = {}
        for rec in fresh:
            canon = rec.key_canonical
            if not canon:
                continue
            k = (rec.namespace, canon)
            prev = latest.get(k)
            if prev is None or rec.created_at >= prev.created_at:
                latest[k] = rec
        for k, rec in latest.items():
            for mid in self.keys.get(k, []):
                cur = self.records[mid]
                if cur.status == "active" and cur.created_at <= rec.created_at:
                    cur.status = "superseded"
                    cur.updated_at = time.time()
                    old.append(cur)
            for other in fresh:  # older values in the same batch
                if other is not rec and other.key_canonical == k[1] and other.namespace == k[0]:
                    other.status = "superseded"
        return old

    def unindex_active(self, rec: MemoryRecord) -> None:
        self.by_hash.pop((rec.namespace, rec.key_canonical or "", rec.sha256), None)
        index = self.patterns.get(rec.namespace)
        if index is not None:
            index.remove(rec.id)

    def index_active(self, rec: MemoryRecord, vector: np.ndarray) -> None:
        """An active record (already in ``records``) back into the duplicate and pattern indexes."""
        self.by_hash[(rec.namespace, rec.key_canonical or "", rec.sha256)] = rec.id
        self.patterns.setdefault(rec.namespace, PatternIndex(self.dim)).add(
            [rec.id], vector[None, :], np.array([rec.created_at]))

    def replace(self, records: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        """Changed records (same ids) in place of the cached ones; returns those that stopped being
        active (they leave the active indexes and stay records)."""
        left: list[MemoryRecord] = []
        for new in records:
            old = self.records[new.id]
            if new.status != "active" and old.status == "active":
                self.unindex_active(old)
                left.append(new)
            self.records[new.id] = new
        return left

    def drop(self, rec: MemoryRecord) -> None:
        """A deleted record out of every cache."""
        self.accessed.pop(rec.id, None)
        if rec.status == "active":
            self.unindex_active(rec)
        self.records.pop(rec.id, None)
        canon = rec.key_canonical
        if canon:
            ids = self.keys.get((rec.namespace, canon), [])
            if rec.id in ids:
                ids.remove(rec.id)

    def pattern_vector(self, rec: MemoryRecord) -> np.ndarray | None:
        index = self.patterns.get(rec.namespace)
        return index.vector(rec.id) if index is not None else None

    def counts(self) -> dict[str, int]:
        """Active memories, superseded or merged ones kept as history, and keys with a value."""
        active = sum(1 for r in self.records.values() if r.status == "active")
        return {"memories": active, "history": len(self.records) - active,
                "keys": sum(1 for ids in self.keys.values() if ids)}

    def dedupe(self, prepared: list[MemoryRecord]) -> tuple[list[str], list[MemoryRecord]]:
        """Ids in input order (the stored id for an exact duplicate in the namespace under the same
        key, in the store or earlier in ``prepared``) and the records still to store."""
        ids: list[str] = []
        fresh: list[MemoryRecord] = []
        seen: dict[tuple[str, str, str], str] = {}
        for rec in prepared:
            dkey = (rec.namespace, rec.key_canonical or "", rec.sha256)
            existing = self.by_hash.get(dkey) or seen.get(dkey)
            if existing:
                ids.append(existing)
                continue
            seen[dkey] = rec.id
            fresh.append(rec)
            ids.append(rec.id)
        return ids, fresh

    # --- IVF indexes kept beside a store's snapshot ----------------------------------------------------
    @staticmethod
    def _kept_ivf(store: "Store") -> dict[str, dict[str, np.ndarray]]:
        """Each namespace's IVF state as a snapshot's first reader left it; {} where none was left
        (LanceDB itself, or a snapshot nobody searched yet) or it is not one."""
        state = store.derived(IVF_DERIVED)
        try:
            return unpack_namespaces(state) if state else {}
        except (KeyError, UnicodeDecodeError):
            return {}

    def keep_ivf(self, store: "Store") -> None:
        """Leave the IVF indexes this process built beside the store's snapshot for its next readers
        (k-means and the assignment of every row: ~1 s at 100K memories); nothing where none is new."""
        states = {ns: st for ns, index in self.patterns.items() if (st := index.ivf_state()) is not None}
        if not states or set(states) <= self.ivf_kept:
            return
        store.keep_derived(IVF_DERIVED, pack_namespaces(states))
        self.ivf_kept = set(states)
