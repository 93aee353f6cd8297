"""Exact keys: (namespace, canonical key) → the key's current memory, in O(1), verified.

The key string ``k = namespace ␞ canonical_key(key)`` is fingerprinted,
``g = BLAKE2b_64(seed, k)``, and placed in a ``MultiHeadTable`` (H heads, prime sizes; see
``nuonuo.engram.hashing``). A lookup probes ≤ H buckets; a slot is accepted only when its stored
fingerprint *and* its stored canonical string equal the query's, so even a 64-bit fingerprint
collision can never return another key's value.

The key tokens also feed the *exact* recall channel: a query whose tokens cover a key's tokens
(``coverage = Σ_{t ∈ key ∩ query} idf_K(t) / Σ_{t ∈ key} idf_K(t)``, idf over the namespace's
keys, ``idf_K(t) = ln(1 + (N_K − df_t + 0.5)/(df_t + 0.5))``) proposes that key's current value.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from nuonuo.canonical import tokens as canonical_tokens
from nuonuo.engram.hashing import DEFAULT_SEED, MultiHeadTable, TokenHasher

SEP = "\x1e"


class KeyTable:
    """Canonical keys of every namespace → current memory id (or None once forgotten)."""

    def __init__(self, heads: int = 4, load: float = 0.5, seed: int = DEFAULT_SEED,
                 hasher: TokenHasher | None = None):
        self.hasher = hasher or TokenHasher(seed)
        self.table = MultiHeadTable(heads, load, seed)
        self.strings: list[str] = []          # slot → "namespace␞canonical key" (verification)
        self.current: list[str | None] = []   # slot → id of the key's active memory
        self.by_ns: dict[str, dict[int, int]] = {}  # namespace → {key slot: 1} (live keys)
        self.token_posts: dict[str, dict[int, set[int]]] = {}  # namespace → token fp → key slots
        self.slot_tokens: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_ns.values())

    def fingerprint(self, namespace: str, canon: str) -> int:
        return self.hasher.string(namespace + SEP + canon)

    def _slot(self, namespace: str, canon: str) -> int:
        s = f"{namespace}{SEP}{canon}"
        slot = self.table.find_one(self.fingerprint(namespace, canon))
        if slot >= 0 and self.strings[slot] != s:  # a 64-bit fingerprint collision: not this key
            return -2
        return slot

    def build(self, entries: Iterable[tuple[str, str, str]], index_tokens: bool = True) -> None:
        """Bulk load ``(namespace, canonical key, id)`` triples (later ones win). ``index_tokens``
        False skips the key-token postings of the exact recall channel (lookups only)."""
        latest: dict[tuple[str, str], str] = {}
        for ns, canon, mid in entries:
            latest[(ns, canon)] = mid
        self.strings = [f"{ns}{SEP}{c}" for ns, c in latest]
        self.current = list(latest.values())
        fps = np.array([self.fingerprint(ns, c) for ns, c in latest], np.uint64)
        self.table.build(fps)
        self.by_ns, self.token_posts, self.slot_tokens = {}, {}, []
        for slot, (ns, canon) in enumerate(latest):
            if index_tokens:
                self._index_tokens(slot, ns, canon)
            else:
                self.by_ns.setdefault(ns, {})[slot] = 1

    def _index_tokens(self, slot: int, ns: str, canon: str) -> None:
        toks = np.unique(self.hasher.tokens(canonical_tokens(canon)))
        while len(self.slot_tokens) <= slot:
            self.slot_tokens.append(np.zeros(0, np.uint64))
        self.slot_tokens[slot] = toks
        self.by_ns.setdefault(ns, {})[slot] = 1
        posts = self.token_posts.setdefault(ns, {})
        for t in toks.tolist():
            posts.setdefault(t, set()).add(slot)

    def put(self, namespace: str, canon: str, mid: str) -> None:
        slot = self._slot(namespace, canon)
        if slot == -2:
            raise RuntimeError("64-bit key fingerprint collision")  # ~2^-64 per pair; never expected
        if slot >= 0:
            was_live = self.current[slot] is not None
            self.current[slot] = mid
            if not was_live:
                self._index_tokens(slot, namespace, canon)
            return
        slot = self.table.insert(self.fingerprint(namespace, canon))
        self.strings.append(f"{namespace}{SEP}{canon}")
        self.current.append(mid)
        self._index_tokens(slot, namespace, canon)

    def drop(self, namespace: str, canon: str, mid: str) -> None:
        """Forget ``mid`` as the key's value (if it is the current one)."""
        slot = self._slot(namespace, canon)
        if slot < 0 or self.current[slot] != mid:
            return
        self.current[slot] = None
        self.by_ns.get(namespace, {}).pop(slot, None)
        posts = self.token_posts.get(namespace, {})
        for t in (self.slot_tokens[slot].tolist() if slot < len(self.slot_tokens) else []):
            s = posts.get(t)
            if s is not None:
                s.discard(slot)
                if not s:
                    del posts[t]

    def get(self, namespace: str, canon: str) -> str | None:
        slot = self._slot(namespace, canon)
        return self.current[slot] if slot >= 0 else None

    def match(self, namespace: str, query: str) -> list[tuple[str, float, str]]:
        """Keys of ``namespace`` whose tokens the query covers: ``[(id, coverage, key string)]``."""
        posts = self.token_posts.get(namespace)
        if not posts:
            return []
        q = np.unique(self.hasher.tokens(canonical_tokens(query)))
        n_keys = len(self.by_ns.get(namespace, {}))
        touched: set[int] = set()
        for t in q.tolist():
            touched |= posts.get(t, set())
        out = []
        qset = set(q.tolist())
        for slot in touched:
            mid = self.current[slot]
            if mid is None:
                continue
            toks = self.slot_tokens[slot].tolist()
            idf = [math.log1p((n_keys - len(posts.get(t, ())) + 0.5) / (len(posts.get(t, ())) + 0.5)) for t in toks]
            total = sum(idf) or 1.0
            got = sum(w for t, w in zip(toks, idf) if t in qset)
            out.append((mid, got / total, self.strings[slot].split(SEP, 1)[1]))
        out.sort(key=lambda t: -t[1])
        return out

    def nbytes(self) -> int:
        return self.table.nbytes() + sum(len(s) + 49 for s in self.strings) + 8 * len(self.current)

    def stats(self) -> dict:
        st = self.table.stats()
        return {"keys": len(self), "key_slots": st["items"], "buckets": st["buckets"],
                "load_factor": st["load_factor"], "collisions": st["collisions"], "overflow": st["overflow"]}
