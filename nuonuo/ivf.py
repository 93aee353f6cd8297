"""An inverted-file (IVF) coarse quantizer for stage 1 of recall on large namespaces.

Brute force costs one pass over the whole pattern matrix per query (100K × 384 floats ≈ 150 MB
of memory traffic, ~10 ms on two cores). IVF partitions the unit patterns into ``C ≈ 2√N`` cells
with spherical k-means,

.. math::

    c_j = \\frac{\\sum_{x ∈ S_j} x}{\\lVert \\sum_{x ∈ S_j} x \\rVert}, \\qquad
    S_j = \\{x : j = \\arg\\max_l c_lᵀ x\\},

and answers a query by scanning only the ``nprobe`` cells whose centroids score highest against it:
``≈ N · nprobe / C`` rows. The index holds no copy of the patterns: ``build`` returns the order
that groups them cell by cell, the caller (``PatternIndex``) stores its own rows in that order, and
a cell is then one contiguous slice of the caller's matrix (a 100K × 384 float32 copy is 150 MB).
Patterns appended after a build live in a tail that is always scanned exactly; the index is
rebuilt when the tail grows past a fraction of the whole or when a pattern is removed.

Shape: patterns ``(N, d)``, centroids ``(C, d)``, query ``(d,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def spherical_kmeans(x: np.ndarray, cells: int, iters: int = 8, seed: int = 0) -> np.ndarray:
    """Unit centroids ``(cells, d)`` of the unit rows of ``x`` (Lloyd iterations on cosine)."""
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(len(x), size=cells, replace=False)].copy()
    for _ in range(iters):
        assign = np.argmax(x @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, x)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        sums[empty] = x[rng.choice(len(x), size=int(empty.sum()), replace=False)]
        norms[empty] = 1.0
        centroids = sums / norms
    return centroids.astype(np.float32)


@dataclass
class IVF:
    centroids: np.ndarray  # (C, d)
    offsets: np.ndarray    # (C + 1,): cell j is rows offsets[j]:offsets[j+1] of the (reordered) matrix
    built: int             # N at build time; rows ≥ built are the exact-scanned tail

    @classmethod
    def build(cls, x: np.ndarray, sample: int = 10_000, seed: int = 0) -> tuple["IVF", np.ndarray]:
        """The index and the order of ``x``'s rows that groups them by cell (the caller reorders
        its rows so: ``x[order]``; the index describes the reordered matrix)."""
        n = len(x)
        cells = max(8, int(2 * np.sqrt(n)))
        rng = np.random.default_rng(seed)
        train = x if n <= sample else x[rng.choice(n, size=sample, replace=False)]
        centroids = spherical_kmeans(train, min(cells, len(train)), seed=seed)
        assign = np.empty(n, dtype=np.int64)
        for start in range(0, n, 16_384):  # bounded temporary memory
            assign[start:start + 16_384] = np.argmax(x[start:start + 16_384] @ centroids.T, axis=1)
        order = np.argsort(assign, kind="stable")
        counts = np.bincount(assign, minlength=len(centroids))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return cls(centroids, offsets, n), order

    def candidates(self, x: np.ndarray, query: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions (in ``x``, the reordered matrix) and cosines of the patterns in the
        ``nprobe`` best cells."""
        cell_scores = self.centroids @ query
        nprobe = min(nprobe, len(cell_scores))
        best = np.argpartition(-cell_scores, nprobe - 1)[:nprobe]
        spans = [(self.offsets[j], self.offsets[j + 1]) for j in best]
        # one matmul per cell over a contiguous slice: no gather copy of the rows
        sims = np.concatenate([x[a:b] @ query for a, b in spans])
        positions = np.concatenate([np.arange(a, b) for a, b in spans])
        return positions, sims
