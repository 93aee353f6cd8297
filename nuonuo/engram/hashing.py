"""Deterministic multi-head hashing of canonical tokens and their suffix n-grams.

Everything here is seeded and process-independent (never Python's randomised ``hash()``).

Token fingerprint (64 bit), keyed BLAKE2b:

.. math::

    f(t) = \\operatorname{BLAKE2b}_{64}(\\text{key}=s,\\; \\text{utf8}(t))

N-gram fingerprint, folded left over the tokens with the splitmix64 finaliser ``μ`` (a bijection
on 64-bit words) and an odd multiplier ``C``; the order ``n`` is mixed in so that an n-gram never
equals a shorter one by construction:

.. math::

    g_1 = μ(f(t_i) ⊕ 1), \\qquad g_{m+1} = μ(g_m · C + f(t_{i+m}) + m + 1) \\pmod{2^{64}}

Suffix n-grams: for a token sequence ``t_1 … t_L`` and every position ``i``, the n-grams ending at
``i`` of length ``n = 1 … N`` (``N = 3`` by default), i.e. every n-gram of the sequence.

Head ``j`` (of ``H``) maps a fingerprint to a bucket of its own prime-sized table ``M_j``:

.. math::

    h_j(g) = μ(g ⊕ σ_j) \\bmod M_j

with per-head seeds ``σ_j = μ(s + j + 1)``. Because ``μ`` is a strong mixer and the ``σ_j``
differ, the heads behave as independent hash functions: two keys share a bucket in every head with
probability about ``∏_j 1/M_j``.

``MultiHeadTable`` uses the heads as H choices (multiple-choice / cuckoo-style placement): an item
goes to the first head whose bucket is free; a lookup probes at most H buckets and *verifies* the
stored fingerprint (and, for exact keys, the stored canonical string), so a collision is never
returned as a match. Items that find no free bucket in any head go to a small overflow map.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

DEFAULT_SEED = 0x6E756F6E756F  # "nuonuo"
_C = np.uint64(0x9E3779B97F4A7C15)  # odd: 2^64 / φ
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_EMPTY = np.int32(-1)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser μ (vectorised, uint64 → uint64, a bijection):
    ``z ← (z ⊕ z≫30)·M1; z ← (z ⊕ z≫27)·M2; z ← z ⊕ z≫31``."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


_MASK = (1 << 64) - 1


def mix64_int(z: int) -> int:
    """μ on one Python int (the same function as ``mix64``, without numpy's per-call overhead)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic below 3.3e24
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    n = max(2, int(n))
    while not is_prime(n):
        n += 1
    return n


def head_sizes(capacity: int, heads: int, load: float) -> list[int]:
    """H distinct primes, each ≥ capacity / (load · H) (and ≥ 7): total slots ≈ capacity / load."""
    base = max(7, int(np.ceil(capacity / max(load, 1e-3) / heads)))
    sizes: list[int] = []
    p = base
    for _ in range(heads):
        p = next_prime(p)
        sizes.append(p)
        p += 1
    return sizes


class TokenHasher:
    """Token → 64-bit fingerprint ``f(t)`` with a bounded memo (the vocabulary repeats a lot)."""

    def __init__(self, seed: int = DEFAULT_SEED, memo_limit: int = 1_000_000):
        self.seed = int(seed)
        self._key = self.seed.to_bytes(8, "little", signed=False)
        self._memo: dict[str, int] = {}
        self._memo_limit = memo_limit

    def token(self, tok: str) -> int:
        fp = self._memo.get(tok)
        if fp is None:
            fp = int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8, key=self._key).digest(), "little")
            if len(self._memo) >= self._memo_limit:
                self._memo.clear()
            self._memo[tok] = fp
        return fp

    def tokens(self, toks: Sequence[str]) -> np.ndarray:
        memo = self._memo
        vals = [memo.get(t) for t in toks]
        if None in vals:
            vals = [v if v is not None else self.token(t) for v, t in zip(vals, toks)]
        return np.array(vals, dtype=np.uint64) if vals else np.zeros(0, np.uint64)

    def string(self, text: str) -> int:
        """Fingerprint of a whole string (an exact key): ``f`` applied to the full text (no memo)."""
        return int.from_bytes(hashlib.blake2b(("\x1f" + text).encode("utf-8"), digest_size=8,
                                              key=self._key).digest(), "little")


def ngram_fingerprints(token_fps: np.ndarray, max_n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Every suffix n-gram (n = 1 … max_n) of a token-fingerprint sequence.

    Returns ``(fps, orders)``: the n-gram fingerprints ``g`` (uint64) and their order n (uint8),
    unigrams first, then bigrams, then trigrams (positions in sequence order within each)."""
    L = len(token_fps)
    if L == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint8)
    out, orders = [], []
    with np.errstate(over="ignore"):
        g = mix64(token_fps ^ np.uint64(1))
        out.append(g)
        orders.append(np.full(L, 1, np.uint8))
        for m in range(1, max_n):
            if L - m <= 0:
                break
            g = mix64(g[:-1] * _C + token_fps[m:] + np.uint64(m + 1))
            out.append(g)
            orders.append(np.full(len(g), m + 1, np.uint8))
    return np.concatenate(out), np.concatenate(orders)


class MultiHeadTable:
    """Fingerprint → slot (0 … n−1), H heads of prime size, placement by first free head.

    ``build(fps)`` places n distinct fingerprints in bulk (vectorised rounds, one per head);
    ``insert`` adds one; ``find(fps)`` returns each fingerprint's slot or −1, probing ≤ H buckets
    and verifying the stored fingerprint, so a bucket collision never yields a wrong slot.
    """

    def __init__(self, heads: int = 4, load: float = 0.5, seed: int = DEFAULT_SEED):
        if heads < 1:
            raise ValueError("heads must be ≥ 1")
        self.heads = heads
        self.load = load
        self.seeds = [np.uint64(int(mix64(np.array([seed + j + 1], np.uint64))[0])) for j in range(heads)]
        self._seed_ints = [int(s) for s in self.seeds]
        self.fps = np.zeros(0, np.uint64)      # slot → fingerprint
        self.sizes: list[int] = []
        self.tables: list[np.ndarray] = []     # head j: bucket → slot (−1 empty)
        self.overflow: dict[int, int] = {}     # fingerprint → slot, when every head's bucket was taken
        self.collisions = 0                    # items that met an occupied bucket in head 0
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def bucket(self, j: int, fps: np.ndarray) -> np.ndarray:
        """h_j(g) = μ(g ⊕ σ_j) mod M_j."""
        return (mix64(np.asarray(fps, np.uint64) ^ self.seeds[j]) % np.uint64(self.sizes[j])).astype(np.int64)

    def build(self, fps: np.ndarray, capacity: int | None = None) -> None:
        fps = np.asarray(fps, np.uint64)
        n = len(fps)
        self.sizes = head_sizes(max(capacity or n, 8), self.heads, self.load)
        self.tables = [np.full(m, _EMPTY, np.int32) for m in self.sizes]
        self.fps = np.empty(max(capacity or n, 8), np.uint64)
        self.fps[:n] = fps
        self._n = n
        self.overflow = {}
        todo = np.arange(n, dtype=np.int64)
        self.collisions = 0
        for j in range(self.heads):
            if len(todo) == 0:
                break
            b = self.bucket(j, fps[todo])
            free = self.tables[j][b] == _EMPTY
            # one winner per free bucket: the first item that hashes there
            cand_b, first = np.unique(b[free], return_index=True)
            winners = todo[free][first]
            self.tables[j][cand_b] = winners.astype(np.int32)
            placed = np.zeros(len(todo), bool)
            placed[np.flatnonzero(free)[first]] = True
            if j == 0:
                self.collisions = int((~placed).sum())
            todo = todo[~placed]
        for slot in todo.tolist():
            self.overflow[int(fps[slot])] = slot

    def insert(self, fp: int) -> int:
        """Add one fingerprint (not already present); returns its slot."""
        if self._n >= len(self.fps) or self._n >= sum(self.sizes) * self.load:
            old = self.fps[: self._n].copy()
            self.build(old, capacity=max(16, 2 * self._n))
        slot = self._n
        self.fps[slot] = fp
        self._n += 1
        arr = np.array([fp], np.uint64)
        for j in range(self.heads):
            b = int(self.bucket(j, arr)[0])
            if self.tables[j][b] == _EMPTY:
                self.tables[j][b] = slot
                return slot
            if j == 0:
                self.collisions += 1
        self.overflow[int(fp)] = slot
        return slot

    def find_one(self, fp: int) -> int:
        """Slot of one fingerprint or −1: the scalar path of ``find`` (≤ H probes, verified)."""
        if self._n == 0:
            return -1
        for j in range(self.heads):
            slot = int(self.tables[j][mix64_int(fp ^ self._seed_ints[j]) % self.sizes[j]])
            if slot >= 0 and int(self.fps[slot]) == fp:
                return slot
        return self.overflow.get(fp, -1)

    def find(self, fps: np.ndarray) -> np.ndarray:
        """Slot of each fingerprint, −1 where absent (≤ H probes each, fingerprint verified)."""
        fps = np.asarray(fps, np.uint64)
        out = np.full(len(fps), -1, np.int64)
        if self._n == 0 or len(fps) == 0:
            return out
        todo = np.arange(len(fps))
        for j in range(self.heads):
            if len(todo) == 0:
                break
            slot = self.tables[j][self.bucket(j, fps[todo])].astype(np.int64)
            hit = slot >= 0
            hit[hit] = self.fps[slot[hit]] == fps[todo][hit]
            out[todo[hit]] = slot[hit]
            todo = todo[~hit]
        if self.overflow and len(todo):
            for i in todo.tolist():
                out[i] = self.overflow.get(int(fps[i]), -1)
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The table as arrays (``restore`` reads them back)."""
        over = np.array(sorted(self.overflow.items()), np.uint64).reshape(-1, 2)
        return {"fps": self.fps, "n": np.array([self._n, self.collisions], np.int64),
                "sizes": np.array(self.sizes, np.int64), "slots": np.concatenate([*self.tables, np.zeros(0, np.int32)]),
                "overflow": over}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """The table ``state`` describes (same heads and seed: the caller checks the parameters)."""
        sizes = [int(m) for m in state["sizes"]]
        slots = state["slots"]
        if len(sizes) != self.heads or sum(sizes) != len(slots):
            raise ValueError("the table's state does not fit its heads")
        self.sizes = sizes
        self.tables = np.split(slots.astype(np.int32, copy=False), np.cumsum(sizes)[:-1])
        self.fps = state["fps"]
        self._n, self.collisions = (int(x) for x in state["n"])
        self.overflow = {int(fp): int(slot) for fp, slot in state["overflow"].tolist()}

    def stats(self) -> dict[str, float]:
        buckets = int(sum(self.sizes))
        return {"items": self._n, "buckets": buckets,
                "load_factor": round(self._n / buckets, 4) if buckets else 0.0,
                "collisions": self.collisions, "overflow": len(self.overflow)}

    def nbytes(self) -> int:
        return int(sum(t.nbytes for t in self.tables) + 8 * self._n + 64 * len(self.overflow))
