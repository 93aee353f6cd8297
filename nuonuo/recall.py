"""Recall: encode the query, gather candidates from each channel, fuse them into one ranking.

Channels (each returns ``{id: channel score}``):
- ``hopfield``: stage-1 top-K cosine over the namespace's patterns, then the modern-Hopfield
  settle (``nuonuo.hopfield``). Its score is
  ``(1 − m)·cos(q, x) + m·cos(ξ*, x)``: the query's own cosine blended (``m = settle_mix``)
  with the cosine to the settled state ξ*, which cleans noisy or partial cues.

Fusion: the final ``Hit.score`` is the hopfield score clipped to [0, 1], plus an optional recency
bonus ``w · 2^(−age / half_life)`` when ``at`` is given and ``recency_weight > 0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nuonuo.hopfield import hopfield_settle
from nuonuo.records import Hit

if TYPE_CHECKING:
    from nuonuo.memory import Memory


def hopfield_channel(mem: "Memory", qv: np.ndarray, namespace: str, at: float | None,
                     candidates: int) -> dict[str, dict[str, float]]:
    cfg = mem.config.recall
    index = mem.pattern_index(namespace)
    if index is None or len(index) == 0:
        return {}
    pos, cos = index.top_k(qv, candidates, before=at)
    if len(pos) == 0:
        return {}
    patterns = index.matrix[pos]
    settled = hopfield_settle(qv, patterns, cfg.beta, cfg.settle_steps, cfg.settle_eps)
    norm = float(np.linalg.norm(settled.state)) or 1.0
    cos_settled = patterns @ (settled.state / norm)
    blended = (1 - cfg.settle_mix) * cos + cfg.settle_mix * cos_settled
    out: dict[str, dict[str, float]] = {}
    for j, p in enumerate(pos):
        out[index.ids[p]] = {"cosine": float(cos[j]), "hopfield": float(blended[j]),
                             "attention": float(settled.attention[j])}
    return out


def recency_bonus(mem: "Memory", created: float, at: float | None) -> float:
    cfg = mem.config.recall
    if at is None or cfg.recency_weight <= 0:
        return 0.0
    age_days = max(0.0, at - created) / 86400.0
    return cfg.recency_weight * 2.0 ** (-age_days / cfg.recency_half_life_days)


def make_hit(mem: "Memory", mid: str, score: float, source: str, scores: dict[str, float],
             hops: int = 0, path: list[str] | None = None) -> Hit:
    rec = mem.get(mid)
    return Hit(id=mid, text=rec.text, score=float(min(1.0, max(0.0, score))), source=source, hops=hops,
               key=rec.key, metadata=rec.metadata, timestamp=rec.timestamp, namespace=rec.namespace,
               scores=scores, path=path or [])


def recall(mem: "Memory", query: str, k: int, namespace: str, at: float | None, **options: Any) -> list[Hit]:
    cfg = mem.config.recall
    qv = mem.encoder.embed(query)
    with mem._lock:
        hop = hopfield_channel(mem, qv, namespace, at, max(cfg.candidates, k))
        ranked = []
        for mid, sc in hop.items():
            rec = mem.get(mid)
            score = sc["hopfield"] + recency_bonus(mem, rec.created_at, at)
            ranked.append((score, mid, sc))
        ranked.sort(key=lambda t: -t[0])
        return [make_hit(mem, mid, score, "hopfield", sc) for score, mid, sc in ranked[:k]]
