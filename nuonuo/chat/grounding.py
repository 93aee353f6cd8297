"""Which recalled note a reply drew on: token overlap, so that "why did it say that?" has an answer.

For a reply ``r`` to a question ``q`` and a recalled memory ``m`` sent with it as a note, with
``W(x)`` the content words of ``x`` (``nuonuo.chat.consolidate.content_words``: lower-cased, no
stopwords, ≥ 3 letters or holding a digit):

    own(m)      = W(m) − W(q)                       the memory's words the question did not bring
    share(r, m) = |own(m) ∩ W(r)| / |own(m)|        ∈ [0, 1]
    grounded    ⇔ own(m) ∩ W(r) ≠ ∅  and  share(r, m) ≥ GROUNDED_SHARE

The question's words are left out so that a reply which only echoes the question ("your dog is
called …") is not taken as drawing on the note; what counts is the note's own content (the name,
the code, the place) appearing in the reply. The notes the reply drew on are returned best share
first (ties: the recall's order).
"""

from __future__ import annotations

from typing import Sequence

from nuonuo.chat.consolidate import content_words
from nuonuo.records import Hit

GROUNDED_SHARE = 1 / 3


def grounded_on(reply: str, question: str, hits: Sequence[Hit]) -> list[tuple[Hit, float]]:
    """The hits the reply drew on, with their share (see the module doc), best first."""
    said = content_words(reply)
    if not said:
        return []
    asked = content_words(question)
    out: list[tuple[Hit, float]] = []
    for hit in hits:
        own = content_words(hit.text) - asked
        shared = own & said
        if own and shared and len(shared) / len(own) >= GROUNDED_SHARE:
            out.append((hit, round(len(shared) / len(own), 4)))
    out.sort(key=lambda pair: -pair[1])  # stable: equal shares keep the recall's order
    return out
