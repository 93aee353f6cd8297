"""Hebbian association memory: the pure math (no store, no I/O).

Pattern separation (seed 002). A memory's embedding ``x ∈ R^d`` (d = 384) becomes two sparse
binary codes through fixed random projections ``P_c, P_t ∈ R^{d×N}`` (N ≈ 16K, entries
``~ N(0, 1/d)``, drawn from a seed that the store keeps):

    cue(x)    = WTA_k(xᵀ P_c)        target(x) = WTA_k(xᵀ P_t)

``WTA_k`` keeps the k largest of N units (value 1) and silences the rest, so two different
memories share few active units (≈ k²/N by chance) even when their embeddings are close.
A code is stored as its k active unit indices (int32), never as a dense N-vector.

Association (one-shot Hebbian learning). Linking cue memory a to target memory b with weight w:

    W ← W + w · target(b) ⊗ cue(a)                     (an outer product: k² entries)

W is sparse (scipy CSC plus a small pending COO buffer): a dense N×N float32 W would be 1 GB.

Recall. For a binary cue code c the field is ``h = W c`` (the sum of W's columns at c's units).
Its k·breadth winners ``WTA(h)`` are mapped back to stored memories through an inverted index
over the target codes (clean-up), scoring each candidate b by

    s(b) = Σ_{u ∈ target(b)} h_u / k²

which is exactly w for a cue whose only link is w·target(b)⊗cue(a), and smaller under crosstalk.
Multi-hop follows the chain by re-coding the recalled memory as a cue (``cue(x_b)``) and
repeating: a → b → c …, each hop a clean ``WTA(W · code)`` step.

Error-correcting replay (contrastive Hebbian / equilibrium propagation, seed 000). For a
replayed pair (c, t) the *free* state is what W recalls now, ``f = WTA_k(W c)``; the *nudged*
state is the target code t. The update

    ΔW = η · (t − f) ⊗ c

is local (it needs only the two states and the cue, no stored activations) and vanishes when
recall is already right, so replay removes crosstalk instead of piling up outer products.
Homeostasis scales W by a factor γ < 1 and pruning zeroes entries with ``|W_ij| < θ``.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import numpy as np

from nuonuo.linalg import matmul


def _sparse():
    """``scipy.sparse``, imported on first use (~0.1 s): a process that never touches W (a CLI
    recall in a store without links) does not pay for it."""
    import scipy.sparse

    return scipy.sparse


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, e) for s, e in zip(starts, ends)])`` in a few vector operations
    (a recall's hops call this for tens of ranges each: the Python loop was most of their time)."""
    lengths = np.maximum(np.asarray(ends, dtype=np.int64) - starts, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    firsts = np.cumsum(lengths) - lengths  # where each range begins in the output
    return np.repeat(np.asarray(starts, dtype=np.int64) - firsts, lengths) + np.arange(total, dtype=np.int64)


TORCH_ROWS = 4096  # importing torch (~2 s) costs what np.argpartition takes on ~4K rows of 16K units


def _torch_for(rows: int):
    """torch for batched WTA (torch.topk is ~6-10× faster than np.argpartition on [n, 16K]) when it
    is loaded already or the batch is big enough to pay for its import; None: numpy, which spares a
    CLI call on a small store (and the ONNX encoder's processes) the import of torch."""
    if rows <= 64:  # a few rows: numpy, without torch's thread start-up
        return None
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "topk"):
        return torch
    if rows < TORCH_ROWS:
        return None
    import torch

    return torch


def wta(field: np.ndarray, k: int) -> np.ndarray:
    """Winner-take-all: the indices of the k largest entries (sorted), for one vector or a batch
    (rows). Ties and all-zero fields give some k units; callers check the field's mass."""
    field = np.asarray(field)
    if field.ndim == 1:
        k = min(k, field.shape[0])
        idx = np.argpartition(-field, k - 1)[:k]
        return np.sort(idx).astype(np.int32)
    k = min(k, field.shape[1])
    torch = _torch_for(field.shape[0])
    if torch is None:
        idx = np.argpartition(-field, k - 1, axis=1)[:, :k]
        return np.sort(idx, axis=1).astype(np.int32)
    idx = torch.topk(torch.from_numpy(np.ascontiguousarray(field, dtype=np.float32)), k, dim=1).indices
    return np.sort(idx.numpy(), axis=1).astype(np.int32)


@dataclass
class Projections:
    """The fixed random projections P_c (cue) and P_t (target), drawn from ``seed``."""

    seed: int
    dim: int
    code_dim: int
    k: int

    def __post_init__(self) -> None:
        self._drawn: tuple[np.ndarray, np.ndarray] | None = None
        self._draw_lock = threading.Lock()

    def _draw(self) -> tuple[np.ndarray, np.ndarray]:
        """Both matrices, drawn on first use (2 × 384 × 16K float32: ~0.25 s and 50 MB that a
        process which computes no code, e.g. a CLI recall in a store without links, never pays)."""
        if self._drawn is None:
            with self._draw_lock:
                if self._drawn is None:
                    rng = np.random.default_rng(self.seed)
                    scale = np.float32(1.0 / np.sqrt(self.dim))
                    cue = rng.standard_normal((self.dim, self.code_dim), dtype=np.float32) * scale
                    target = rng.standard_normal((self.dim, self.code_dim), dtype=np.float32) * scale
                    self._drawn = (cue, target)
        return self._drawn

    @property
    def cue_proj(self) -> np.ndarray:
        return self._draw()[0]

    @property
    def target_proj(self) -> np.ndarray:
        return self._draw()[1]

    def _codes(self, vectors: np.ndarray, proj: np.ndarray, chunk: int = 2048) -> np.ndarray:
        x = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        torch = _torch_for(x.shape[0])
        if torch is None:  # a recall's few rows, or a small store opened by a CLI call
            if x.shape[0] <= chunk:
                return wta(matmul(x, proj), self.k)
            return np.concatenate([wta(matmul(x[s:s + chunk], proj), self.k) for s in range(0, x.shape[0], chunk)])
        out = np.empty((x.shape[0], self.k), dtype=np.int32)
        p = torch.from_numpy(proj)
        for s in range(0, x.shape[0], chunk):
            h = torch.from_numpy(np.ascontiguousarray(x[s:s + chunk])) @ p
            out[s:s + chunk] = np.sort(torch.topk(h, self.k, dim=1).indices.numpy(), axis=1)
        return out

    def cue_codes(self, vectors: np.ndarray) -> np.ndarray:
        """``cue(x) = WTA_k(xᵀ P_c)`` for each row: an int32 array [n, k] of active units."""
        return self._codes(vectors, self.cue_proj)

    def target_codes(self, vectors: np.ndarray) -> np.ndarray:
        """``target(x) = WTA_k(xᵀ P_t)`` for each row."""
        return self._codes(vectors, self.target_proj)


class SparseW:
    """The N×N association matrix: a CSC matrix plus a pending COO buffer of recent additions.

    ``field(c) = W c`` for a binary code c sums the columns at c's units (CSC makes a column a
    contiguous slice). Additions go to the buffer and are merged (duplicates summed) when it
    grows past ``merge_every`` entries or on ``compact()``."""

    def __init__(self, n: int, merge_every: int = 100_000):
        self.n = n
        self.merge_every = merge_every
        self._m = None  # the CSC matrix, made on first use (see ``_csc``)
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._pending = 0
        self._by_col: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # pending, sorted by column

    @property
    def _csc(self):
        if self._m is None:
            self._m = _sparse().csc_matrix((self.n, self.n), dtype=np.float32)
        return self._m

    @_csc.setter
    def _csc(self, value) -> None:
        self._m = value

    # --- learning ---------------------------------------------------------------------------------
    def add_outer(self, target_units: np.ndarray, cue_units: np.ndarray, weights: np.ndarray | float) -> None:
        """``W += Σ_p w_p · t_p ⊗ c_p`` for a batch of code pairs ([n, k] unit arrays) or one pair."""
        t = np.atleast_2d(np.asarray(target_units, dtype=np.int32))
        c = np.atleast_2d(np.asarray(cue_units, dtype=np.int32))
        n, kt = t.shape
        kc = c.shape[1]
        w = np.broadcast_to(np.asarray(weights, dtype=np.float32), (n,))
        rows = np.repeat(t, kc, axis=1).reshape(-1)
        cols = np.tile(c, (1, kt)).reshape(-1)
        vals = np.repeat(w, kt * kc)
        self.add_entries(rows, cols, vals)

    def add_entries(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        """``W[rows, cols] += vals`` (duplicates add up)."""
        if len(rows) == 0:
            return
        self._rows.append(np.asarray(rows, dtype=np.int32))
        self._cols.append(np.asarray(cols, dtype=np.int32))
        self._vals.append(np.asarray(vals, dtype=np.float32))
        self._pending += len(rows)
        self._by_col = None
        if self._pending >= self.merge_every:
            self.compact()

    def compact(self) -> None:
        """Merge the pending buffer into the CSC matrix (summing duplicate entries)."""
        if not self._pending:
            return
        add = _sparse().csc_matrix((np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
                            shape=(self.n, self.n), dtype=np.float32)
        self._rows, self._cols, self._vals, self._pending, self._by_col = [], [], [], 0, None
        merged = self._csc + add
        merged.sum_duplicates()
        self._csc = merged.tocsc()

    # --- recall -----------------------------------------------------------------------------------
    def field(self, cue_units: np.ndarray) -> np.ndarray:
        """``h = W c`` for a binary code c given by its units: a dense float32 vector of length N."""
        c = np.asarray(cue_units, dtype=np.int64)
        h = np.zeros(self.n, dtype=np.float32)
        m = self._csc
        starts, ends = m.indptr[c], m.indptr[c + 1]
        if (ends - starts).sum():
            sel = _ranges(starts, ends)
            np.add.at(h, m.indices[sel], m.data[sel])
        if self._pending:
            if self._by_col is None:  # built once per batch of additions, not per look-up
                cols = np.concatenate(self._cols)
                order = np.argsort(cols, kind="stable")
                self._by_col = (cols[order], np.concatenate(self._rows)[order], np.concatenate(self._vals)[order])
            cols, rows, vals = self._by_col
            lo, hi = np.searchsorted(cols, c, "left"), np.searchsorted(cols, c, "right")
            if (hi - lo).sum():
                sel = _ranges(lo, hi)
                np.add.at(h, rows[sel], vals[sel])
        return h

    def fields(self, cue_units: np.ndarray) -> np.ndarray:
        """``W C`` for a batch of codes ([n, k] units) as a dense [n, N] array (batched replay)."""
        self.compact()
        c = np.atleast_2d(np.asarray(cue_units))
        n = c.shape[0]
        x = _sparse().csr_matrix((np.ones(c.size, dtype=np.float32), (np.repeat(np.arange(n), c.shape[1]), c.reshape(-1))),
                          shape=(n, self.n))
        return np.asarray((x @ self._csc.T).todense(), dtype=np.float32)

    # --- homeostasis, pruning, inspection -----------------------------------------------------------
    def scale(self, factor: float) -> None:
        """Homeostasis: ``W ← γ W``."""
        self.compact()
        self._csc.data *= np.float32(factor)

    def prune(self, threshold: float) -> int:
        """Zero every entry with ``|W_ij| < θ``; returns how many were removed."""
        self.compact()
        weak = np.abs(self._csc.data) < threshold
        count = int(weak.sum())
        if count:
            self._csc.data[weak] = 0
            self._csc.eliminate_zeros()
        return count

    @property
    def nnz(self) -> int:
        """Stored non-zero entries (after merging the pending buffer)."""
        self.compact()
        return int(self._csc.nnz)

    def norm(self) -> float:
        """Frobenius norm ‖W‖_F."""
        self.compact()
        return float(np.sqrt(np.square(self._csc.data, dtype=np.float64).sum()))

    def sparsity(self) -> float:
        """Fraction of zero entries, 1 − nnz / N²."""
        self.compact()
        return 1.0 - self._csc.nnz / float(self.n) ** 2

    def nbytes(self) -> int:
        m = self._csc
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self._pending * 12)

    def copy(self) -> "SparseW":
        self.compact()
        other = SparseW(self.n, self.merge_every)
        other._csc = self._csc.copy()
        return other

    def columns(self):
        """``(col, rows, vals)`` for every non-empty column (the snapshot format)."""
        self.compact()
        m = self._csc
        for j in np.flatnonzero(np.diff(m.indptr)):
            s, e = m.indptr[j], m.indptr[j + 1]
            yield int(j), m.indices[s:e], m.data[s:e]

    @classmethod
    def from_columns(cls, n: int, cols: np.ndarray, rows: list[np.ndarray], vals: list[np.ndarray]) -> "SparseW":
        w = cls(n)
        if len(cols):
            lengths = np.array([len(r) for r in rows])
            w.add_entries(np.concatenate(rows), np.repeat(np.asarray(cols, dtype=np.int32), lengths),
                          np.concatenate(vals))
            w.compact()
        return w


class TargetIndex:
    """Inverted index over stored target codes: unit → slots, for mapping a settled code back to
    the stored memory whose target code overlaps it most (the clean-up step)."""

    def __init__(self, n_units: int, k: int):
        self.n_units = n_units
        self.k = k
        self.ids: list[str] = []
        self.slot: dict[str, int] = {}
        self._codes = np.zeros((0, k), dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self._order: np.ndarray | None = None
        self._indptr: np.ndarray | None = None
        self._indexed = 0  # slots covered by the sorted index; later ones are scanned directly

    def __len__(self) -> int:
        return int(self._alive.sum())

    def __contains__(self, mid: str) -> bool:
        s = self.slot.get(mid)
        return s is not None and bool(self._alive[s])

    def add(self, ids: list[str], codes: np.ndarray) -> None:
        fresh = [(i, c) for i, c in zip(ids, np.atleast_2d(codes)) if i not in self]
        if not fresh:
            return
        base = len(self.ids)
        for j, (mid, _) in enumerate(fresh):
            self.slot[mid] = base + j
            self.ids.append(mid)
        self._codes = np.concatenate([self._codes, np.stack([c for _, c in fresh]).astype(np.int32)])
        self._alive = np.concatenate([self._alive, np.ones(len(fresh), dtype=bool)])

    def code(self, mid: str) -> np.ndarray | None:
        s = self.slot.get(mid)
        return self._codes[s] if s is not None and self._alive[s] else None

    def remove(self, mid: str) -> None:
        s = self.slot.get(mid)
        if s is not None:
            self._alive[s] = False

    def _reindex(self) -> tuple[np.ndarray, np.ndarray]:
        """Sort the codes' slots by unit; returns (order, indptr), as now stored."""
        flat = self._codes.reshape(-1)
        self._order = np.argsort(flat, kind="stable").astype(np.int64)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=self.n_units))])
        self._indexed = len(self.ids)
        return self._order, self._indptr

    def candidates(self, units: np.ndarray) -> np.ndarray:
        """Slots (alive) whose code shares at least one unit with ``units``."""
        order, indptr = self._order, self._indptr
        if order is None or indptr is None or len(self.ids) - self._indexed > max(256, self._indexed // 8):
            order, indptr = self._reindex()
        u = np.asarray(units, dtype=np.int64)
        parts = [order[_ranges(indptr[u], indptr[u + 1])] // self.k]
        if self._indexed < len(self.ids):
            tail = self._codes[self._indexed:]
            parts.append(self._indexed + np.flatnonzero(np.isin(tail, u).any(axis=1)))
        slots = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        return slots[self._alive[slots]]

    def score(self, field: np.ndarray, top: int, min_score: float = 0.0,
              exclude: set[str] | None = None) -> list[tuple[str, float]]:
        """Clean-up: the ``top`` stored memories b maximising ``s(b) = Σ_{u∈target(b)} h_u / k²``
        among those sharing a unit with ``WTA(h)`` (k·top winners)."""
        if not self.ids or not np.any(field > 0):
            return []
        winners = wta(field, self.k * max(1, top))
        winners = winners[field[winners] > 0]
        slots = self.candidates(winners)
        if len(slots) == 0:
            return []
        s = field[self._codes[slots]].sum(axis=1) / float(self.k * self.k)
        order = np.argsort(-s)
        out: list[tuple[str, float]] = []
        for j in order:
            if s[j] < min_score or len(out) >= top:
                break
            mid = self.ids[slots[j]]
            if exclude and mid in exclude:
                continue
            out.append((mid, float(s[j])))
        return out


def contrastive_update(w: SparseW, cue_units: np.ndarray, target_units: np.ndarray, k: int, rate: float,
                       noise_cues: np.ndarray | None = None) -> int:
    """One replay pass of the local error-correcting rule over a batch of pairs:
    ``f = WTA_k(W c)``, ``ΔW = η (t − f) ⊗ c``. ``noise_cues`` (optional) replaces the replayed
    cue codes (a noisy replay). Returns how many pairs were recalled wrong (f ≠ t) before the
    update. Memory use is bounded by the batch, not by the number of epochs or pairs."""
    c = np.atleast_2d(noise_cues if noise_cues is not None else cue_units)
    t = np.atleast_2d(target_units)
    free = wta(w.fields(c), k)
    plus = ~(t[:, :, None] == free[:, None, :]).any(axis=2)   # units of t − f = +1
    minus = ~(free[:, :, None] == t[:, None, :]).any(axis=2)  # units of t − f = −1
    kc = c.shape[1]
    rows, cols, vals = [], [], []
    for mask, units, sign in ((plus, t, 1.0), (minus, free, -1.0)):
        pi, pj = np.nonzero(mask)
        rows.append(np.repeat(units[pi, pj], kc))
        cols.append(c[pi].reshape(-1))
        vals.append(np.full(len(pi) * kc, sign * rate, dtype=np.float32))
    w.add_entries(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals))
    return int(plus.any(axis=1).sum())


# --- replay (sleep's error-correcting passes) ----------------------------------------------------------
def replay_recall(w: SparseW, cues: np.ndarray, targets: np.ndarray, k: int, batch: int = 256) -> float:
    """Fraction of pairs whose free recall ``WTA_k(W c)`` shares at least half of the target's units."""
    if len(cues) == 0:
        return 1.0
    ok = 0
    for s in range(0, len(cues), batch):
        free = wta(w.fields(cues[s:s + batch]), k)
        t = targets[s:s + batch]
        ok += sum(len(np.intersect1d(f, tt)) * 2 >= k for f, tt in zip(free, t))
    return ok / len(cues)


def noisy_codes(cues: np.ndarray, n_units: int, k: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy replay cue: each active unit of c is swapped, with probability ρ, for a random unit
    (the code-space analogue of a noisy cue vector; cheap: no N-dimensional noise)."""
    out = cues.copy()
    swap = rng.random(out.shape) < rho
    out[swap] = rng.integers(0, n_units, int(swap.sum()), dtype=out.dtype)
    return out


def replay(w: SparseW, cues: np.ndarray, targets: np.ndarray, repeats: np.ndarray, k: int, epochs: int,
           rate: float, noise: float, rng: np.random.Generator, batch: int = 256, early_stop: bool = True) -> int:
    """Epochs of contrastive replay over the pairs (each pair ``repeats[i]`` times per epoch),
    stopping early after an epoch without errors. Returns the number of corrective updates made."""
    order = np.repeat(np.arange(len(cues)), repeats)
    updates = 0
    for _ in range(epochs):
        rng.shuffle(order)
        epoch_updates = 0
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            c = cues[idx]
            cn = noisy_codes(c, w.n, k, noise, rng) if noise > 0 else None
            epoch_updates += contrastive_update(w, c, targets[idx], k, rate, cn)
        updates += epoch_updates
        if early_stop and epoch_updates == 0:  # every pair recalled right: further epochs would change nothing
            break
    return updates
