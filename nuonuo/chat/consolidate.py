"""Inference-time consolidation: what a turn leaving the window becomes in long-term memory.

Seed 001 stored a token with its own hidden state, ``ΔW = outer(V_t, h_t)``, and measured 0% recall
after eviction: a later question ``q`` reads ``V_t (h_t · h_q)`` and ``h_t · h_q ≈ 0``. What a later
question needs is the *cross-position* association, question → fact. So an evicted turn is

1. remembered as text (the chat's namespace; metadata: session, role, turn index), so a later
   question finds it by meaning and by its rare tokens;
2. linked, ``associate(cue, target, weight, kind)``, to the turn that answered it
   (``answered_by`` and back, ``answers``) and to the later turns that referred to it
   (``referred_by``: cue = the later turn, target = this one), so a later question that resembles
   any of them reaches it by a Hebbian hop;
3. weighted by the *attention it received*: how much later turns drew on it.

Attention-received proxy (llama.cpp does not expose attention weights). For turns ``t < j``
with content-word sets ``W_t, W_j`` and session document frequencies ``df``:

    idf(w)     = ln(1 + N / df(w))
    ref(j → t) = Σ_{w ∈ W_t ∩ W_j} idf(w) / Σ_{w ∈ W_t} idf(w)          ∈ [0, 1]
    A(t)       = Σ_{j > t} ref(j → t)                                    (attention received)
    importance = 0.3 + 0.7 · (1 − e^{−A(t)})                              ∈ [0.3, 1)

Rare words (codes, names, places) dominate ``ref`` the way they dominate what a later answer copies.
``benchmarks/eviction.py`` measures how ``A`` correlates with the model's own dependence on the turn
(the drop in the log-likelihood of later replies when the turn is removed from the context).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable

WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just let me more most my myself no nor
not now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours yourself yourselves
ok okay yes yeah sure please thanks thank hi hello hey well also really like know think tell said say
one get got go going want would could might may must shall im ive dont thats whats youre its
""".split())
REFERENCE_FLOOR = 0.15  # ref(j → t) below this is not a reference (shared filler words)


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry content: not stopwords, and either ≥ 3 letters or holding a digit."""
    out = set()
    for w in WORD.findall(text.lower()):
        if w in STOPWORDS:
            continue
        if len(w) >= 3 or any(c.isdigit() for c in w):
            out.add(w)
    return out


class ReferenceTracker:
    """Session document frequencies and the references between turns, by turn index."""

    def __init__(self) -> None:
        self.df: Counter[str] = Counter()
        self.n_docs = 0
        self.words: dict[int, set[str]] = {}
        self.received: dict[int, dict[int, float]] = {}  # t → {j: ref(j → t)}

    def idf(self, word: str) -> float:
        return math.log(1.0 + max(self.n_docs, 1) / max(self.df.get(word, 0), 1))

    def add(self, index: int, text: str, earlier: Iterable[int]) -> dict[int, float]:
        """Register turn ``index``; returns its references ``{t: ref(index → t)}`` to the earlier
        turns given (those still tracked), keeping the ones above ``REFERENCE_FLOOR``."""
        words = content_words(text)
        self.words[index] = words
        self.n_docs += 1
        self.df.update(words)
        refs: dict[int, float] = {}
        for t in earlier:
            wt = self.words.get(t)
            if not wt:
                continue
            total = sum(self.idf(w) for w in wt)
            shared = sum(self.idf(w) for w in wt & words)
            score = shared / total if total else 0.0
            if score >= REFERENCE_FLOOR:
                refs[t] = score
                self.received.setdefault(t, {})[index] = score
        return refs

    def attention_received(self, index: int) -> float:
        return sum(self.received.get(index, {}).values())

    def referrers(self, index: int) -> dict[int, float]:
        return dict(self.received.get(index, {}))

    def to_state(self) -> dict:
        return {"df": dict(self.df), "n_docs": self.n_docs,
                "words": {str(k): sorted(v) for k, v in self.words.items()},
                "received": {str(t): {str(j): s for j, s in refs.items()} for t, refs in self.received.items()}}

    @classmethod
    def from_state(cls, state: dict | None) -> "ReferenceTracker":
        tracker = cls()
        if not state:
            return tracker
        tracker.df = Counter(state.get("df", {}))
        tracker.n_docs = int(state.get("n_docs", 0))
        tracker.words = {int(k): set(v) for k, v in state.get("words", {}).items()}
        tracker.received = {int(t): {int(j): float(s) for j, s in refs.items()}
                            for t, refs in state.get("received", {}).items()}
        return tracker


def importance(attention_received: float) -> float:
    """importance = 0.3 + 0.7 · (1 − e^{−A}), in [0.3, 1)."""
    return round(0.3 + 0.7 * (1.0 - math.exp(-max(0.0, attention_received))), 4)
