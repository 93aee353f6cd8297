"""Recall: encode the query, gather candidates from each channel, key each conversation turn also
by its neighbours, fuse the channels into one ranking, then let Hebbian hops join that ranking
as one more channel.

Channels (each returns ``{id: {score name: value}}``):
- ``hopfield``: stage-1 top-K cosine over the namespace's patterns, then the modern-Hopfield
  settle (``nuonuo.hopfield``). Its own score is ``h(x) = (1 − m)·c(q, x) + m·cos(ξ*, x)``: the
  query's cosine blended (``m = settle_mix``) with the cosine to the settled state ξ*, which
  cleans noisy or partial cues. A memory of a few sentences is vectored by their mean
  (``nuonuo.sentence_index``) and keeps each sentence's vector x_j: every hit names its best
  sentence (``sentence``: its cosine, ``sentence_at``: which of ``sentence_keys(text)``), and with
  ``[recall] sentence_match`` the channel scores ``c(q, x) = max(cos(q, x), max_j cos(q, x_j))``
  in place of ``cos(q, x)``.
- ``ngram``: memories sharing (stemmed) n-grams with the query, BM25-weighted
  (``nuonuo.engram``); hits the context gate rejects do not join (``[engram] gate``).
- ``exact``: keyed facts whose canonical key the query covers, admitted by the same gate.

Context keys (``smooth``, ``nuonuo.conversation``): a memory that belongs to a conversation
(``metadata["session"]``, or remembered within ``context_gap_minutes`` of its neighbours) is keyed
by its own text and by its neighbours N(x): the hopfield and ngram channels score it
``max(s(x), λ · mean_{y ∈ N(x)} s(y))``, and the neighbours of the channel's candidates become
candidates too: a reply is found through the question it answers,
and the other way round. λ = ``[recall] context_weight``; each hit keeps ``context`` (the
neighbours' mean) in its scores.

Fusion (``fuse``): the weighted mean of the channels' scores (default) or weighted reciprocal-rank
fusion (``[engram] fusion``), plus an optional recency bonus. Whose words (``party_prior``): when the
question asks for the user's own words ("what was my …", first person, no "you") or for what the
assistant said ("what did you recommend …"), or names one of the people whose conversation it is
("what did Caroline research?"), the other party's or the other people's turns score ``ρ · F(x)``.
Time named (``time_prior``): a question that names a time relative to its asking ("four weeks
ago", "last Saturday", ``nuonuo.timespan``) scales the memories from outside that span by their
nearness to it; the n-gram channel's query drops such a phrase (``[engram] time_words``).
Hebbian hops (``nuonuo.associations``) from the best fused hits score
``F(parent) · Π min(1, s_i) · decay^h``, on the fused scale: a memory reached by a link displaces a
direct hit only where that score is higher.

Every hit keeps each channel's figure in ``Hit.scores`` and names its strongest channel in
``Hit.source``; hop hits carry ``hops`` and ``path``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from nuonuo.hopfield import hopfield_settle
from nuonuo.records import Hit
from nuonuo.timespan import Span, any_near, nearness_of, question_span, without_relative_time
from nuonuo.turns import question_party, question_speaker

if TYPE_CHECKING:
    from nuonuo.views import FacadeView as Memory  # the protocol Memory satisfies (no import of it)

Channels = dict[str, dict[str, dict[str, float]]]
CHANNELS = ("hopfield", "ngram", "exact")
SOURCE_PRIORITY = {"hopfield": 0, "ngram": 1, "hebbian": 2, "exact": 3}  # ties: the more specific names the hit


@dataclass
class Candidate:
    """One entry of a ranking: fused score, memory id, per-channel figures, and either the channel
    that named it (``source``) or each channel's term of F(x) (``terms``), from which ``named_by``
    reads the strongest only for the hits returned."""

    score: float
    id: str
    source: str | None
    scores: dict[str, float]
    hops: int = 0
    path: list[str] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)

    def named_by(self) -> str:
        """The channel whose term contributes most to F(x); ties go to the more specific channel."""
        if self.source is not None:
            return self.source
        t = self.terms
        return max(t, key=lambda c: (t[c], SOURCE_PRIORITY[c])) if t else "hopfield"


def smooth(own: dict[str, float], score_of: Callable[[list[str]], np.ndarray],
           neighbours: Callable[[str], list[str]], weight: float) -> tuple[dict[str, float], dict[str, float]]:
    """Context keys: each memory is keyed by its own text and by its conversation context, and
    scores by the better of the two keys, the context key discounted by λ = ``weight``:

    .. math::

        \\tilde s(x) = \\max\\Big(s(x),\\; λ · \\frac{1}{|N(x)|} \\sum_{y ∈ N(x)} s(y)\\Big)

    for x in the candidates and their neighbours N (``score_of`` gives s of memories the channel
    did not propose). A strong match of the memory's own text is never lowered; a turn whose own
    words miss the query but whose neighbours match it is raised.

    Returns (s̃ for every scored memory, the neighbours' mean for those that have neighbours)."""
    if weight <= 0:
        return own, {}
    nbrs = {x: neighbours(x) for x in own}
    ring = list(dict.fromkeys(y for ys in nbrs.values() for y in ys if y not in own))
    for y in ring:
        nbrs[y] = neighbours(y)
    scores = dict(own)
    need = list(dict.fromkeys([*ring, *(z for y in ring for z in nbrs[y] if z not in own)]))
    if need:
        scores.update(zip(need, score_of(need).tolist()))
    context = {x: sum(scores[y] for y in ys) / len(ys) for x, ys in nbrs.items() if ys}
    return {x: max(scores[x], weight * context.get(x, -np.inf)) for x in nbrs}, context


def hopfield_channel(mem: "Memory", qv: np.ndarray, namespace: str, at: float | None, candidates: int,
                     neighbours: Callable[[str], list[str]], also: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    cfg = mem.config.recall
    index = mem.pattern_index(namespace)
    if index is None or len(index) == 0:
        return {}
    pos, cos = index.top_k(qv, candidates, before=at)
    if len(pos) == 0:
        return {}
    patterns = index.matrix[pos]
    settled = hopfield_settle(qv, patterns, cfg.beta, cfg.settle_steps, cfg.settle_eps)
    xi = settled.state / (float(np.linalg.norm(settled.state)) or 1.0)
    mix = cfg.settle_mix
    sentence: dict[str, tuple[float, int]] = {}

    def blend(ids: list[str], c: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """h = (1 − m)·c(q, x) + m·cos(ξ*, x), c the memory's own cosine or, with
        ``sentence_match``, the better of it and its best sentence's; with m = 0 (the default) c."""
        if cfg.sentence_match:
            best, which = mem.sentences.best(ids, qv)
            sentence.update((m, (b, j)) for m, b, j in zip(ids, best.tolist(), which.tolist()) if j >= 0)
            c = np.maximum(c, best)
        return c if mix == 0 else (1 - mix) * c + mix * (vecs @ xi)

    ids = [index.ids[p] for p in pos]
    own = dict(zip(ids, blend(ids, cos, patterns).tolist()))
    cosine = dict(zip(ids, cos.tolist()))
    attention = dict(zip(ids, settled.attention.tolist()))

    def score_of(more: list[str]) -> np.ndarray:
        vecs = index.vectors(more)
        c = vecs @ qv
        cosine.update(zip(more, c.tolist()))
        return blend(more, c, vecs)

    extra = [m for m in dict.fromkeys(also) if m not in own and m in index]  # the other channels' finds
    if extra:
        own.update(zip(extra, score_of(extra).tolist()))

    known = lambda m: [y for y in neighbours(m) if y in index]  # noqa: E731
    scored, context = smooth(own, score_of, known, cfg.context_weight)
    out: dict[str, dict[str, float]] = {}
    for mid, s in scored.items():
        out[mid] = {"cosine": cosine[mid], "hopfield": s, "attention": attention.get(mid, 0.0)}
        if mid in context:
            out[mid]["context"] = context[mid]
        if mid in sentence:  # the best key's cosine, and which sentence it is (``nuonuo.sentences``)
            out[mid]["sentence"], out[mid]["sentence_at"] = sentence[mid]
    return out


def recency_bonus(mem: "Memory", created: float, at: float | None) -> float:
    cfg = mem.config.recall
    if at is None or cfg.recency_weight <= 0:
        return 0.0
    age_days = max(0.0, at - created) / 86400.0
    return cfg.recency_weight * 2.0 ** (-age_days / cfg.recency_half_life_days)


def make_hit(mem: "Memory", c: Candidate) -> Hit:
    rec = mem.get(c.id)
    return Hit(id=c.id, text=rec.text, score=float(min(1.0, max(0.0, c.score))), source=c.named_by(), hops=c.hops,
               key=rec.key, metadata=rec.metadata, timestamp=rec.timestamp, namespace=rec.namespace,
               scores=c.scores, path=c.path)


def gather(mem: "Memory", query: str, qv: np.ndarray, namespace: str, at: float | None, k: int,
           lexical: str | None = None) -> Channels:
    """Every direct channel's candidates: ``{channel: {id: {score name: value}}}``; the n-gram
    channel searches ``lexical`` when given (the query without its time words: ``lexical_query``)."""
    cfg = mem.config.recall
    gap_s = cfg.context_gap_minutes * 60.0
    neighbours = lambda mid: mem.conversations.neighbours(mid, at, gap_s)  # noqa: E731
    eng = mem.config.engram
    found: Channels = {}
    if eng.ngram:
        context = lambda own, score_of: smooth(own, score_of, neighbours, cfg.context_weight)  # noqa: E731
        found["ngram"] = mem.engram.ngram_channel(mem, lexical or query, qv, namespace, at, max(eng.candidates, k),
                                                  context=context)
    if eng.exact:
        found["exact"] = mem.engram.exact_channel(mem, query, qv, namespace, at)
    # a score sum adds the cosine of what only the other channels found (a rank fusion adds nothing)
    also = [m for c in found.values() for m in c] if eng.fusion == "sum" else []
    return {"hopfield": hopfield_channel(mem, qv, namespace, at, max(cfg.candidates, k), neighbours, also),
            **found}


def lexical_query(mem: "Memory", query: str, namespace: str, span: Span | None) -> str:
    """The n-gram channel's query: without its relative time words (``[engram] time_words``) when
    the question names a span some memory of the namespace is near, where the prior stands for
    them. A question about "last weekend" asked of a conversation from 2023 without ``at`` (its
    span read against now) keeps them: the turns of that conversation say them of their own days."""
    if span is None or not mem.config.engram.time_words:
        return query
    index = mem.pattern_index(namespace)
    return without_relative_time(query) if index is not None and any_near(index.times, span) else query


def tied_ranks(scores: dict[str, float]) -> dict[str, int]:
    """Rank from 1 by score, best first; equal scores share the best rank (1, 2, 2, 4): a channel
    that cannot tell two memories apart (the same words, say) gives neither the edge in fusion."""
    order = sorted(scores, key=lambda m: -scores[m])
    ranks: dict[str, int] = {}
    for i, mid in enumerate(order):
        ranks[mid] = ranks[order[i - 1]] if i and scores[mid] == scores[order[i - 1]] else i + 1
    return ranks


def fuse(mem: "Memory", channels: Channels, at: float | None) -> list[Candidate]:
    """One ranking from the channels, best first.

    ``[engram] fusion = "sum"`` (default): the weighted mean of the channels' scores, each on [0, 1],

    .. math::

        F(x) = \\frac{\\max(0, h(x)) + \\sum_c w_c\\, s_c(x)}{1 + \\sum_c w_c}

    with h the hopfield score (the cosine, or the best sentence's; every candidate of another
    channel has one: ``gather``), s_ngram the BM25 n-gram score over the most the query's n-grams
    can score, s_exact the key match, w_ngram / w_exact from ``[engram]``; the sum in the
    denominator runs over the channels that found anything. It keeps how well each channel
    matched, which a rank discards: on the LongMemEval tuning split turn_recall@5 / @10 0.866 /
    0.908 against 0.839 / 0.896 for the rank fusion below (both with ρ = 0.7), the default until
    2026-12-06.

    ``fusion = "rrf"``: weighted reciprocal-rank fusion, normalised to [0, 1],

    .. math::

        F(x) = \\frac{\\sum_c w_c / (r + \\mathrm{rank}_c(x))}{\\sum_c w_c / (r + 1)}

    with rank_c(x) the rank of x in channel c by that channel's score, equal scores sharing the best
    rank (``tied_ranks``; a channel that did not propose x adds 0), r = ``rrf_k``, w_hopfield = 1.
    ``source`` is the channel whose term contributes most to F(x)."""
    eng = mem.config.engram
    weights = {"hopfield": 1.0, "ngram": eng.ngram_weight, "exact": eng.exact_weight}
    present = [c for c in CHANNELS if channels.get(c)]
    merged: dict[str, dict[str, float]] = {}
    for c in present:
        for mid, sc in channels[c].items():
            merged.setdefault(mid, {}).update(sc)
    terms: dict[str, dict[str, float]] = {mid: {} for mid in merged}
    if eng.fusion == "rrf":
        for c in present:
            for mid, rank in tied_ranks({m: sc[c] for m, sc in channels[c].items()}).items():
                terms[mid][c] = weights[c] / (eng.rrf_k + rank)
        norm = sum(weights[c] / (eng.rrf_k + 1) for c in present) or 1.0
    else:
        for mid, sc in merged.items():
            terms[mid]["hopfield"] = max(0.0, sc.get("hopfield", sc.get("cosine", 0.0)))
            for c in ("ngram", "exact"):
                if c in sc:
                    terms[mid][c] = weights[c] * sc[c]
        norm = 1.0 + sum(weights[c] for c in ("ngram", "exact") if c in present)
    ranked = []
    for mid, sc in merged.items():
        t = terms[mid]
        score = sum(t.values()) / norm
        if at is not None and mem.config.recall.recency_weight > 0:  # only then read the record
            score += recency_bonus(mem, mem.get(mid).created_at, at)
        ranked.append(Candidate(score, mid, None, sc, terms=t))
    ranked.sort(key=lambda c: -c.score)
    return ranked


def party_prior(mem: "Memory", ranked: list[Candidate], query: str, namespace: str) -> list[Candidate]:
    """Whose words the question asks for. Between a person and an assistant
    (``nuonuo.turns.question_party``): a question in the first person that does not address "you"
    asks for the user's own turns, one about what "you said" for the assistant's. Between named
    people (``nuonuo.turns.question_speaker``): a question that names exactly one of the namespace's
    speakers asks for that person's turns. The turns of the other party, or of the other people,
    score

    .. math::

        F'(x) = ρ · F(x)

    with ρ = ``[recall] party_prior`` (1 = off); notes, facts and turns of no known speaker keep F.
    The assistant's replies restate and elaborate what the user said at length, so without it they
    crowd the user's own statement out of the top k (LongMemEval tuning split: turn_recall@5 / @10
    0.718 / 0.843 → 0.807 / 0.895); between people, each tells of their own life in the first
    person, and the others' turns answer or ask about it."""
    rho = mem.config.recall.party_prior
    if rho == 1.0:
        return ranked
    conv = mem.conversations
    party = question_party(query)
    person = question_speaker(query, conv.people(namespace)) if party is None else None
    if party is None and person is None:
        return ranked

    def by_another(mid: str) -> bool:
        """Said by the other party, or by another of the conversation's people (not by no one known)."""
        who = conv.party(mid) if party is not None else conv.person(mid)
        return who is not None and who != (party or person)

    out = [replace(c, score=c.score * rho, scores={**c.scores, "party_prior": rho}) if by_another(c.id) else c
           for c in ranked]
    out.sort(key=lambda c: -c.score)
    return out


def time_prior(mem: "Memory", ranked: list[Candidate], span: Span | None) -> list[Candidate]:
    """When the question names a time relative to the time of asking ("four weeks ago", "last
    Saturday", "in the past month": ``nuonuo.timespan``), the memories from that span keep their
    score and the others are scaled by how far from it they are:

    .. math::

        F'(x) = F(x) · \\frac{1 − τ + τ · g(t_x)}{\\max_y (1 − τ + τ · g(t_y))}

    with g the span's nearness of a memory's time t_x (1 inside, a Gaussian of the distance
    outside), the max over the ranked candidates, τ = ``[recall] time_prior`` (0 = off). Dividing
    by the max makes it a prior on the order only: the memories nearest the span keep their scores
    (a note above the chat's ``min_score`` stays above it), and when none of the candidates is near
    the span (a question about last week in a memory of last year) nothing changes. ``span`` is
    ``question_span`` of the query at the time of asking (now, without ``at``). Each scaled hit
    keeps its g as ``time_nearness`` in its scores."""
    tau = mem.config.recall.time_prior
    if tau <= 0 or not ranked or span is None:
        return ranked
    times = np.fromiter(((rec.created_at if (rec := mem.record(c.id)) is not None else 0.0) for c in ranked),
                        dtype=np.float64, count=len(ranked))
    near = nearness_of(times, span)
    factor = 1.0 - tau + tau * near
    scale = factor / factor.max()
    for c, g, f in zip(ranked, near.tolist(), scale.tolist()):
        if f < 1.0:  # the candidates are this recall's own: scaled in place
            c.score *= f
            c.scores["time_nearness"] = g
    ranked.sort(key=lambda c: -c.score)
    return ranked


def with_hops(mem: "Memory", ranked: list[Candidate], namespace: str, at: float | None,
              qv: np.ndarray, k: int = 0) -> list[Candidate]:
    """The ranking with the memories reached by association links from the best direct hits
    (``AssociationMemory.hops``). A hop hit's score is on the fused scale by construction,
    ``F(parent) · Π min(1, s_i) · decay^h``: it joins where that beats the direct hits below it, and
    replaces a memory's direct entry only when higher. Weak links (co-recall) score low; a strong
    explicit link from the best hit ranks just below it. With ``k``, a hop hit that could not beat
    the k-th direct hit is not looked for (it could neither enter the top k nor reorder it)."""
    floor = ranked[k - 1].score if 0 < k <= len(ranked) else 0.0
    reached = mem.hebbian.hops(mem, [(c.score, c.id) for c in ranked], namespace, at, qv=qv, floor=floor)
    if not reached:
        return ranked
    out = list(ranked)
    where = {c.id: i for i, c in enumerate(out)}
    for tid, (hs, hop, path, s) in reached.items():
        i = where.get(tid)
        if i is None:
            out.append(Candidate(hs, tid, "hebbian", {"hebbian": hs, "link_strength": s}, hop, path))
        elif hs > out[i].score:
            out[i] = Candidate(hs, tid, "hebbian", {**out[i].scores, "hebbian": hs, "link_strength": s}, hop, path)
    out.sort(key=lambda c: -c.score)
    return out


def recall(mem: "Memory", query: str, k: int, namespace: str, at: float | None, **options: Any) -> list[Hit]:
    qv = options.get("query_vector")
    if qv is None:
        qv = mem.encoder.embed(query)
    span = question_span(query, time.time() if at is None else at)  # the time it names, if any
    with mem.lock:
        channels = gather(mem, query, qv, namespace, at, k, lexical_query(mem, query, namespace, span))
        ranked = party_prior(mem, fuse(mem, channels, at), query, namespace)
        ranked = time_prior(mem, ranked, span)
        ranked = with_hops(mem, ranked, namespace, at, qv, k)
        return [make_hit(mem, c) for c in with_sentence(mem, ranked[:k], qv)]


def with_sentence(mem: "Memory", top: list[Candidate], qv: np.ndarray) -> list[Candidate]:
    """Each hit with the sentence that best matches the query, for the explanation: ``sentence``
    (its cosine) and ``sentence_at`` (``nuonuo.sentences.matched_sentence`` reads them)."""
    need = [c.id for c in top if "sentence" not in c.scores]
    best, which = mem.sentences.best(need, qv)
    found = {m: (b, j) for m, b, j in zip(need, best.tolist(), which.tolist()) if j >= 0}
    return [replace(c, scores={**c.scores, "sentence": found[c.id][0], "sentence_at": found[c.id][1]})
            if c.id in found else c for c in top]
