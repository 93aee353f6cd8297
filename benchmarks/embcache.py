"""An on-disk embedding cache for benchmarks, keyed by sha256(encoder name, max_seq_length, text).

Encoding LongMemEval's haystacks is the slow part of a run (~190K unique turns); this cache makes a
rerun take seconds and lets nuonuo and the dense baseline share the same vectors. Shards are
appended as ``shard-NNNNN.npz`` (hashes + float32 vectors), so a killed fill resumes where it was.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from nuonuo.encoder import Encoder

DEFAULT_DIR = Path(os.environ.get("NUONUO_BENCH_CACHE", Path.home() / ".cache" / "nuonuo-bench"))


class EmbeddingCache:
    def __init__(self, encoder: Encoder, root: Path = DEFAULT_DIR, max_seq_length: int = 256):
        self.encoder = encoder
        self.tag = f"{encoder.name}-{max_seq_length}"
        self.dir = Path(root) / self.tag
        self.dir.mkdir(parents=True, exist_ok=True)
        self._vecs: dict[bytes, np.ndarray] = {}
        self._shards = 0
        for shard in sorted(self.dir.glob("shard-*.npz")):
            try:
                data = np.load(shard)
                for h, v in zip(data["hashes"], data["vectors"]):
                    self._vecs[bytes(h)] = v
            except Exception:  # a shard cut short by a kill: drop it, its texts are encoded again
                shard.unlink()
            self._shards += 1

    def key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.tag}\0{text}".encode("utf-8")).digest()

    def __len__(self) -> int:
        return len(self._vecs)

    def missing(self, texts: Sequence[str]) -> list[str]:
        seen, out = set(), []
        for t in texts:
            k = self.key(t)
            if k not in self._vecs and k not in seen:
                seen.add(k)
                out.append(t)
        return out

    def fill(self, texts: Sequence[str], shard_size: int = 2048, batch_size: int = 64, progress=None) -> int:
        todo = self.missing(texts)
        todo.sort(key=len)  # similar lengths in a batch: little padding
        for start in range(0, len(todo), shard_size):
            chunk = todo[start:start + shard_size]
            vecs = self.encoder.embed_many(chunk, batch_size)
            hashes = np.array([np.frombuffer(self.key(t), dtype=np.uint8) for t in chunk])
            tmp = self.dir / f".tmp-{self._shards:05d}.npz"
            np.savez(tmp, hashes=hashes, vectors=vecs)
            os.replace(tmp, self.dir / f"shard-{self._shards:05d}.npz")
            self._shards += 1
            for t, v in zip(chunk, vecs):
                self._vecs[self.key(t)] = v
            if progress:
                progress(len(chunk))
        return len(todo)

    def get(self, texts: Sequence[str]) -> np.ndarray:
        self.fill(texts)
        return np.stack([self._vecs[self.key(t)] for t in texts]) if texts else np.zeros((0, self.encoder.dim), np.float32)


class CachedEncoder(Encoder):
    """An encoder that answers from the cache and encodes (and caches) only what is missing."""

    def __init__(self, cache: EmbeddingCache):
        self.cache = cache
        self.name = cache.encoder.name
        self.dim = cache.encoder.dim

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.get(list(texts))

    def embed_many(self, texts, batch_size=64, progress=None):
        out = self.cache.get(list(texts))
        if progress:
            progress(len(texts))
        return out
