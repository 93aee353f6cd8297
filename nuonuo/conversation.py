"""Conversation neighbours: the memories said just before and just after a memory in its
conversation, so recall can key each turn also by its context.

A turn of a conversation rarely stands alone: the answer ("Tuesday at the Lisbon office") sits
next to the question that names the topic ("when is the team offsite?"), and a reply's words
often come from the turn it answers. Memories that name their conversation in metadata
(``session``, or ``session_id``, ``conversation``, ``conversation_id``, ``thread``, ``thread_id``:
chat turns, imported conversations, LangGraph threads) form one ordered conversation per
``(namespace, session)``: by creation time, then ``metadata["turn"]`` when it is a number, then
the order they were remembered in.

Turns that name a speaker but no conversation (``metadata`` ``role``, ``speaker``, ``author`` or
``sender``, or a transcript line's ``Name: …`` prefix, ``nuonuo.turns``: a chat imported turn by
turn without session ids) form the namespace's implicit
conversation, in the same order, where two turns are neighbours only if they were made within
``[recall] context_gap_minutes`` of each other: what was said in one sitting is context for itself,
what was said hours apart is not. Two lines named only by the same prefix are not neighbours:
consecutive "Gym: …" lines are a labelled log, not a dialogue. ``context_gap_minutes = 0`` leaves
them without neighbours.
Memories that name neither (notes, facts, a bulk import of records) have no neighbours: a list of
unrelated facts remembered together is not a conversation, and keying each by the next would
let a fact ride on its neighbour's match.

Recall (``nuonuo.recall.smooth``) keys each such memory twice, by its own text and by its
context, and a channel scores it by the better key, the context key discounted by λ:

.. math::

    \\tilde s(x) = \\max\\Big(s(x),\\; λ · \\frac{1}{|N(x)|} \\sum_{y ∈ N(x)} s(y)\\Big)

with N(x) the (at most two) neighbours of x created at or before the time of asking, and λ
``[recall] context_weight``. This is the LongMemEval paper's key expansion ("each turn keyed also
by its neighbours"), done on the scores instead of by re-encoding text: it costs no extra encoding
or index, it is the same rule for the dense and the lexical channel, and it never lowers the score
of a memory whose own text matches.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from nuonuo.turns import metadata_speaker, party_of, person_of, session_of, turn_of

if TYPE_CHECKING:
    from nuonuo.component import MemoryView as Memory  # the protocol components receive
    from nuonuo.records import MemoryRecord


def _turn(rec: "MemoryRecord") -> float:
    turn = rec.metadata.get("turn")
    return float(turn) if isinstance(turn, (int, float)) and not isinstance(turn, bool) else 0.0


class ConversationIndex:
    """Component: every conversation's memories in order, and each memory's neighbours."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Empty: no conversation, no turn."""
        # conversation (namespace, session; session None = the namespace's implicit one) → its turns
        self._order: dict[tuple[str, str | None], list[tuple[float, float, int, str]]] = {}
        self._entry: dict[str, tuple[tuple[str, str | None], tuple[float, float, int, str]]] = {}
        self._created: dict[str, float] = {}
        self._line_speaker: dict[str, str] = {}  # turns named only by a "Name: …" prefix → that name
        self._party: dict[str, str] = {}  # turns said by a role ("user" / "assistant") → that party
        self._person: dict[str, str] = {}  # turns said by a named person → that name
        self._people: dict[str, Counter[str]] = {}  # namespace → its named speakers, with their turn counts
        self._seq = itertools.count()

    # --- Component hooks -------------------------------------------------------------------------
    def rebuild(self, memory: "Memory") -> None:
        self._reset()
        self._insert([r for r in memory.records() if r.status == "active"])

    def added(self, memory: "Memory", records: Sequence["MemoryRecord"], vectors: np.ndarray) -> None:
        self._insert([r for r in records if r.status == "active"])

    def removed(self, memory: "Memory", records: Sequence["MemoryRecord"]) -> None:
        for rec in records:
            found = self._entry.pop(rec.id, None)
            self._created.pop(rec.id, None)
            self._line_speaker.pop(rec.id, None)
            self._party.pop(rec.id, None)
            if (who := self._person.pop(rec.id, None)) is not None:
                people = self._people[rec.namespace]
                people[who] -= 1
                if people[who] <= 0:
                    del people[who]
            if found is None:
                continue
            conv, entry = found
            turns = self._order[conv]
            i = bisect.bisect_left(turns, entry)
            if i < len(turns) and turns[i] == entry:
                turns.pop(i)
            if not turns:
                del self._order[conv]

    def _insert(self, records: Sequence["MemoryRecord"]) -> None:
        for rec in records:
            if rec.id in self._entry:
                continue
            turn, line = turn_of(rec)
            if not turn:
                continue
            conv = (rec.namespace, session_of(rec))
            entry = (rec.created_at, _turn(rec), next(self._seq), rec.id)
            bisect.insort(self._order.setdefault(conv, []), entry)
            self._entry[rec.id] = (conv, entry)
            self._created[rec.id] = rec.created_at
            if line is not None:
                self._line_speaker[rec.id] = line
            # the speaker turn_of already read: the line's name, else the metadata's (no second look at the text)
            who = line if line is not None else metadata_speaker(rec)
            if (party := party_of(who)) is not None:
                self._party[rec.id] = party
            if (person := person_of(who)) is not None:
                self._person[rec.id] = person
                self._people.setdefault(rec.namespace, Counter())[person] += 1

    # --- reading ---------------------------------------------------------------------------------
    def neighbours(self, mid: str, at: float | None = None, gap_s: float = 0.0) -> list[str]:
        """The memories just before and just after ``mid`` in its conversation (created at or
        before ``at``, if given). In the implicit conversation of turns that name none, only those
        made within ``gap_s`` seconds of ``mid``; [] for a memory that is not a turn."""
        found = self._entry.get(mid)
        if found is None:
            return []
        conv, entry = found
        implicit = conv[1] is None
        if implicit and gap_s <= 0:
            return []
        turns = self._order[conv]
        i = bisect.bisect_left(turns, entry)
        out = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(turns):
                nid = turns[j][3]
                if at is not None and self._created[nid] > at:
                    continue
                if implicit and abs(self._created[nid] - entry[0]) > gap_s:
                    continue
                if implicit and self._same_line_speaker(mid, nid):
                    continue
                out.append(nid)
        return out

    def party(self, mid: str) -> str | None:
        """"user" or "assistant" for a turn said by that role (``nuonuo.turns.party_of``), else None."""
        return self._party.get(mid)

    def person(self, mid: str) -> str | None:
        """The name of the person who said a turn (``speaker`` metadata or a ``Name: …`` line), else None."""
        return self._person.get(mid)

    def people(self, namespace: str) -> list[str]:
        """The named speakers of a namespace's turns."""
        return list(self._people.get(namespace, ()))

    def _same_line_speaker(self, a: str, b: str) -> bool:
        """Two lines with the same "Name: …" prefix and nothing else naming a speaker: a labelled log
        ("Gym: …", "Gym: …") rather than a dialogue, so they are not each other's context."""
        who = self._line_speaker.get(a)
        return who is not None and who == self._line_speaker.get(b)

    def flush(self, memory: "Memory") -> None:
        """Nothing waits: the index is in step when each hook returns."""

    def stats(self, memory: "Memory") -> dict[str, Any]:
        named = [conv for conv in self._order if conv[1] is not None]
        return {"conversations": len(named), "conversation_turns": sum(len(self._order[c]) for c in named)}
