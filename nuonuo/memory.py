"""The ``Memory`` facade: the public Python API (see DESIGN.md, "Public surfaces").

    with Memory.open() as mem:
        rec  = mem.remember("My sister Lena lives in Porto")
        hits = mem.recall("where does my sister live?")

LanceDB is written first; the in-RAM caches (records, per-namespace pattern matrices, and the
indexes other components keep) are updated after the write commits. Components (the Engram
key/n-gram index, the Hebbian association memory, …) plug in through ``Component``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from nuonuo.canonical import canonical_key
from nuonuo.config import Config, load_config
from nuonuo.encoder import Encoder, load_encoder
from nuonuo.errors import InvalidInput, NotFound, StoreError
from nuonuo.hopfield import PatternIndex
from nuonuo.records import Hit, MemoryRecord, to_epoch
from nuonuo.store import Store, StoreLock, record_from_row

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]{0,127}$")
MAX_K = 1000


class Component:
    """Something that keeps its own cache in step with the memories (an index, a graph).

    ``rebuild`` runs once at open with every record; ``added``/``removed`` after each committed
    write. All run under the memory's lock."""

    def rebuild(self, memory: "Memory") -> None: ...

    def added(self, memory: "Memory", records: Sequence[MemoryRecord], vectors: np.ndarray) -> None: ...

    def removed(self, memory: "Memory", records: Sequence[MemoryRecord]) -> None: ...


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise InvalidInput(
            f"namespace {namespace!r} is not valid: use 1-128 letters, digits or _ . : @ / - "
            "(starting with a letter or digit)")
    return namespace


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidInput(f"k must be a whole number, not {k!r}")
    if k <= 0 or k > MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}")
    return k


class Memory:
    """A local memory store. Thread-safe; one writing process per store (a file lock)."""

    def __init__(self, config: Config | None = None, encoder: Encoder | None = None):
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
            self.store = Store(self.config.store_uri, self.encoder.dim, self.config.store.storage_options)
            self._check_encoder()
            self._records: dict[str, MemoryRecord] = {}
            self._patterns: dict[str, PatternIndex] = {}
            self._by_hash: dict[tuple[str, str, str], str] = {}
            self._keys: dict[tuple[str, str], list[str]] = {}  # (ns, canonical key) → ids, oldest first
            self._dirty_access: set[str] = set()
            self.components: list[Component] = []
            from nuonuo.engram import EngramComponent

            self.engram = EngramComponent(self.config.engram)
            self.components.append(self.engram)
            from nuonuo.associations import AssociationMemory
            from nuonuo.consolidation import recover_interrupted_run

            recover_interrupted_run(self.store)  # a sleep run killed halfway: back to before it
            self.hebbian = AssociationMemory(self)
            self.components.append(self.hebbian)
            from nuonuo.conversation import ConversationIndex

            self.conversations = ConversationIndex()
            self.components.append(self.conversations)
            from nuonuo import memtrim

            self._load()
            memtrim.release()  # the load's temporaries, freed but still resident (see nuonuo.memtrim)
            self._init_components()
            memtrim.release()  # and the index builds' (the first call lowers the peak: ~1.22 -> ~1.14 GB at 100K)
        except BaseException:
            self._release()
            raise

    # --- opening and closing ------------------------------------------------------------------
    @classmethod
    def open(cls, home: str | Path | None = None, *, config: Config | None = None,
             encoder: Encoder | None = None, **overrides: Mapping[str, Any]) -> "Memory":
        """Open (creating if needed) the store in ``home`` ($NUONUO_HOME, else the user data dir).

        ``overrides`` are config sections, e.g. ``recall={"beta": 8.0}``."""
        cfg = config or load_config(home, overrides=overrides or None)
        return cls(cfg, encoder)

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

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("this Memory is closed")

    def _check_encoder(self) -> None:
        name, dim = self.store.get_meta("encoder"), self.store.get_meta("encoder_dim")
        if name is None:
            self.store.set_meta("encoder", self.encoder.name)
            self.store.set_meta("encoder_dim", str(self.encoder.dim))
        elif int(dim or 0) != self.encoder.dim:
            raise StoreError(
                f"the store at {self.store.uri} holds {dim}-dimensional vectors from {name}, but the "
                f"configured encoder {self.encoder.name} makes {self.encoder.dim}; use the same encoder "
                "or export, then import into a new home")

    def _load(self) -> None:
        table = self.store.load_all()
        if table.num_rows == 0:
            return
        vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, self.encoder.dim)
        rows = table.drop_columns(["vector"]).to_pylist()
        recs = [record_from_row(r) for r in rows]
        self._index(recs, np.asarray(vectors, dtype=np.float32))
        for ids in self._keys.values():  # a key's values oldest first (rows come in storage order)
            ids.sort(key=lambda m: self._records[m].created_at)

    def _init_components(self) -> None:
        """Hook for the recall components; each rebuilds its cache from the records."""
        for comp in self.components:
            comp.rebuild(self)

    def _index(self, recs: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        """Put records (and the active ones' vectors) into the in-RAM caches."""
        by_ns: dict[str, list[int]] = {}
        for i, rec in enumerate(recs):
            self._records[rec.id] = rec
            canon = getattr(rec, "_key_canonical", None)
            if canon:
                self._keys.setdefault((rec.namespace, canon), []).append(rec.id)
            if rec.status == "active":
                self._by_hash[(rec.namespace, canon or "", rec.sha256)] = rec.id
                by_ns.setdefault(rec.namespace, []).append(i)
        for ns, idx in by_ns.items():
            index = self._patterns.setdefault(ns, PatternIndex(self.encoder.dim))
            index.add([recs[i].id for i in idx], vectors[idx], np.array([recs[i].created_at for i in idx]))

    # --- validation -----------------------------------------------------------------------------
    def _check_text(self, text: Any, what: str = "text") -> str:
        if not isinstance(text, str):
            raise InvalidInput(f"{what} must be a string, not {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise InvalidInput(f"{what} is empty")
        if "\x00" in stripped:
            raise InvalidInput(f"{what} contains NUL bytes: binary data is not stored")
        limit = self.config.store.max_text_chars
        if len(stripped) > limit:
            raise InvalidInput(
                f"{what} is {len(stripped):,} characters, over the limit of {limit:,}; split it into "
                "smaller memories or raise [store] max_text_chars")
        return stripped

    @staticmethod
    def _check_metadata(metadata: Any) -> dict[str, Any]:
        if metadata is None:
            return {}
        if not isinstance(metadata, Mapping):
            raise InvalidInput(f"metadata must be a mapping of names to values, not {type(metadata).__name__}")
        try:
            return json.loads(json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"metadata must be JSON-serialisable: {exc}") from None

    def _prepare(self, item: Any, namespace: str) -> tuple[MemoryRecord, str | None]:
        """Validate one item (a string or a dict) into an unsaved record."""
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise InvalidInput(f"an item must be a string or an object with 'text', not {type(item).__name__}")
        unknown = set(item) - {"text", "key", "namespace", "metadata", "timestamp", "importance", "id"}
        if unknown:
            raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))}")
        text = self._check_text(item.get("text"))
        ns = check_namespace(item.get("namespace") or namespace)
        key = item.get("key")
        canon = None
        if key is not None:
            if not isinstance(key, str) or not canonical_key(key):
                raise InvalidInput(f"key must be a non-empty string with letters or digits, not {key!r}")
            canon = canonical_key(key)
        importance = item.get("importance", 0.5)
        if isinstance(importance, bool) or not isinstance(importance, (int, float)) or not 0 <= importance <= 1:
            raise InvalidInput(f"importance must be a number between 0 and 1, not {importance!r}")
        now = time.time()
        created = to_epoch(item.get("timestamp")) or now
        rec = MemoryRecord(
            id=item.get("id") or uuid.uuid4().hex, text=text, namespace=ns, key=key,
            metadata=self._check_metadata(item.get("metadata")), created_at=created, updated_at=now,
            last_access=0.0, importance=float(importance), access_count=0, sha256=content_hash(text))
        rec._key_canonical = canon  # type: ignore[attr-defined]
        return rec, canon

    # --- writing ----------------------------------------------------------------------------------
    def remember(self, text: str, key: str | None = None, namespace: str = "default",
                 metadata: Mapping[str, Any] | None = None, timestamp: Any = None,
                 importance: float = 0.5) -> MemoryRecord:
        """Store one memory; returns its record (the existing one if this exact text is already
        stored in the namespace under the same key). Durable when this returns."""
        item = {"text": text, "key": key, "metadata": metadata, "timestamp": timestamp, "importance": importance}
        ids = self._write([item], namespace)
        return self._records[ids[0]]

    def remember_many(self, items: Iterable[Any], namespace: str = "default", batch_size: int | None = None,
                      progress: Any = None, vectors: Any = None) -> list[str]:
        """Store many memories in batches: items are strings or dicts with the fields of
        ``remember``. Every item is validated first: one bad item stores nothing (the error names
        its position). Returns the ids in input order (existing ids for duplicates).

        ``vectors``: the items' embeddings, one row per item, made beforehand with this store's
        encoder (an import, a cache); they are stored as given (rows L2-normalised) and nothing
        is encoded."""
        items = list(items)
        given = None if vectors is None else self._check_vectors(vectors, len(items))
        prepared: list[tuple[MemoryRecord, str | None]] = []
        for pos, item in enumerate(items):
            try:
                prepared.append(self._prepare(item, namespace))
            except InvalidInput as exc:
                raise InvalidInput(f"item {pos}: {exc.message}") from None
        return self._store(prepared, batch_size or max(self.config.encoder.batch_size * 16, 256), progress, given)

    def _check_vectors(self, vectors: Any, n: int) -> np.ndarray:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.shape != (n, self.encoder.dim):
            raise InvalidInput(f"vectors must be {n} rows of {self.encoder.dim} numbers (one per item), "
                               f"not an array of shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise InvalidInput("vectors hold NaN or infinite values")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        if (norms == 0).any():
            raise InvalidInput("vectors hold an all-zero row")
        return arr / norms

    def _write(self, items: list[Any], namespace: str) -> list[str]:
        prepared = [self._prepare(it, namespace) for it in items]
        return self._store(prepared, max(1, len(prepared)), None)

    def _store(self, prepared: list[tuple[MemoryRecord, str | None]], size: int, progress: Any,
               given: np.ndarray | None = None) -> list[str]:
        """Dedupe, then encode (or take ``given``'s rows) and commit in batches of ``size``; returns
        the ids in input order."""
        self._check_open()
        ids, fresh = self._dedupe(prepared)  # before paying for encoding
        encode = self._encode
        if given is not None:
            row = {id(rec): i for i, (rec, _) in enumerate(prepared)}
            encode = lambda batch: given[[row[id(r)] for r in batch]]  # noqa: E731
        if progress and len(fresh) < len(prepared):
            progress(len(prepared) - len(fresh))
        batches = [fresh[start:start + size] for start in range(0, len(fresh), size)]
        if len(batches) == 1:
            self._commit(batches[0], encode(batches[0]))
            if progress:
                progress(len(batches[0]))
        elif batches:  # a pipeline: batch j+1 is encoded (torch, outside the GIL) while batch j is written
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nuonuo-encode") as pool:
                pending = pool.submit(encode, batches[0])
                for j, batch in enumerate(batches):
                    vectors = pending.result()
                    if j + 1 < len(batches):
                        pending = pool.submit(encode, batches[j + 1])
                    try:
                        self._commit(batch, vectors)
                    except StoreError as exc:  # say what the batches before it stored
                        if j == 0:
                            raise
                        stored = sum(len(b) for b in batches[:j])
                        raise type(exc)(f"{exc.message} ({stored} of {len(fresh)} new memories were stored "
                                        "before it; doing it again skips them)") from None
                    if progress:
                        progress(len(batch))
        return ids

    def _dedupe(self, prepared: list[tuple[MemoryRecord, str | None]]) -> tuple[list[str], list[MemoryRecord]]:
        """Ids in input order (the stored id for an exact duplicate in the namespace under the same
        key, in the store or earlier in ``prepared``) and the records still to store."""
        ids: list[str] = []
        fresh: list[MemoryRecord] = []
        seen: dict[tuple[str, str, str], str] = {}
        with self._lock:
            for rec, canon in prepared:
                dkey = (rec.namespace, canon or "", rec.sha256)
                existing = self._by_hash.get(dkey) or seen.get(dkey)
                if existing:
                    ids.append(existing)
                    continue
                seen[dkey] = rec.id
                fresh.append(rec)
                ids.append(rec.id)
        return ids, fresh

    def _encode(self, fresh: list[MemoryRecord]) -> np.ndarray:
        return self.encoder.embed_many([r.text for r in fresh], self.config.encoder.batch_size)

    def _commit(self, fresh: list[MemoryRecord], vectors: np.ndarray) -> None:
        """Write encoded records to the store (durable on return) and to every in-RAM index."""
        with self._lock:
            self._check_open()
            superseded = self._supersede(fresh)
            try:
                self.store.add(fresh, vectors)
                if superseded:
                    self.store.upsert(superseded, np.stack([self._vector_of(r) for r in superseded]))
            except StoreError:  # a full disk: the caches stay as the store is (the old value active)
                for rec in superseded:
                    rec.status = "active"
                raise
            self._after_add(fresh, vectors, superseded)

    def _supersede(self, fresh: list[MemoryRecord]) -> list[MemoryRecord]:
        """A new value for a key makes the key's active value 'superseded' (kept as history)."""
        old: list[MemoryRecord] = []
        latest: dict[tuple[str, str], MemoryRecord] = {}
        for rec in fresh:
            canon = getattr(rec, "_key_canonical", None)
            if not canon:
                continue
            k = (rec.namespace, canon)
            prev = latest.get(k)
            if prev is None or rec.created_at >= prev.created_at:
                latest[k] = rec
        for k, rec in latest.items():
            for mid in self._keys.get(k, []):
                cur = self._records[mid]
                if cur.status == "active" and cur.created_at <= rec.created_at:
                    cur.status = "superseded"
                    cur.updated_at = time.time()
                    old.append(cur)
            for other in fresh:  # older values in the same batch
                if other is not rec and getattr(other, "_key_canonical", None) == k[1] and other.namespace == k[0]:
                    other.status = "superseded"
        return old

    def _vector_of(self, rec: MemoryRecord) -> np.ndarray:
        index = self._patterns.get(rec.namespace)
        vec = index.vector(rec.id) if index is not None else None
        if vec is None:
            vec = self.encoder.embed(rec.text)
        return vec

    def _after_add(self, fresh: list[MemoryRecord], vectors: np.ndarray, superseded: list[MemoryRecord]) -> None:
        for rec in superseded:
            self._unindex_active(rec)
        if superseded:
            for comp in self.components:
                comp.removed(self, superseded)
        self._index(fresh, vectors)
        for comp in self.components:
            comp.added(self, fresh, vectors)

    def _unindex_active(self, rec: MemoryRecord) -> None:
        canon = getattr(rec, "_key_canonical", None)
        self._by_hash.pop((rec.namespace, canon or "", rec.sha256), None)
        index = self._patterns.get(rec.namespace)
        if index is not None:
            index.remove(rec.id)

    # --- reading ----------------------------------------------------------------------------------
    def get(self, id: str) -> MemoryRecord:
        with self._lock:
            rec = self._records.get(id) if isinstance(id, str) else None
            if rec is None:
                raise NotFound(f"no memory with id {id!r}")
            return rec

    def vector(self, id: str) -> np.ndarray:
        rec = self.get(id)
        return self._vector_of(rec)

    def namespaces(self) -> dict[str, int]:
        """Namespace → number of active memories."""
        with self._lock:
            return {ns: len(ix) for ns, ix in sorted(self._patterns.items()) if len(ix)}

    def list(self, namespace: str | None = "default", limit: int = 50, offset: int = 0,
             include_history: bool = False) -> list[MemoryRecord]:
        """Memories of a namespace (all namespaces if None), newest first."""
        with self._lock:
            recs = [r for r in self._records.values()
                    if (namespace is None or r.namespace == namespace)
                    and (include_history or r.status == "active")]
        recs.sort(key=lambda r: r.created_at, reverse=True)
        return recs[offset:offset + limit]

    def history(self, key: str, namespace: str = "default") -> list[MemoryRecord]:
        """Every value a key has had, newest first."""
        canon = canonical_key(key) if isinstance(key, str) else ""
        with self._lock:
            ids = self._keys.get((check_namespace(namespace), canon), [])
            return sorted((self._records[i] for i in ids), key=lambda r: r.created_at, reverse=True)

    def lookup(self, key: str, namespace: str = "default") -> MemoryRecord | None:
        """The current value of a key, or None: an O(1) probe of the Engram key table (≤ H hashed
        buckets, verified against the stored canonical key); the key's history if that misses."""
        canon = canonical_key(key) if isinstance(key, str) else ""
        with self._lock:
            mid = self.engram.lookup(check_namespace(namespace), canon) if canon else None
            rec = self._records.get(mid) if mid else None
            if rec is not None and rec.status == "active":
                return rec
        for rec in self.history(key, namespace):
            if rec.status == "active":
                return rec
        return None

    def pattern_index(self, namespace: str) -> PatternIndex | None:
        return self._patterns.get(namespace)

    def recall(self, query: str | None = None, k: int | None = None, namespace: str = "default",
               at: Any = None, key: str | None = None, **options: Any) -> list[Hit]:
        """The k most relevant memories for ``query`` (or the value of ``key``) in ``namespace``.

        ``at`` is the time of asking: memories created after it are ignored. See
        ``nuonuo.recall`` for the channels and the fusion, and ``Hit`` for the score contract."""
        from nuonuo.recall import recall as run_recall

        self._check_open()
        k = check_k(self.config.recall.k if k is None else k)
        check_namespace(namespace)
        if key is not None:
            rec = self.lookup(key, namespace)
            if rec is None:
                return []
            return [Hit(id=rec.id, text=rec.text, score=1.0, source="exact", key=rec.key,
                        metadata=rec.metadata, timestamp=rec.timestamp, namespace=rec.namespace,
                        scores={"exact": 1.0})]
        query = self._check_text(query, "query")
        hits = run_recall(self, query, k, namespace, to_epoch(at, "at"), **options)
        self.touch([h.id for h in hits])
        return hits

    def touch(self, ids: Iterable[str]) -> None:
        """Count an access (recall that surfaced the memory): access count and last access time."""
        now = time.time()
        with self._lock:
            for mid in ids:
                rec = self._records.get(mid)
                if rec is not None:
                    rec.access_count += 1
                    rec.last_access = now
                    self._dirty_access.add(mid)
            # Access counts are bookkeeping for sleep, not memories: they go to the store in large
            # batches (a merge-insert per 256 recalled memories cost ~6 ms per recall at 100K) and at close.
            if len(self._dirty_access) >= 4096:
                self.flush()

    def flush(self) -> None:
        """Write pending access counts to the store."""
        with self._lock:
            for comp in self.components if not self._closed else ():
                if callable(getattr(comp, "flush", None)):
                    comp.flush(self)
            if not self._dirty_access or self._closed:
                return
            recs = [self._records[m] for m in self._dirty_access if m in self._records]
            self._dirty_access.clear()
            if recs:
                self.store.upsert(recs, np.stack([self._vector_of(r) for r in recs]))

    # --- changing and forgetting -----------------------------------------------------------------
    def update(self, id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None,
               importance: float | None = None) -> MemoryRecord:
        """Change a memory in place (a new text is re-encoded); returns the new record."""
        with self._lock:
            rec = self.get(id)
            new_text = self._check_text(text) if text is not None else rec.text
            new_meta = self._check_metadata(metadata) if metadata is not None else rec.metadata
            if importance is not None and (isinstance(importance, bool) or not isinstance(importance, (int, float))
                                           or not 0 <= importance <= 1):
                raise InvalidInput(f"importance must be a number between 0 and 1, not {importance!r}")
        vec = self.encoder.embed(new_text) if new_text != rec.text else None
        with self._lock:
            updated = MemoryRecord(**{k: v for k, v in rec.__dict__.items() if not k.startswith("_")})
            updated._key_canonical = getattr(rec, "_key_canonical", None)  # type: ignore[attr-defined]
            updated.text, updated.metadata = new_text, new_meta
            updated.sha256 = content_hash(new_text)
            updated.importance = float(importance) if importance is not None else rec.importance
            updated.updated_at = time.time()
            vector = vec if vec is not None else self._vector_of(rec)
            self.store.upsert([updated], vector[None, :])
            was_active = rec.status == "active"
            if was_active:
                self._unindex_active(rec)
            for comp in self.components:
                comp.removed(self, [rec])
            self._records[id] = updated
            if was_active:
                canon = getattr(updated, "_key_canonical", None)
                self._by_hash[(updated.namespace, canon or "", updated.sha256)] = id
                self._patterns.setdefault(updated.namespace, PatternIndex(self.encoder.dim)).add(
                    [id], vector[None, :], np.array([updated.created_at]))
            for comp in self.components:
                comp.added(self, [updated], vector[None, :])
            return updated

    def forget(self, id: str | None = None, *, key: str | None = None, namespace: str | None = None) -> int:
        """Delete one memory by id, every value of a key (in ``namespace``, default "default"),
        or a whole namespace (``forget(namespace="x")``). Returns how many were deleted."""
        with self._lock:
            self._check_open()
            if id is not None:
                targets = [self.get(id)]
            elif key is not None:
                targets = self.history(key, namespace or "default")
                if not targets:
                    raise NotFound(f"no memory has the key {key!r} in namespace {namespace or 'default'!r}")
            elif namespace is not None:
                check_namespace(namespace)
                targets = [r for r in self._records.values() if r.namespace == namespace]
                if not targets:
                    raise NotFound(f"namespace {namespace!r} has no memories")
            else:
                raise InvalidInput("forget needs an id, a key or a namespace")
            self.store.delete([r.id for r in targets])
            self._drop(targets)
            return len(targets)

    def _drop(self, targets: Sequence[MemoryRecord]) -> None:
        for rec in targets:
            if rec.status == "active":
                self._unindex_active(rec)
            self._records.pop(rec.id, None)
            self._dirty_access.discard(rec.id)
            canon = getattr(rec, "_key_canonical", None)
            if canon:
                ids = self._keys.get((rec.namespace, canon), [])
                if rec.id in ids:
                    ids.remove(rec.id)
        for comp in self.components:
            comp.removed(self, targets)

    # --- inspection -------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            total = len(self._records)
            active = sum(1 for r in self._records.values() if r.status == "active")
            out: dict[str, Any] = {
                "home": str(self.config.home),
                "store": self.store.uri,
                "encoder": self.encoder.name,
                "dim": self.encoder.dim,
                "memories": active,
                "history": total - active,
                "namespaces": self.namespaces(),
                "keys": sum(1 for ids in self._keys.values() if ids),
            }
            for comp in self.components:
                extra = getattr(comp, "stats", None)
                if callable(extra):
                    out.update(extra(self))
            return out

    def records(self) -> list[MemoryRecord]:
        with self._lock:
            return list(self._records.values())

    # --- associations and sleep (nuonuo.associations, nuonuo.consolidation) -----------------------
    def associate(self, cue_id: str, target_id: str, weight: float = 1.0, kind: str = "link") -> None:
        """Link two memories of one namespace: recalling ``cue_id`` can then reach ``target_id``
        (a Hebbian hop). Durable when this returns; linking again adds to the weight."""
        with self._lock:
            self._check_open()
            self.hebbian.associate(self, cue_id, target_id, weight, kind)

    def associations(self, id: str) -> list[dict[str, Any]]:
        """A memory's links, oldest first: cue, target, weight, kind, created_at, direction, other."""
        with self._lock:
            return self.hebbian.associations(self, id)

    def consolidate(self, **options: Any) -> dict[str, Any]:
        """Run sleep consolidation now (see ``nuonuo.consolidation``); returns its report."""
        from nuonuo.consolidation import consolidate

        self._check_open()
        return consolidate(self, **options)

    # --- export / import --------------------------------------------------------------------------
    def export(self, path: str | Path, namespace: str | None = None) -> int:
        """Write every memory (history included) as JSON lines; returns the count."""
        recs = sorted(self.list(namespace, limit=10**12, include_history=True), key=lambda r: r.created_at)
        with open(path, "w", encoding="utf-8") as fh:
            for r in recs:
                fh.write(json.dumps({"id": r.id, "text": r.text, "key": r.key, "namespace": r.namespace,
                                     "metadata": r.metadata, "timestamp": r.timestamp,
                                     "importance": r.importance}, ensure_ascii=False) + "\n")
        return len(recs)
