"""``PairMemory``: a standalone cue → target association memory over raw vectors (no store), built
from ``nuonuo.hebbian``'s math: seed 002's experimental harness, used by ``benchmarks/associative.py``
and the tests of the Hebbian and replay math (tests/test_hebbian.py, tests/test_consolidation.py).
"""

from __future__ import annotations

import numpy as np

from nuonuo.hebbian import Projections, SparseW, TargetIndex, replay


class PairMemory:
    """A standalone cue → target association memory over raw vectors (no store): the seed's
    experimental harness.

    ``learn(cues, targets)`` stores pairs (one-shot Hebbian); ``recall(cues)`` returns, per cue,
    the index of the stored target whose code the field ``W·cue(x)`` matches best (−1 if none);
    ``consolidate`` is one night: homeostasis, pruning, then contrastive replay of the buffer."""

    def __init__(self, dim: int, code_dim: int = 16384, k: int = 16, seed: int = 0):
        self.proj = Projections(seed, dim, code_dim, k)
        self.k = k
        self.W = SparseW(code_dim)
        self.index = TargetIndex(code_dim, k)
        self.cue_units = np.zeros((0, k), dtype=np.int32)
        self.target_units = np.zeros((0, k), dtype=np.int32)
        self.importance = np.zeros(0, dtype=np.float32)
        self.buffer: list[int] = []  # pair numbers awaiting replay

    def __len__(self) -> int:
        return len(self.cue_units)

    def learn(self, cues: np.ndarray, targets: np.ndarray, importance: float = 0.5, record: bool = True) -> np.ndarray:
        c, t = self.proj.cue_codes(cues), self.proj.target_codes(targets)
        start = len(self)
        ids = np.arange(start, start + len(c))
        self.cue_units = np.concatenate([self.cue_units, c])
        self.target_units = np.concatenate([self.target_units, t])
        self.importance = np.concatenate([self.importance, np.full(len(c), importance, dtype=np.float32)])
        self.W.add_outer(t, c, 1.0)
        self.index.add([str(i) for i in ids], t)
        if record:
            self.buffer.extend(ids.tolist())
        return ids

    def recall(self, cues: np.ndarray, batch: int = 256) -> np.ndarray:
        """Index of the recalled target per cue vector (clean-up through the target index)."""
        codes = self.proj.cue_codes(cues)
        out = np.full(len(codes), -1, dtype=np.int64)
        for s in range(0, len(codes), batch):
            h = self.W.fields(codes[s:s + batch])
            for j, row in enumerate(h):
                best = self.index.score(row, 1)
                if best:
                    out[s + j] = int(best[0][0])
        return out

    def consolidate(self, epochs: int = 5, homeostasis: float = 0.95, prune: float = 0.01, rate: float = 0.1,
                    noise: float = 0.0, priority_replays: int = 4, rng: np.random.Generator | None = None,
                    early_stop: bool = True) -> int:
        self.W.scale(homeostasis)
        pruned = self.W.prune(prune)
        if self.buffer and epochs:
            ids = np.asarray(self.buffer)
            repeats = 1 + np.round(priority_replays * np.clip(2 * self.importance[ids] - 1, 0, 1)).astype(np.int64)
            replay(self.W, self.cue_units[ids], self.target_units[ids], repeats, self.k, epochs, rate, noise,
                   rng or np.random.default_rng(0), early_stop=early_stop)
        return pruned

    def keep_fraction(self, fraction: float, rng: np.random.Generator) -> None:
        """The seed's ``selective_clear``: keep a random fraction of the replay buffer."""
        if self.buffer:
            keep = rng.choice(len(self.buffer), int(len(self.buffer) * fraction), replace=False)
            self.buffer = [self.buffer[i] for i in sorted(keep)]
