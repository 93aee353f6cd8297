"""The measuring code behind the recall figures the docs report (benchmarks/longmemeval.py and
benchmarks/lme_data.py): the metrics on a question worked out by hand, the baseline's fusion, and
the tuning/report split on the real LongMemEval file."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from benchmarks import lme_data
from benchmarks.longmemeval import rrf_rank, score_question


def question(evidence: set[tuple[str, int]], answer_sessions: list[str]) -> dict:
    """Three sessions of four turns; ``evidence`` marks (session, turn) as has_answer."""
    sids = ["s1", "s2", "s3"]
    return {"question_id": "q", "answer_session_ids": answer_sessions, "haystack_session_ids": sids,
            "haystack_dates": ["2023/05/01 (Mon) 10:00"] * 3,
            "haystack_sessions": [[{"role": "user", "content": f"{sid} turn {i}", "has_answer": (sid, i) in evidence}
                                   for i in range(4)] for sid in sids]}


def test_turn_and_session_metrics_on_a_question_worked_by_hand():
    q = question({("s1", 2), ("s3", 0)}, ["s1", "s3"])
    # ranks 1-5: s2 turns and one evidence turn (s1, 2); rank 7: the other (s3, 0)
    ranked = [[("s2", 0)], [("s1", 2)], [("s2", 1)], [("s2", 2)], [("s2", 3)], [("s1", 0)], [("s3", 0)]]
    m = score_question(ranked, q)
    assert m is not None
    assert m["turn_recall@5"] == 0.5 and m["turn_recall@10"] == 1.0
    # sessions in first-seen order: s2, s1, s3
    assert m["recall_any@1"] == 0.0 and m["recall_any@5"] == 1.0 and m["recall_all@5"] == 1.0
    dcg = 1 / math.log2(3) + 1 / math.log2(4)  # s1 at rank 2, s3 at rank 3
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)


def test_a_hit_standing_for_several_turns_counts_each_and_no_answer_session_is_not_scored():
    q = question({("s1", 2), ("s1", 3)}, ["s1"])
    m = score_question([[("s1", 2), ("s1", 3)]], q)  # one hit that stands for both evidence turns
    assert m is not None and m["turn_recall@5"] == 1.0 and m["recall_any@1"] == 1.0
    assert score_question([[("s1", 2)]], question(set(), [])) is None


def test_the_hybrid_baseline_is_plain_reciprocal_rank_fusion():
    # F(x) = Σ 1 / (60 + rank): 7 is first in one list and third in the other, 3 second in both
    fused = rrf_rank([[7, 3, 5], [9, 3, 7]], k=4)
    scores = {7: 1 / 61 + 1 / 63, 3: 2 / 62, 5: 1 / 63, 9: 1 / 61}
    assert fused == sorted(scores, key=lambda i: -scores[i])
    assert rrf_rank([[1, 2, 3]], k=2) == [1, 2]


def test_the_tuning_and_report_splits_of_the_real_file():
    questions = lme_data.load()
    pool = [q for q in questions if not lme_data.is_abstention(q)]
    tuning, report = lme_data.split(questions, "tuning"), lme_data.split(questions, "report")
    ids = lambda qs: {q["question_id"] for q in qs}  # noqa: E731
    assert len(pool) == 469 and len(tuning) == 100 and len(report) == 369
    assert not ids(tuning) & ids(report) and ids(tuning) | ids(report) == ids(pool)
    assert ids(tuning) == ids(lme_data.split(lme_data.load(), "tuning"))  # the same draw every time
    per_type, n_type = Counter(q["question_type"] for q in tuning), Counter(q["question_type"] for q in pool)
    for t, n in n_type.items():  # proportional by type, as the data README's quick loop defines it
        assert abs(per_type[t] - 100 * n / 469) < 1


@pytest.mark.parametrize("asked, named", [
    ("What was my personal best time in the charity 5K run?", "What was Alex's personal best time in the charity 5K run?"),
    ("How many days did I spend in Japan?", "How many days did Alex spend in Japan?"),
    ("I'm going back to Bandung: what did you recommend?", "Alex is going back to Bandung: what did Sam recommend?"),
    ("Can you remind me of your suggestion?", "Can Sam remind Alex of Sam's suggestion?"),
    ("Which city is the museum in?", "Which city is the museum in?"),  # no person: unchanged
])
def test_named_mode_asks_each_question_in_the_third_person(asked, named):
    """``--named``: the user is Alex and the assistant Sam, in the turns' speakers and in the questions."""
    assert lme_data.third_person(asked) == named
