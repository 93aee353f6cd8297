"""Sentence keys: the sentences a memory is also keyed by, one vector each.

A memory's vector is the mean of its tokens: for a turn of several sentences that is its main
topic, and a side remark ("we moved the standup to 9:30 because of Lena's school run") is diluted
by the rest. Each sentence of a short memory gets a vector of its own, and the dense channel scores
the memory by its best key (``nuonuo.recall``):

.. math::

    c(q, x) = \\max\\big(\\cos(q, x),\\; \\max_j \\cos(q, x_j)\\big)

over the sentences x_j of x. Only memories of 2 to ``max_sentences`` sentences are split: one
sentence is its own key, and a long document's many sentences would give the max too many chances
to match by accident (the maximum of n noisy cosines grows with n), at the price of encoding every
one of them. Sentences are split at ``.``, ``!`` or ``?`` followed by white space, and at line
breaks; pieces under ``MIN_WORDS`` words ("Thanks!", "Sure.") are not keys.
"""

from __future__ import annotations

import re

SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
MIN_WORDS = 3


def sentences(text: str) -> list[str]:
    """Every sentence of ``text`` of at least ``MIN_WORDS`` words, in order."""
    return [s for piece in SPLIT.split(text) if len((s := piece.strip()).split()) >= MIN_WORDS]


def sentence_keys(text: str, max_sentences: int) -> list[str]:
    """The sentences ``text`` is also keyed by: [] unless it has 2 to ``max_sentences`` of them
    (0 = no sentence keys at all)."""
    found = sentences(text) if max_sentences >= 2 else []
    return found if 2 <= len(found) <= max_sentences else []


def matched_sentence(text: str, scores: dict[str, float]) -> str | None:
    """The sentence of a hit that its ``sentence_at`` score names (the key recall matched), or None."""
    at = scores.get("sentence_at")
    if at is None:
        return None
    found = sentences(text)
    return found[int(at)] if 0 <= int(at) < len(found) else None
