"""LongMemEval loading and the quick-loop sample.

The quick loop (as the data README defines it): 100 of the 469 non-abstention questions, drawn with
seed 0 proportionally by ``question_type``. Here: per type, ``round(100 · n_type / 469)`` questions
(largest remainders fix the total to 100), drawn by ``random.Random(0).sample`` from that type's
question ids in sorted order.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "longmemeval" / "longmemeval_s.json.gz"


def load(path: Path = DEFAULT_DATA) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def is_abstention(q: dict) -> bool:
    return q["question_id"].endswith("_abs")


def sample(questions: list[dict], n: int | None, seed: int = 0) -> list[dict]:
    pool = [q for q in questions if not is_abstention(q)]
    if n is None or n >= len(pool):
        return pool
    by_type: dict[str, list[dict]] = {}
    for q in pool:
        by_type.setdefault(q["question_type"], []).append(q)
    exact = {t: n * len(v) / len(pool) for t, v in by_type.items()}
    counts = {t: int(x) for t, x in exact.items()}
    for t in sorted(exact, key=lambda t: -(exact[t] - counts[t]))[: n - sum(counts.values())]:
        counts[t] += 1
    rng = random.Random(seed)
    chosen = []
    for t in sorted(by_type):
        qs = sorted(by_type[t], key=lambda q: q["question_id"])
        chosen.extend(rng.sample(qs, counts[t]))
    return chosen


SPLITS = ("tuning", "report", "all")


def split(questions: list[dict], name: str) -> list[dict]:
    """The tuning split is the 100-question quick loop (``sample(…, 100)``): anything fitted or chosen
    by measurement is chosen on it. The report split is the other 369 non-abstention questions: figures
    are reported on it (and on "all", the 469 together)."""
    pool = [q for q in questions if not is_abstention(q)]
    if name == "all":
        return pool
    tuning = {q["question_id"] for q in sample(questions, 100)}
    if name == "tuning":
        return [q for q in pool if q["question_id"] in tuning]
    if name == "report":
        return [q for q in pool if q["question_id"] not in tuning]
    raise ValueError(f"unknown split {name!r}: one of {', '.join(SPLITS)}")


def asking_time(q: dict, strict: bool = False) -> float:
    """When the question is asked, in epoch seconds (``nuonuo.records.to_epoch`` reads the date).

    LongMemEval's dates are meaningful to the day: the times of day are not ordered between a question
    and its sessions (40 of the 469 non-abstention questions of LongMemEval_S have an evidence session
    timestamped later on the question's own day, none on a later day). So the question is asked at the
    end of its ``question_date``'s day; ``strict`` asks at the exact time given."""
    from nuonuo.records import to_epoch

    at = to_epoch(q["question_date"], "question_date")
    return at if strict else at - at % 86400 + 86399


def turns(q: dict):
    """(session_id, session_date, turn_index, role, content, has_answer) for every haystack turn."""
    for sid, date, session in zip(q["haystack_session_ids"], q["haystack_dates"], q["haystack_sessions"]):
        for i, t in enumerate(session):
            yield sid, date, i, t["role"], t["content"], bool(t.get("has_answer"))


if __name__ == "__main__":
    qs = load()
    s = sample(qs, 100)
    print(len(s), Counter(q["question_type"] for q in s))


# ``--named``: LongMemEval as a conversation between two named people, as chats between people come
# (speaker names, questions in the third person): the user is Alex, the assistant Sam.
NAMES = {"user": "Alex", "assistant": "Sam"}
_THIRD_PERSON = [  # (pattern, replacement, case-sensitive): the asker's "I" and the assistant's "you" named
    (r"\bI am\b|\bI'm\b", "Alex is", True), (r"\bI've\b", "Alex has", True), (r"\bI'd\b", "Alex would", True),
    (r"\bI'll\b", "Alex will", True), (r"\bI\b", "Alex", True), (r"\b(?:me|myself)\b", "Alex", False),
    (r"\b(?:my|mine)\b", "Alex's", False), (r"\byou're\b|\byou are\b", "Sam is", False),
    (r"\byou've\b", "Sam has", False), (r"\byours?\b", "Sam's", False),
    (r"\b(?:you|yourself)\b", "Sam", False),
]


def third_person(question: str) -> str:
    """The question as someone else asks it about the conversation between Alex and Sam
    ("What was my personal best?" → "What was Alex's personal best?")."""
    import re

    for pattern, name, exact in _THIRD_PERSON:
        question = re.sub(pattern, name, question, flags=0 if exact else re.IGNORECASE)
    return question
