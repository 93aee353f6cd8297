"""Two-stage Hopfield recall: nearest-neighbour top-K, then a modern-Hopfield settle over those K.

Stage 1 (``PatternIndex.top_k``): the cosine ``s = X q`` of the query against every stored pattern
of a namespace (rows of ``X`` are unit vectors), keeping the K best.

Stage 2 (``hopfield_settle``), Ramsauer et al. 2020, "Hopfield Networks is All You Need":

.. math::

    ξ_{t+1} = X_Kᵀ \\operatorname{softmax}(β X_K ξ_t), \\qquad ξ_0 = q

which is the CCCP minimisation of the energy

.. math::

    E(ξ) = -β^{-1} \\log \\sum_{i=1}^{K} \\exp(β x_iᵀ ξ) + ½ ξᵀξ + β^{-1} \\log K + ½ M²

(``M`` the largest pattern norm, 1 here). Each update lowers ``E``; iterating to a fixed point
(‖ξ_{t+1} − ξ_t‖ < ε) pulls a noisy or partial cue into the basin of the stored pattern (or the
metastable mixture of patterns) it is closest to. Large β → nearest pattern; small β → average.

Shape: ``X_K`` is ``(K, d)``, ``q`` and ``ξ`` are ``(d,)``, the attention ``p`` is ``(K,)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from nuonuo.linalg import matmul

if TYPE_CHECKING:
    from nuonuo.ivf import IVF


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def hopfield_energy(state: np.ndarray, patterns: np.ndarray, beta: float) -> float:
    """E(ξ) = −β⁻¹ log Σ_i exp(β x_iᵀξ) + ½ ξᵀξ (constants dropped)."""
    z = beta * (patterns @ state)
    m = z.max()
    lse = m + np.log(np.exp(z - m).sum())
    return float(-lse / beta + 0.5 * state @ state)


@dataclass
class Settled:
    state: np.ndarray      # ξ*, the fixed point (not unit norm: a convex mixture of patterns)
    attention: np.ndarray  # p = softmax(β X_K ξ*), sums to 1 over the K candidates
    steps: int             # updates taken


def hopfield_settle(cue: np.ndarray, patterns: np.ndarray, beta: float, max_steps: int = 5,
                    eps: float = 1e-4) -> Settled:
    """Iterate ξ ← X_Kᵀ softmax(β X_K ξ) from ξ₀ = cue until it moves less than ``eps``."""
    state = cue.astype(np.float32, copy=True)
    steps = 0
    for steps in range(1, max_steps + 1):
        attention = softmax(beta * (patterns @ state))
        new_state = attention @ patterns
        moved = float(np.linalg.norm(new_state - state))
        state = new_state
        if moved < eps:
            break
    attention = softmax(beta * (patterns @ state))
    return Settled(state=state, attention=attention, steps=steps)


class PatternIndex:
    """The in-RAM pattern matrix of one namespace: unit rows, their ids and creation times.

    Appends are amortised O(d) (capacity doubling); removal swaps the last row into the hole. With an
    IVF index (large namespaces) a removal keeps it: the row swapped into a cell's slice is one the
    index does not place there, so its position joins the *displaced* rows, scanned exactly on
    every search like the tail of rows added since the build; the index is rebuilt when the tail and
    the displaced rows pass a fifth of it (rebuilding on every removal cost the next recall ~0.8 s
    at 100K).
    """

    #: namespaces at least this large answer stage 1 through an IVF index (``nuonuo.ivf``)
    ivf_min = 50_000
    #: cells scanned per query
    ivf_nprobe = 32

    def __init__(self, dim: int, capacity: int = 1024):
        self.dim = dim
        self._ivf: IVF | None = None
        self._displaced: set[int] = set()  # positions inside the IVF's cells holding rows it places elsewhere
        self._x = np.zeros((capacity, dim), dtype=np.float32)
        self._t = np.zeros(capacity, dtype=np.float64)
        self.ids: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def matrix(self) -> np.ndarray:
        return self._x[: len(self.ids)]

    @property
    def times(self) -> np.ndarray:
        return self._t[: len(self.ids)]

    def _grow(self, need: int) -> None:
        cap = self._x.shape[0]
        if need <= cap:
            return
        cap = max(need, cap * 2)  # doubling for appends; a bulk add (the load at open) gets its exact size
        x = np.zeros((cap, self.dim), dtype=np.float32)
        t = np.zeros(cap, dtype=np.float64)
        x[: len(self.ids)] = self.matrix
        t[: len(self.ids)] = self.times
        self._x, self._t = x, t

    def add(self, ids: list[str], vectors: np.ndarray, times: np.ndarray, rows: np.ndarray | None = None,
            ivf: dict[str, np.ndarray] | None = None) -> None:
        """Append ``ids`` with their patterns: ``vectors``, or with ``rows`` the rows ``vectors[rows]``
        (gathered straight into the matrix: a load at open copies each pattern once). With ``ivf``
        (an ``ivf_state``) describing exactly ``ids``, an empty index takes them in its cell order
        and the IVF serves the first search (a snapshot reader's load: no k-means, no reordering)."""
        found = self._ivf_of(ivf, ids) if ivf is not None and not self.ids else None
        if found is not None:
            order = found[1]
            rows = order if rows is None else np.asarray(rows)[order]
            ids, times = [ids[i] for i in order], np.asarray(times)[order]
        n = len(self.ids)
        self._grow(n + len(ids))
        if rows is None:
            self._x[n:n + len(ids)] = vectors
        else:
            np.take(vectors, rows, axis=0, out=self._x[n:n + len(ids)], mode="clip")  # clip: unbuffered
        self._t[n:n + len(ids)] = times
        for i, mid in enumerate(ids):
            self._pos[mid] = n + i
        self.ids.extend(ids)
        if found is not None:
            self._ivf, self._displaced = found[0], set()

    @property
    def has_ivf(self) -> bool:
        """Whether an IVF index serves the next search (built, or taken from an ``ivf_state``)."""
        return self._ivf is not None

    def remove(self, mid: str) -> None:
        pos = self._pos.pop(mid, None)
        if pos is None:
            return
        last = len(self.ids) - 1
        if self._ivf is not None:
            self._keep_ivf(pos, last)
        if pos != last:
            moved = self.ids[last]
            self._x[pos] = self._x[last]
            self._t[pos] = self._t[last]
            self.ids[pos] = moved
            self._pos[moved] = pos
        self.ids.pop()

    def _keep_ivf(self, pos: int, last: int) -> None:
        """Before the row at ``last`` moves into the hole at ``pos``: the IVF's bookkeeping for it."""
        ivf = self._ivf
        assert ivf is not None
        self._displaced.discard(last)
        if last < ivf.built:  # no tail: the matrix's last row leaves the last non-empty cell
            cell = int(np.searchsorted(ivf.offsets, last, side="right")) - 1
            offsets = ivf.offsets.copy()  # an ivf_state handed out may still hold the old array
            offsets[cell + 1:] = last
            self._ivf = ivf = replace(ivf, offsets=offsets, built=last)
        if pos < ivf.built and pos != last:
            self._displaced.add(pos)  # a cell's slice now holds a row the IVF places elsewhere
        else:
            self._displaced.discard(pos)

    def vector(self, mid: str) -> np.ndarray | None:
        pos = self._pos.get(mid)
        return None if pos is None else self._x[pos]

    def vectors(self, mids: list[str]) -> np.ndarray:
        """The stored patterns of ``mids`` (each must be in the index), one row each."""
        return np.stack([self._x[self._pos[m]] for m in mids])

    def __contains__(self, mid: str) -> bool:
        return mid in self._pos

    def cosines(self, query: np.ndarray) -> np.ndarray:
        """s = X q for every stored pattern (on torch's thread pool: see ``nuonuo.linalg``)."""
        return matmul(self.matrix, query)

    def top_k(self, query: np.ndarray, k: int, before: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and cosines of the k best patterns (created at or before ``before``, if given)."""
        n = len(self.ids)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if n >= self.ivf_min:
            positions, sims = self._ivf_candidates(query)
        else:
            positions, sims = np.arange(n), self.cosines(query)
        if before is not None:
            sims = np.where(self.times[positions] <= before, sims, -np.inf)
        k = min(k, len(sims))
        part = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        order = part[np.argsort(-sims[part])]
        keep = np.isfinite(sims[order])
        return positions[order[keep]], sims[order][keep]

    # --- the IVF as arrays: a snapshot's first reader builds it, the next ones read it ----------------
    def ivf_state(self) -> dict[str, np.ndarray] | None:
        """The IVF index and the ids in the order it describes, or None: no index, or rows added
        or removed since it was built (``add(…, ivf=…)`` takes it)."""
        ivf = self._ivf
        if ivf is None or ivf.built != len(self.ids) or self._displaced:
            return None
        return {"centroids": ivf.centroids, "offsets": ivf.offsets,
                "ids": np.frombuffer("\0".join(self.ids).encode("utf-8"), np.uint8)}

    def _ivf_of(self, state: dict[str, np.ndarray], ids: list[str]) -> "tuple[IVF, np.ndarray] | None":
        """The IVF ``state`` describes and the positions in ``ids`` in its cell order, when it describes
        exactly ``ids`` with patterns of this dimension; None otherwise."""
        from nuonuo.ivf import IVF

        n = len(ids)
        try:
            kept = state["ids"].tobytes().decode("utf-8").split("\0")
            pos = {mid: i for i, mid in enumerate(ids)}
            order = np.fromiter((pos[m] for m in kept), np.int64, len(kept)) if len(kept) == n else None
            centroids = np.asarray(state["centroids"], np.float32)
            offsets = np.asarray(state["offsets"], np.int64)
        except (KeyError, ValueError, UnicodeDecodeError):
            return None
        if (order is None or np.bincount(order, minlength=n).max(initial=0) != 1
                or centroids.ndim != 2 or centroids.shape[1] != self.dim or offsets.shape != (len(centroids) + 1,)
                or offsets[0] != 0 or offsets[-1] != n or np.any(np.diff(offsets) < 0)):
            return None
        return IVF(centroids, offsets, n), order

    def _reorder(self, order: np.ndarray) -> None:
        """Store the rows in ``order`` (the IVF's cells, each contiguous): new arrays swapped in."""
        n = len(self.ids)
        x = np.empty_like(self._x)
        np.take(self._x[:n], order, axis=0, out=x[:n], mode="clip")  # clip: unbuffered
        t = np.zeros_like(self._t)
        t[:n] = self._t[:n][order]
        ids = [self.ids[i] for i in order]
        self._x, self._t, self.ids, self._pos = x, t, ids, {mid: i for i, mid in enumerate(ids)}

    def prepare(self) -> None:
        """Build now what the first search of a large index would (its IVF, from ``ivf_min``
        patterns; ~1 s at 100K): a server does it before it answers."""
        if len(self.ids) >= self.ivf_min:
            self._ensure_ivf()

    def _ensure_ivf(self) -> "IVF":
        """The IVF index, built (again) when there is none or the exact tail outgrew a fifth of it."""
        from nuonuo.ivf import IVF

        ivf, n = self._ivf, len(self.ids)
        if ivf is None or n - ivf.built + len(self._displaced) > 0.2 * ivf.built:
            ivf, order = IVF.build(self.matrix)
            self._reorder(order)
            self._ivf, self._displaced = ivf, set()
            import nuonuo.memtrim as memtrim

            memtrim.release()  # the k-means temporaries and the old row arrays
        return ivf

    def _ivf_candidates(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """IVF cells plus, scanned exactly, the tail of patterns added since the last build and the
        rows displaced into cells by removals (each position once)."""
        n = len(self.ids)
        ivf = self._ensure_ivf()
        positions, sims = ivf.candidates(self._x, query, self.ivf_nprobe)
        if self._displaced:
            shifted = np.fromiter(self._displaced, np.int64, len(self._displaced))
            keep = ~np.isin(positions, shifted)
            positions = np.concatenate([positions[keep], shifted])
            sims = np.concatenate([sims[keep], self._x[shifted] @ query])
        if n > ivf.built:
            tail = np.arange(ivf.built, n)
            positions = np.concatenate([positions, tail])
            sims = np.concatenate([sims, matmul(self._x[ivf.built:n], query)])
        return positions, sims
