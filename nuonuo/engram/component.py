"""``EngramComponent``: keeps the exact-key table and the per-namespace n-gram indexes in step with
the memories (a ``nuonuo.memory.Component``), and answers the two recall channels.

Both caches are rebuilt deterministically from LanceDB at open (the ``key_canonical`` column and
the memories' texts), so nothing extra is persisted: the store stays the single source of truth.
A short process reading the store's snapshot (a CLI recall) reads the n-gram indexes the first
reader of that snapshot left beside it, if they were built with the same parameters from the same
memories; a write makes a new snapshot, and the cache goes with the old one.

Channels (``{id: {score name: value}}``, the shape ``nuonuo.recall.gather`` collects):

- ``exact``: active keyed memories whose key tokens the query covers (``coverage`` ∈ [0, 1]);
- ``ngram``: the best memories by the BM25 n-gram score (``ngram`` = S / S_max ∈ [0, 1],
  ``ngram_raw`` = S).

Each candidate also gets ``cosine`` (query · memory vector) and, when the gate is on, ``gate``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nuonuo.component import MemoryView
from nuonuo.engram.gate import gate as gate_fn
from nuonuo.engram.hashing import DEFAULT_SEED, TokenHasher
from nuonuo.engram.keys import KeyTable
from nuonuo.engram.ngram import NgramIndex, NgramParams
from nuonuo.records import MemoryRecord
from nuonuo.store import pack_namespaces, unpack_namespaces
from nuonuo.turns import lexical_text


@functools.cache
def code_key() -> str:
    """A digest of the modules that turn a memory into n-grams, the stemmer's version and Python's (its
    Unicode tables fold the text): a cache built by other code (an upgrade, a checkout) is never
    read. Unreadable sources give a key no other process shares."""
    import nuonuo.canonical
    import nuonuo.engram.hashing
    import nuonuo.engram.ngram
    import nuonuo.turns

    import Stemmer  # the stemmer: its library file's size and time stand for its version (a stat, not a metadata scan)

    digest = hashlib.sha256(f"Python {sys.version_info[:2]}".encode())  # its Unicode tables fold the text
    try:
        for module in (nuonuo.canonical, nuonuo.engram.hashing, nuonuo.engram.ngram, nuonuo.turns):
            digest.update(Path(module.__file__ or "").read_bytes())
        st = os.stat(Stemmer.__file__ or "")
        digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    except OSError:
        return f"unreadable-{uuid.uuid4().hex}"
    return digest.hexdigest()[:16]


DERIVED = "ngram"  # the snapshot's cache of the built n-gram indexes (``Store.derived``)


class EngramComponent:
    """The Engram store of one ``Memory``: exact keys + lexical n-gram channel."""

    def __init__(self, config):
        self.cfg = config
        seed = config.seed or DEFAULT_SEED
        self.hasher = TokenHasher(seed)
        self.params = NgramParams(
            max_n=config.max_n, heads=config.heads, load=config.load, k1=config.k1, b=config.b,
            order_weights=tuple(float(w) for w in config.order_weights) or (1.0,),
            max_df=config.max_df, seed=seed, stem=config.stem, question_words=config.question_words)
        self.keys = KeyTable(config.heads, config.load, seed, self.hasher)
        self.ngrams: dict[str, NgramIndex] = {}

    # --- Component hooks -------------------------------------------------------------------------
    def rebuild(self, memory: MemoryView) -> None:
        """The key table and the n-gram indexes from the memories. A reader of the store's snapshot
        (``nuonuo.store_snapshot``) reads the indexes the first reader of that snapshot built, if any,
        instead of tokenising every text again, and else leaves them for the next reader."""
        self.ngrams = {}
        active = [r for r in memory.records() if r.status == "active"]
        active.sort(key=lambda r: r.created_at)
        self.keys.build((r.namespace, r.key_canonical, r.id) for r in active if r.key_canonical)
        if not self.cfg.enabled or self._restore(memory.store.derived(DERIVED), active):
            return
        self._index_texts(active)
        if memory.store.read_only and active:
            memory.store.keep_derived(DERIVED, self._state())

    def added(self, memory: MemoryView, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        active = [r for r in records if r.status == "active"]
        for r in active:
            if r.key_canonical:
                self.keys.put(r.namespace, r.key_canonical, r.id)
        self._index_texts(active)

    def _index_texts(self, active: Sequence[MemoryRecord]) -> None:
        """Add active memories' texts to their namespaces' n-gram tables (one batch per namespace), led
        by the speaker's name where only the metadata names it (``nuonuo.turns.lexical_text``)."""
        if not self.cfg.enabled:
            return
        by_ns: dict[str, list] = {}
        for r in active:
            by_ns.setdefault(r.namespace, []).append(r)
        for ns, recs in by_ns.items():
            self._index(ns).add([r.id for r in recs], [lexical_text(r) for r in recs], [r.created_at for r in recs])

    def removed(self, memory: MemoryView, records: Sequence[MemoryRecord]) -> None:
        for r in records:
            if r.key_canonical:
                self.keys.drop(r.namespace, r.key_canonical, r.id)
        by_ns: dict[str, list[str]] = {}
        for r in records:
            by_ns.setdefault(r.namespace, []).append(r.id)
        for ns, ids in by_ns.items():
            if ns in self.ngrams:
                self.ngrams[ns].remove(ids)

    def flush(self, memory: MemoryView) -> None:
        """Nothing waits: every change is in the tables when its hook returns."""

    def _index(self, ns: str) -> NgramIndex:
        if ns not in self.ngrams:
            self.ngrams[ns] = NgramIndex(self.params, self.hasher)
        return self.ngrams[ns]

    # --- the snapshot's cache of the n-gram indexes (``rebuild``) -----------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        """Every namespace's n-gram index as arrays, with the parameters they were built with."""
        return pack_namespaces({ns: index.state() for ns, index in self.ngrams.items()},
                               params=np.frombuffer(self._params_key().encode("utf-8"), np.uint8))

    def _restore(self, state: dict[str, np.ndarray] | None, active: Sequence[MemoryRecord]) -> bool:
        """The n-gram indexes from ``state`` when it was built with these parameters from exactly the
        ``active`` memories; False (nothing changed) otherwise."""
        if state is None:
            return False
        try:
            if state["params"].tobytes().decode("utf-8") != self._params_key():
                return False
            ngrams = {ns: NgramIndex.restore(self.params, self.hasher, arrays)
                      for ns, arrays in unpack_namespaces(state).items()}
        except (KeyError, ValueError, TypeError, IndexError, UnicodeDecodeError):  # not one: built again
            return False
        if {mid for index in ngrams.values() for mid in index.ids} != {r.id for r in active}:
            return False
        self.ngrams = ngrams
        return True

    def _params_key(self) -> str:
        """What the indexes depend on besides the texts: their parameters, the token hash's seed and
        the code that cuts texts into tokens (``code_key``)."""
        return f"ngram-state 1 {self.params!r} seed={self.hasher.seed} code={code_key()}"

    # --- lookups ---------------------------------------------------------------------------------
    def lookup(self, namespace: str, canon: str) -> str | None:
        """The id of the key's current value (O(1), verified), or None."""
        return self.keys.get(namespace, canon)

    def _cosines(self, memory: MemoryView, qv: np.ndarray, ids: list[str], namespace: str) -> np.ndarray:
        """cos(q, x) of each memory (0 for one without a pattern), in one matmul."""
        index = memory.pattern_index(namespace)
        out = np.zeros(len(ids), np.float64)
        if index is None:
            return out
        have = [i for i, mid in enumerate(ids) if mid in index]
        if have:
            out[have] = index.vectors([ids[i] for i in have]) @ qv
        return out

    def _gated(self, memory: MemoryView, qv: np.ndarray, namespace: str, ids: list[str],
               strength: np.ndarray, name: str, extra: list[dict]) -> dict[str, dict[str, float]]:
        cfg = memory.config.engram  # read at query time: gate settings may change between recalls
        cos = self._cosines(memory, qv, ids, namespace)
        out: dict[str, dict[str, float]] = {}
        gated = cfg.ngram_gate if name == "ngram" else cfg.gate
        g = gate_fn(cos, strength, cfg.gate_alpha, cfg.gate_tau, cfg.gate_gamma) if gated else np.ones(len(ids))
        for i, mid in enumerate(ids):
            if gated and g[i] < cfg.gate_threshold:
                continue
            sc = {name: float(strength[i]), "cosine": float(cos[i]), **extra[i]}
            if gated:
                sc["gate"] = float(g[i])
            out[mid] = sc
        return out

    def ngram_channel(self, memory: MemoryView, query: str, qv: np.ndarray, namespace: str,
                      at: float | None, limit: int, context=None) -> dict[str, dict[str, float]]:
        """The ``limit`` best memories by BM25 n-gram score. ``context(own, score_of)``, if given,
        re-scores them (recall's context keys) and returns (scores, neighbours' means)."""
        index = self.ngrams.get(namespace)
        if index is None or not self.cfg.enabled:
            return {}
        ids, raw, strength, info = index.search(query, limit, before=at)
        if not ids:
            return {}
        extra: dict[str, dict[str, float]] = {mid: {"ngram_raw": float(r)} for mid, r in zip(ids, raw)}
        if context is not None:
            scored, ctx = context(dict(zip(ids, raw.tolist())), info["score_of"])
            ids = sorted(scored, key=lambda m: -scored[m])[:limit]
            ids = [m for m in ids if scored[m] > 0]
            raw = np.array([scored[m] for m in ids])
            strength = raw / info["s_max"]
            for mid in ids:
                extra.setdefault(mid, {"ngram_raw": 0.0})
                if mid in ctx:
                    extra[mid]["context_raw"] = float(ctx[mid])
        if memory.config.engram.ngram_norm == "max":
            strength = raw / float(raw[0])
        return self._gated(memory, qv, namespace, ids, strength, "ngram", [extra[m] for m in ids])

    def exact_channel(self, memory: MemoryView, query: str, qv: np.ndarray, namespace: str,
                      at: float | None) -> dict[str, dict[str, float]]:
        matches = self.keys.match(namespace, query)
        if at is not None:
            matches = [m for m in matches if memory.get(m[0]).created_at <= at]
        if not matches:
            return {}
        ids = [m[0] for m in matches]
        return self._gated(memory, qv, namespace, ids, np.array([m[1] for m in matches]), "exact",
                           [{} for _ in matches])

    # --- inspection ------------------------------------------------------------------------------
    def stats(self, memory: MemoryView) -> dict[str, Any]:
        ks = self.keys.stats()
        grams: dict[str, int | float] = {"docs": 0, "ngrams": 0, "delta_ngrams": 0, "postings": 0, "buckets": 0,
                                         "collisions": 0, "overflow": 0}
        nbytes = tabled = 0
        for index in self.ngrams.values():
            st = index.stats()
            grams["docs"] += st["docs"]
            tabled += st["items"]
            grams["ngrams"] += st["items"] + st["delta_grams"]
            grams["delta_ngrams"] += st["delta_grams"]
            grams["postings"] += st["postings"]
            grams["buckets"] += st["buckets"]
            grams["collisions"] += st["collisions"]
            grams["overflow"] += st["overflow"]
            nbytes += index.nbytes()
        # load of the bulk-built tables; n-grams added since (the delta) wait in a dict until the next build
        grams["load_factor"] = round(tabled / grams["buckets"], 4) if grams["buckets"] else 0.0
        grams["bytes"] = nbytes
        return {"engram": {"heads": self.cfg.heads, "keys": ks["keys"], "key_buckets": ks["buckets"],
                           "key_load_factor": ks["load_factor"], "key_collisions": ks["collisions"],
                           "key_overflow": ks["overflow"], "key_bytes": self.keys.nbytes(),
                           **{f"ngram_{k}": v for k, v in grams.items()}}}
