"""A time named in the question, read against the time of asking (nuonuo.timespan), and the time
prior of recall (nuonuo.recall.time_prior) on a real memory."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from nuonuo.timespan import DAY, TOLD_WITHIN, nearness, nearness_of, question_span, without_relative_time

# Wednesday 2024-06-12, 18:00 UTC
AT = datetime(2024, 6, 12, 18, 0, tzinfo=timezone.utc).timestamp()


def day(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, tzinfo=timezone.utc).timestamp()


def days_of(span) -> tuple[str, str]:
    fmt = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")  # noqa: E731
    return fmt(span.start), fmt(span.end)


@pytest.mark.parametrize("question, first, last", [
    ("What did I eat yesterday?", "2024-06-11", "2024-06-11"),
    ("what did I do the day before yesterday", "2024-06-10", "2024-06-10"),
    ("Who did I go with to the music event last Saturday?", "2024-06-08", "2024-06-08"),
    ("What did I do on Wednesday?", "2024-06-05", "2024-06-05"),  # the day of asking is not "on Wednesday"
    ("What game did I finally beat last weekend?", "2024-06-08", "2024-06-09"),
    ("How many MCU films did I watch in the last 3 months?", "2024-03-13", "2024-06-12"),
    ("How many times did I bake in the past two weeks?", "2024-05-29", "2024-06-12"),
    ("How much have I made from selling eggs this month?", "2024-06-01", "2024-06-12"),
    ("Which store did I spend the most at in the past month?", "2024-05-13", "2024-06-12"),
    ("How many hours of yoga did I do last week?", "2024-06-03", "2024-06-09"),
    ("Which pair of shoes did I clean last month?", "2024-05-01", "2024-05-31"),
    ("Which vehicle did I take care of first in February?", "2024-02-01", "2024-02-29"),
    ("What did I buy in August?", "2023-08-01", "2023-08-31"),  # the latest August that has begun
    ("What did I buy in August 2022?", "2022-08-01", "2022-08-31"),
    ("Where did Melanie go camping in 2022?", "2022-01-01", "2022-12-31"),
    ("What did we talk about last night?", "2024-06-11", "2024-06-11"),
])
def test_a_named_time_is_read_as_the_days_it_names(question, first, last):
    assert days_of(question_span(question, AT)) == (first, last)


def test_units_ago_are_read_as_loosely_as_they_are_said():
    four_weeks = question_span("What did I buy four weeks ago?", AT)
    centre = day(2024, 5, 15)
    assert four_weeks.start < centre < four_weeks.end and four_weeks.scale == 7 * DAY  # ±1 week
    two_months = question_span("What did I do with Rachel on the Wednesday two months ago?", AT)
    assert two_months.scale == pytest.approx(2 * 30.44 / 4 * DAY)  # a quarter of the distance
    assert question_span("what did I cook a couple of days ago?", AT).scale == pytest.approx(0.5 * DAY)
    assert question_span("what did I read 10 days ago", AT).start < day(2024, 6, 2) < \
        question_span("what did I read 10 days ago", AT).end


@pytest.mark.parametrize("question", [
    "What should I serve for dinner this weekend?",  # ahead of the time of asking: no memory is there yet
    "Any documentary recommendations for tonight?",
    "What is my sister's name?",
    "What time do I wake up on Saturday mornings?",  # a habit, not a day
    "When did Caroline go to the support group?",
    "What did I say in Marchetti's email?",  # a month's name inside another word
    "What is the order of airlines I flew with, from earliest to latest before today?",  # a bound, not a day
])
def test_no_span_where_the_question_names_no_time_behind_it(question):
    assert question_span(question, AT) is None


def test_nearness_is_one_inside_and_a_gaussian_outside_gentler_after():
    span = question_span("What did I buy last Saturday?", AT)
    assert span.scale == DAY
    assert nearness(day(2024, 6, 8) + 3600, span) == 1.0
    assert nearness(span.start - 2 * span.scale, span) == pytest.approx(math.exp(-2.0))
    # told of in the days after: σ after the span is at least TOLD_WITHIN
    assert nearness(span.end + TOLD_WITHIN, span) == pytest.approx(math.exp(-0.5))
    assert nearness(span.end + DAY, span) > nearness(span.start - DAY, span)


def test_recall_prefers_the_memory_from_the_time_the_question_names(mem):
    """Two purchases said alike; the question's "four weeks ago" picks the one from then at the
    default τ. Without the prior (τ = 0), the other one, the closer match in words, ranks first."""
    far = mem.remember("I bought sculpting tools for the competition", timestamp="2024-03-01T12:00:00").id
    near = mem.remember("I bought some new sculpting tools for the contest", timestamp="2024-05-16T12:00:00").id
    for i, text in enumerate(["I went running along the river", "My sister called about the holidays",
                              "The car needs new tyres", "We cooked pasta for dinner", "I finished reading a novel"]):
        mem.remember(text, timestamp=f"2024-05-{10 + i}T12:00:00")
    question = "What sculpting tools did I buy for the competition four weeks ago?"
    tau = mem.config.recall.time_prior
    assert tau > 0  # on by default
    mem.config.recall.time_prior = 0.0
    plain = mem.recall(question, k=2, at="2024-06-12T18:00:00")
    assert [h.id for h in plain] == [far, near]
    mem.config.recall.time_prior = tau
    hits = mem.recall(question, k=2, at="2024-06-12T18:00:00")
    assert [h.id for h in hits] == [near, far]
    assert hits[0].score == pytest.approx(plain[1].score)  # the memory from the span keeps its score
    assert hits[1].score == pytest.approx(plain[0].score * (1 - tau + tau * hits[1].scores["time_nearness"]))
    assert hits[1].scores["time_nearness"] < 0.01 and "time_nearness" not in hits[0].scores
    # asked when no memory is near the span it names, the prior changes nothing, scores included
    later = mem.recall(question, k=2, at="2026-01-10T12:00:00")
    assert [(h.id, h.score) for h in later] == [(h.id, h.score) for h in plain]


@pytest.mark.parametrize("question, lexical", [
    ("I mentioned an investment for a competition four weeks ago? What did I buy?",
     "I mentioned an investment for a competition ? What did I buy?"),
    ("How many plants did I acquire in the last month?", "How many plants did I acquire ?"),
    ("What did I eat yesterday?", "What did I eat ?"),
    ("What did we talk about last night?", "What did we talk about ?"),
    ("Where did I go camping in 2022?", "Where did I go camping in 2022?"),  # a year is said in the memory too
    ("what  did I buy four-weeks  ago", "what did I buy"),
    ("Who did I meet last Tuesday?", "Who did I meet last Tuesday?"),  # a day's name is said in the memory too
    ("What did I do in March?", "What did I do in March?"),
])
def test_the_lexical_query_drops_only_words_that_name_a_distance_from_now(question, lexical):
    assert without_relative_time(question) == lexical


def test_time_words_do_not_match_memories_that_happen_to_use_them(mem):
    chatter = mem.remember("That was weeks ago, four weeks ago or so, I forget", timestamp="2024-01-10T12:00:00").id
    mem.remember("I adopted a puppy called Rex", timestamp="2024-05-15T12:00:00")
    question = "Which puppy did I adopt four weeks ago?"

    def ngram_scored(hits):
        return {h.id for h in hits if "ngram" in h.scores}

    assert chatter not in ngram_scored(mem.recall(question, k=5, at="2024-06-12T18:00:00"))
    # asked without `at` (now: years later), no memory is near the span the words name: they stay,
    # as the turns of an old conversation say them relative to their own days
    assert chatter in ngram_scored(mem.recall(question, k=5))
    mem.config.engram.time_words = False
    assert chatter in ngram_scored(mem.recall(question, k=5, at="2024-06-12T18:00:00"))


def test_nearness_of_an_array_is_nearness_of_each():
    span = question_span("What did I buy four weeks ago?", AT)
    times = np.linspace(span.start - 30 * DAY, span.end + 30 * DAY, 61)
    assert nearness_of(times, span) == pytest.approx([nearness(t, span) for t in times.tolist()])
