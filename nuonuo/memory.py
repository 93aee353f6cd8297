"""The ``Memory`` facade: the public Python API (see DESIGN.md, "Public surfaces").

    with Memory.open() as mem:
        rec  = mem.remember("My sister Lena lives in Porto")
        hits = mem.recall("where does my sister live?")

LanceDB is written first; the in-RAM caches (records, per-namespace pattern matrices, and the
indexes other components keep) are updated after the write commits. Components (the Engram
key/n-gram index, the Hebbian association memory, …) plug in through ``Component``
(``nuonuo.component``): they receive this object as a ``MemoryView`` and never import it.
"""

from __future__ import annotations

import builtins  # annotations inside Memory, where `list` is the method
import dataclasses
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from nuonuo.associations import AssociationMemory
from nuonuo.canonical import canonical_key
from nuonuo.component import Component
from nuonuo.config import Config, load_config
from nuonuo.consolidation import consolidate as run_consolidation
from nuonuo.consolidation import recover_interrupted_run
from nuonuo.conversation import ConversationIndex
from nuonuo.encoder import Encoder, load_encoder
from nuonuo.engram import EngramComponent
from nuonuo.errors import InvalidInput, NotFound, StoreError
from nuonuo.hopfield import PatternIndex
from nuonuo.recall import recall as run_recall
from nuonuo.record_cache import RecordCache
import nuonuo.memtrim as memtrim
from nuonuo.pipeline import encode_and_commit
from nuonuo.records import Hit, MemoryRecord, export_line, to_epoch
from nuonuo.sentence_index import SentenceIndex
import nuonuo.store_snapshot as store_snapshot
from nuonuo.store import Store, StoreLock, records_from_table, vectors_of
from nuonuo.store_snapshot import ReadOnlyStore
from nuonuo.validate import (check_importance, check_k, check_metadata, check_namespace, check_text, check_vectors,
                             content_hash, prepare)

if TYPE_CHECKING:
    from nuonuo.chat.sessions import SessionStore


class Memory:
    """A local memory store. Thread-safe; one writing process per store (a file lock)."""

    def __init__(self, config: Config | None = None, encoder: Encoder | None = None, *, snapshot: bool = False):
        self.config = config or load_config()
        self._lock = threading.RLock()
        self._closed = False
        self._file_lock: StoreLock | None = None
        if "://" not in self.config.store_uri:
            self.config.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # private by default
            self._file_lock = StoreLock(self.config.home / "store.lock")
            self._file_lock.acquire(self.config.store.lock_timeout_s)
        try:
            enc = self.config.encoder
            self.encoder = encoder or load_encoder(enc.model, enc.max_seq_length, enc.threads)
            copy = (store_snapshot.load(self.config.home, self.config.store_uri, self.encoder.dim)
                    if snapshot and self.config.store.snapshot else None)
            if copy is not None:
                try:
                    self._build(copy)
                except ReadOnlyStore:  # this open must write (a first open, a new code space): read the store
                    copy = None
            if copy is None:
                self._build(Store(self.config.store_uri, self.encoder.dim, self.config.store.storage_options))
                self._apply_pending()
        except BaseException:
            self._release()
            raise

    def _build(self, store: Store) -> None:
        """The caches and components, from ``store`` (LanceDB, or its snapshot)."""
        self.store = store
        store.check_encoder(self.encoder.name, self.encoder.dim)
        self._cache = RecordCache(self.encoder.dim)
        self.engram = EngramComponent(self.config.engram)
        recover_interrupted_run(self.store)  # a sleep run killed halfway: back to before it
        self.hebbian = AssociationMemory(self.config.hebbian)
        self.conversations = ConversationIndex()
        self.sentences = SentenceIndex(self.config.recall.sentence_keys)
        self.components: list[Component] = [self.engram, self.hebbian, self.conversations, self.sentences]
        self._load()
        memtrim.release()  # the load's temporaries, freed but still resident (nuonuo.memtrim)
        for comp in self.components:  # each rebuilds its cache from the records
            comp.rebuild(self)
        memtrim.release()  # and the index builds' (lowers the peak: ~1.22 -> ~1.14 GB at 100K)

    # --- opening and closing ------------------------------------------------------------------
    @classmethod
    def open(cls, home: str | Path | None = None, *, config: Config | None = None,
             encoder: Encoder | None = None, snapshot: bool = False, **overrides: Mapping[str, Any]) -> "Memory":
        """Open (creating if needed) the store in ``home`` ($NUONUO_HOME, else the user data dir).

        ``overrides`` are config sections, e.g. ``recall={"beta": 8.0}``. ``snapshot``: a short process
        that only reads (a CLI recall) reads the tables from the store's snapshot while it is current,
        without LanceDB; writes are refused, access counts wait for the next open (``nuonuo.store_snapshot``)."""
        cfg = config or load_config(home, overrides=overrides or None)
        return cls(cfg, encoder, snapshot=snapshot)

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.flush()
            finally:
                self._closed = True
                self._release()

    def _release(self) -> None:
        if self._file_lock:
            self._file_lock.release()
            self._file_lock = None

    @property
    def lock(self) -> threading.RLock:
        """The lock every read and write of the caches holds (re-entrant; recall and sleep: whole runs)."""
        return self._lock

    def check_open(self) -> None:
        """``StoreError`` if this Memory is closed."""
        if self._closed:
            raise StoreError("this Memory is closed")

    def _load(self) -> None:
        table = self.store.load_all()
        if table.num_rows:
            vectors = vectors_of(table.column("vector"), self.encoder.dim)
            # from a snapshot, with the IVF indexes its first reader built (``RecordCache.keep_ivf``)
            self._cache.index(records_from_table(table), np.asarray(vectors, dtype=np.float32), self.store)
            self._cache.sort_keys()

    # --- validation -----------------------------------------------------------------------------
    def validate(self, item: Any, namespace: str = "default") -> MemoryRecord:
        """The unsaved record ``item`` (a string, or a dict with the fields of ``remember``) would
        become; ``InvalidInput`` says what is wrong (``nuonuo.validate``)."""
        return prepare(item, namespace, self.config.store.max_text_chars)

    # --- writing ----------------------------------------------------------------------------------
    def remember(self, text: str, key: str | None = None, namespace: str = "default",
                 metadata: Mapping[str, Any] | None = None, timestamp: Any = None,
                 importance: float = 0.5) -> MemoryRecord:
        """Store one memory; returns its record (the existing one if this exact text is already
        stored in the namespace under the same key). Durable when this returns."""
        item = {"text": text, "key": key, "metadata": metadata, "timestamp": timestamp, "importance": importance}
        ids = self._write([item], namespace)
        return self._cache.records[ids[0]]

    def remember_many(self, items: Iterable[Any], namespace: str = "default", batch_size: int | None = None,
                      progress: Any = None, vectors: Any = None) -> list[str]:
        """Store many memories in batches: items are strings or dicts with the fields of
        ``remember``. Every item is validated first: one bad item stores nothing (the error names
        its position). Returns the ids in input order (existing ids for duplicates).

        ``vectors``: the items' embeddings, one row per item, made beforehand with this store's
        encoder (an import, a cache); they are stored as given (rows L2-normalised) and nothing
        is encoded."""
        items = list(items)
        given = None if vectors is None else check_vectors(vectors, len(items), self.encoder.dim)
        prepared: list[MemoryRecord] = []
        for pos, item in enumerate(items):
            try:
                prepared.append(self.validate(item, namespace))
            except InvalidInput as exc:
                raise InvalidInput(f"item {pos}: {exc.message}") from None
        return self._store(prepared, batch_size or max(self.config.encoder.batch_size * 16, 256), progress, given)

    def _write(self, items: list[Any], namespace: str) -> list[str]:
        prepared = [self.validate(it, namespace) for it in items]
        return self._store(prepared, max(1, len(prepared)), None)

    def _store(self, prepared: list[MemoryRecord], size: int, progress: Any,
               given: np.ndarray | None = None) -> list[str]:
        """Dedupe, then encode (or take ``given``'s rows) and commit in batches of ``size``; returns
        the ids in input order."""
        self.check_open()
        with self._lock:
            ids, fresh = self._cache.dedupe(prepared)  # before paying for encoding
        encode: Callable[[list[MemoryRecord]], np.ndarray] = self._encode
        if given is not None:
            row = {id(rec): i for i, rec in enumerate(prepared)}
            encode = lambda batch: given[[row[id(r)] for r in batch]]  # noqa: E731
        if progress and len(fresh) < len(prepared):
            progress(len(prepared) - len(fresh))
        batches = [fresh[start:start + size] for start in range(0, len(fresh), size)]
        encode_and_commit(batches, encode, self._commit, progress)  # batch j+1 encoded while j is written
        return ids

    def _encode(self, fresh: list[MemoryRecord]) -> np.ndarray:
        """Their vectors, their sentence keys' staged for the commit (``nuonuo.sentence_index``)."""
        return self.sentences.encode(self.encoder, fresh, self.config.encoder.batch_size)

    def _commit(self, fresh: list[MemoryRecord], vectors: np.ndarray) -> None:
        """Write encoded records to the store (durable on return) and to every in-RAM index."""
        with self._lock:
            self.check_open()
            superseded = self._cache.supersede(fresh)
            try:
                self.store.add(fresh, vectors)
                if superseded:
                    self.store.upsert(superseded, np.stack([self._vector_of(r) for r in superseded]))
            except StoreError:  # a full disk: the caches stay as the store is (the old value active)
                for rec in superseded:
                    rec.status = "active"
                raise
            self._after_add(fresh, vectors, superseded)

    def _vector_of(self, rec: MemoryRecord) -> np.ndarray:
        vec = self._cache.pattern_vector(rec)
        if vec is None:
            vec = self.sentences.vector(self.encoder, rec.text)
        return vec

    def _after_add(self, fresh: list[MemoryRecord], vectors: np.ndarray, superseded: list[MemoryRecord]) -> None:
        for rec in superseded:
            self._cache.unindex_active(rec)
        if superseded:
            for comp in self.components:
                comp.removed(self, superseded)
        self._cache.index(fresh, vectors)
        for comp in self.components:
            comp.added(self, fresh, vectors)

    # --- reading ----------------------------------------------------------------------------------
    def get(self, id: str) -> MemoryRecord:
        with self._lock:
            rec = self._cache.records.get(id) if isinstance(id, str) else None
            if rec is None:
                raise NotFound(f"no memory with id {id!r}")
            return rec

    def record(self, id: str) -> MemoryRecord | None:
        """The cached record, or None (no lock: a dict probe for the components' hot paths, which
        run under the lock already)."""
        return self._cache.records.get(id)

    def vector(self, id: str) -> np.ndarray:
        rec = self.get(id)
        return self._vector_of(rec)

    def namespaces(self) -> dict[str, int]:
        """Namespace → number of active memories."""
        with self._lock:
            return {ns: len(ix) for ns, ix in sorted(self._cache.patterns.items()) if len(ix)}

    def list(self, namespace: str | None = "default", limit: int = 50, offset: int = 0,
             include_history: bool = False) -> list[MemoryRecord]:
        """Memories of a namespace (all namespaces if None), newest first."""
        with self._lock:
            recs = [r for r in self._cache.records.values()
                    if (namespace is None or r.namespace == namespace)
                    and (include_history or r.status == "active")]
        recs.sort(key=lambda r: r.created_at, reverse=True)
        return recs[offset:offset + limit]

    def history(self, key: str, namespace: str = "default") -> builtins.list[MemoryRecord]:
        """Every value a key has had, newest first."""
        canon = canonical_key(key) if isinstance(key, str) else ""
        with self._lock:
            ids = self._cache.keys.get((check_namespace(namespace), canon), [])
            return sorted((self._cache.records[i] for i in ids), key=lambda r: r.created_at, reverse=True)

    def lookup(self, key: str, namespace: str = "default") -> MemoryRecord | None:
        """The current value of a key, or None: an O(1) probe of the Engram key table (≤ H hashed
        buckets, verified against the stored canonical key); the key's history if that misses."""
        canon = canonical_key(key) if isinstance(key, str) else ""
        with self._lock:
            mid = self.engram.lookup(check_namespace(namespace), canon) if canon else None
            rec = self._cache.records.get(mid) if mid else None
            if rec is not None and rec.status == "active":
                return rec
        for rec in self.history(key, namespace):
            if rec.status == "active":
                return rec
        return None

    def pattern_index(self, namespace: str) -> PatternIndex | None:
        return self._cache.patterns.get(namespace)

    def pattern_indexes(self) -> dict[str, PatternIndex]:
        """Namespace → its pattern index (a copy of the mapping, in the order namespaces appeared)."""
        with self._lock:
            return dict(self._cache.patterns)

    def recall(self, query: str | None = None, k: int | None = None, namespace: str = "default",
               at: Any = None, key: str | None = None, **options: Any) -> builtins.list[Hit]:
        """The k most relevant memories for ``query`` (or the value of ``key``) in ``namespace``.

        ``at`` is the time of asking: memories created after it are ignored. See
        ``nuonuo.recall`` for the channels and the fusion, and ``Hit`` for the score contract."""
        self.check_open()
        k = check_k(self.config.recall.k if k is None else k)
        check_namespace(namespace)
        if key is not None:
            rec = self.lookup(key, namespace)
            if rec is None:
                return []
            return [Hit(id=rec.id, text=rec.text, score=1.0, source="exact", key=rec.key,
                        metadata=rec.metadata, timestamp=rec.timestamp, namespace=rec.namespace,
                        scores={"exact": 1.0})]
        query = check_text(query, "query", self.config.store.max_text_chars)
        hits = run_recall(self, query, k, namespace, to_epoch(at, "at"), **options)
        self.touch([h.id for h in hits])
        return hits

    def touch(self, ids: Iterable[str]) -> None:
        """Count an access (recall that surfaced the memory): access count and last access time."""
        with self._lock:
            # Access counts are bookkeeping for sleep, not memories: they go to the store in large
            # batches (a merge-insert per 256 recalled memories cost ~6 ms per recall at 100K) and at close.
            if self._cache.touch(ids, time.time()) >= 4096:
                self.flush()

    def flush(self) -> None:
        """Write pending access counts (and co-recall links) to the store; read from a snapshot, to
        the pending file that the next full open applies (``nuonuo.store_snapshot``)."""
        with self._lock:
            if self._closed:
                return
            if self.store.read_only:
                store_snapshot.append_pending(self.config.home, self._cache.take_accesses(),
                                              self.hebbian.take_corecalls())
                self._cache.keep_ivf(self.store)  # the IVF indexes built here, for the snapshot's next readers
                return
            for comp in self.components:
                comp.flush(self)
            recs = [self._cache.records[m] for m in self._cache.take_accesses()]
            if recs:
                self.store.upsert(recs, np.stack([self._vector_of(r) for r in recs]))

    def _apply_pending(self) -> None:
        """The access counts and co-recall pairs that snapshot readers left (then the file goes; on
        a full disk it stays for a later open, and this one serves without them)."""
        access, pairs = store_snapshot.read_pending(self.config.home)
        if access or pairs:
            self._cache.add_accesses(access)
            self.hebbian.add_corecalls(pairs)
            try:
                self.flush()
            except StoreError:
                self._cache.take_accesses()
                self.hebbian.take_corecalls()
                return
            store_snapshot.clear_pending(self.config.home)

    def save_snapshot(self) -> bool:
        """Flush, then copy the tables an open reads to ``<home>/snapshot`` for the next short
        process (``nuonuo.store_snapshot``); False where none was written (remote, unchanged, …)."""
        with self._lock:
            self.check_open()
            if self.store.read_only or self._file_lock is None or not self.config.store.snapshot:
                return False
            self.flush()
            return store_snapshot.save(self.store, self.config.home)

    # --- changing and forgetting -----------------------------------------------------------------
    def update(self, id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None,
               importance: float | None = None) -> MemoryRecord:
        """Change a memory in place (a new text is re-encoded); returns the new record."""
        with self._lock:
            rec = self.get(id)
            new_text = check_text(text, limit=self.config.store.max_text_chars) if text is not None else rec.text
            new_meta = check_metadata(metadata) if metadata is not None else rec.metadata
            if importance is not None:
                check_importance(importance)
        vec = (self.sentences.encode(self.encoder, [dataclasses.replace(rec, text=new_text)], 1)[0]
               if new_text != rec.text else None)
        with self._lock:
            updated = dataclasses.replace(
                rec, text=new_text, metadata=new_meta, sha256=content_hash(new_text),
                importance=float(importance) if importance is not None else rec.importance, updated_at=time.time())
            vector = vec if vec is not None else self._vector_of(rec)
            self.store.upsert([updated], vector[None, :])
            was_active = rec.status == "active"
            if was_active:
                self._cache.unindex_active(rec)
            for comp in self.components:
                comp.removed(self, [rec])
            self._cache.records[id] = updated
            if was_active:
                self._cache.index_active(updated, vector)
            for comp in self.components:
                comp.added(self, [updated], vector[None, :])
            return updated

    def forget(self, id: str | None = None, *, key: str | None = None, namespace: str | None = None) -> int:
        """Delete one memory by id, every value of a key (in ``namespace``, default "default"),
        or a whole namespace (``forget(namespace="x")``). Returns how many were deleted."""
        with self._lock:
            self.check_open()
            if id is not None:
                targets = [self.get(id)]
            elif key is not None:
                targets = self.history(key, namespace or "default")
                if not targets:
                    raise NotFound(f"no memory has the key {key!r} in namespace {namespace or 'default'!r}")
            elif namespace is not None:
                check_namespace(namespace)
                targets = [r for r in self._cache.records.values() if r.namespace == namespace]
                if not targets:
                    raise NotFound(f"namespace {namespace!r} has no memories")
            else:
                raise InvalidInput("forget needs an id, a key or a namespace")
            self.store.delete([r.id for r in targets])
            self._drop(targets)
            return len(targets)

    def _drop(self, targets: Sequence[MemoryRecord]) -> None:
        for rec in targets:
            self._cache.drop(rec)
        for comp in self.components:
            comp.removed(self, targets)

    # --- inspection -------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"home": str(self.config.home), "store": self.store.uri, "encoder": self.encoder.name,
                                   "dim": self.encoder.dim, **self._cache.counts(), "namespaces": self.namespaces()}
            for comp in self.components:
                out.update(comp.stats(self))
            return out

    def records(self) -> builtins.list[MemoryRecord]:
        with self._lock:
            return list(self._cache.records.values())

    def replace_records(self, records: Sequence[MemoryRecord]) -> None:
        """Put changed records (already committed to the store, same ids) in place of the cached
        ones. One that stops being active (merged by sleep) leaves the active indexes, and the
        components hear of it as removed (it stays a record, so they keep its links)."""
        with self._lock:
            for new in self._cache.replace(records):  # each that stopped being active
                for comp in self.components:
                    comp.removed(self, [new])

    # --- associations and sleep (nuonuo.associations, nuonuo.consolidation) -----------------------
    def associate(self, cue_id: str, target_id: str, weight: float = 1.0, kind: str = "link") -> None:
        """Link two memories of one namespace: recalling ``cue_id`` can then reach ``target_id``
        (a Hebbian hop). Durable when this returns; linking again adds to the weight."""
        with self._lock:
            self.check_open()
            self.hebbian.associate(self, cue_id, target_id, weight, kind)

    def associations(self, id: str) -> builtins.list[dict[str, Any]]:
        """A memory's links, oldest first: cue, target, weight, kind, created_at, direction, other."""
        with self._lock:
            return self.hebbian.associations(self, id)

    def consolidate(self, **options: Any) -> dict[str, Any]:
        """Run sleep consolidation now (see ``nuonuo.consolidation``); returns its report."""
        self.check_open()
        return run_consolidation(self, **options)

    @cached_property
    def sessions(self) -> SessionStore:
        """The store's chat sessions (``nuonuo.chat.sessions``; see ``nuonuo.api.ChatSessions``)."""
        from nuonuo.chat.sessions import SessionStore

        return SessionStore(self.store)

    # --- export / import --------------------------------------------------------------------------
    def export(self, path: str | Path, namespace: str | None = None) -> int:
        """Write every memory (history included) as JSON lines; returns the count."""
        recs = sorted(self.list(namespace, limit=10**12, include_history=True), key=lambda r: r.created_at)
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(export_line(r) for r in recs)
        return len(recs)

    # --- for a store shared between processes (nuonuo.shared_memory) ---------------------------------
    @property
    def store_lock(self) -> StoreLock | None:
        """The store's file lock (None on object storage): ``SharedMemory`` holds it per call."""
        return self._file_lock

    def discard(self) -> None:
        """Close without writing anything (pending access counts are dropped): for a view that may
        be stale because another process wrote meanwhile. Releases the store lock if held."""
        with self._lock:
            self._cache.take_accesses()
            self._closed = True
            if self._file_lock is not None:
                self._file_lock.release()
