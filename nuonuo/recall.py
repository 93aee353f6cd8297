"""Recall: encode the query, gather candidates from each channel, fuse them into one ranking,
then follow association links from the best hits.

Channels (each returns ``{id: {score name: value}}``):
- ``hopfield``: stage-1 top-K cosine over the namespace's patterns, then the modern-Hopfield
  settle (``nuonuo.hopfield``). Its score is
  ``(1 − m)·cos(q, x) + m·cos(ξ*, x)``: the query's own cosine blended (``m = settle_mix``)
  with the cosine to the settled state ξ*, which cleans noisy or partial cues.
- ``ngram``: memories sharing rare hashed n-grams with the query, BM25-weighted
  (``nuonuo.engram``), admitted by the context gate;
- ``exact``: keyed facts whose canonical key the query covers, admitted by the same gate.

Fusion (``fuse``): reciprocal-rank fusion of the channels by default, or a normalised score sum
(``[engram] fusion``), plus an optional recency bonus ``w · 2^(−age / half_life)``.
Expansion (``expand_associations``): Hebbian hops from the best hits (``nuonuo.associations``).
Every hit keeps each channel's figure in ``Hit.scores`` and names its strongest channel in
``Hit.source``.
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


def gather(mem: "Memory", query: str, qv: np.ndarray, namespace: str, at: float | None,
           k: int) -> dict[str, dict[str, dict[str, float]]]:
    """Every channel's candidates: ``{channel: {id: {score name: value}}}``."""
    cfg = mem.config.recall
    channels = {"hopfield": hopfield_channel(mem, qv, namespace, at, max(cfg.candidates, k))}
    eng = mem.config.engram
    if eng.ngram:
        channels["ngram"] = mem.engram.ngram_channel(mem, query, qv, namespace, at, max(eng.candidates, k))
    if eng.exact:
        channels["exact"] = mem.engram.exact_channel(mem, query, qv, namespace, at)
    return channels


SOURCE_PRIORITY = {"hopfield": 0, "ngram": 1, "exact": 2}  # on a tie the more specific channel names the hit


def fuse(mem: "Memory", channels: dict[str, dict[str, dict[str, float]]], at: float | None,
         k: int) -> list[tuple[float, str, str, dict[str, float]]]:
    """One ranking from the channels: ``[(score, id, source, scores)]``, best first.

    ``[engram] fusion = "sum"``, for the channel figures of memory x (0 where a channel
    did not propose x; ``d`` is x's hopfield score, or its plain cosine if only a hash channel
    proposed it; ``s`` the match strength; hash hits the gate rejected never reach fusion):

    .. math::

        F(x) = \\frac{d(x) + w_{ng}\\, s_{ng}(x) + w_{ex}\\, s_{ex}(x)}{1 + w_{ng} + w_{ex}}

    ``fusion = "rrf"`` (default; best on the LongMemEval quick loop, see docs/engram.md):
    ``F(x) = Σ_c w_c / (r + rank_c(x)) / Σ_c w_c / (r + 1)`` with w_hopfield = 1 and rank_c(x) the
    rank of x in channel c by that channel's score (a channel that did not propose x adds 0).
    ``source`` is the channel whose term contributes most to F(x) (ties: exact, ngram, hopfield)."""
    eng = mem.config.engram
    weights = {"hopfield": 1.0, "ngram": eng.ngram_weight, "exact": eng.exact_weight}
    present = [c for c in ("hopfield", "ngram", "exact") if c in channels]
    merged: dict[str, dict[str, float]] = {}
    for c in present:
        for mid, sc in channels[c].items():
            merged.setdefault(mid, {}).update(sc)
    terms: dict[str, dict[str, float]] = {mid: {} for mid in merged}
    if eng.fusion == "rrf":
        for c in present:
            key = {"hopfield": "hopfield", "ngram": "ngram", "exact": "exact"}[c]
            order = sorted(channels[c], key=lambda m: -channels[c][m][key])
            for rank, mid in enumerate(order, start=1):
                terms[mid][c] = weights[c] / (eng.rrf_k + rank)
        norm = sum(weights[c] / (eng.rrf_k + 1) for c in present) or 1.0
    else:
        for mid, sc in merged.items():
            terms[mid]["hopfield"] = sc.get("hopfield", sc.get("cosine", 0.0))
            for c in ("ngram", "exact"):
                if c in sc:
                    terms[mid][c] = weights[c] * sc[c]
        norm = 1.0 + sum(weights[c] for c in ("ngram", "exact") if c in present)
    ranked = []
    for mid, sc in merged.items():
        rec = mem.get(mid)
        t = terms[mid]
        source = max(t, key=lambda c: (t[c], SOURCE_PRIORITY[c])) if t else "hopfield"
        score = sum(t.values()) / norm + recency_bonus(mem, rec.created_at, at)
        ranked.append((score, mid, source, sc))
    ranked.sort(key=lambda t: -t[0])
    return ranked


def expand_associations(mem: "Memory", ranked: list, namespace: str, at: float | None, k: int,
                        qv: np.ndarray | None = None) -> list:
    """Hebbian multi-hop expansion from the best direct hits and from the query's own code
    (``nuonuo.associations``): entries reached by links get ``source="hebbian"`` and
    ``(hops, path)`` as 5th/6th elements."""
    return mem.hebbian.expand(mem, ranked, namespace, at, k, qv)


def recall(mem: "Memory", query: str, k: int, namespace: str, at: float | None, **options: Any) -> list[Hit]:
    qv = options.get("query_vector")
    if qv is None:
        qv = mem.encoder.embed(query)
    with mem._lock:
        channels = gather(mem, query, qv, namespace, at, k)
        ranked = fuse(mem, channels, at, k)
        ranked = expand_associations(mem, ranked, namespace, at, k, qv=qv)
        hits = []
        for entry in ranked[:k]:
            score, mid, source, sc = entry[:4]
            hops, path = (entry[4], entry[5]) if len(entry) > 4 else (0, [])
            hits.append(make_hit(mem, mid, score, source, sc, hops, path))
        return hits
