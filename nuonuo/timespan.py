"""When a question is about: a time named relative to the time of asking, read as a span of days.

``question_span("What did I buy four weeks ago?", at)`` is the span of time the question points
at, or ``None`` when it names none. English phrases read (N a number in digits or words up to
twelve, or "a", "a couple of", "a few", "several"):

- "today", "this morning / afternoon", "yesterday", "last night", "the day before yesterday";
- "N days / weeks / months / years ago" (also "N weeks back");
- "last week / weekend / month / year": the calendar one before this one; "this week / month /
  year": the calendar one so far; "(in) the last / past week / month / year": as many days up to
  now ("this weekend" and "tonight" look ahead, where no memory is yet);
- "last / this / on <weekday>": the latest such day before the day of asking;
- "in the last / past N days / weeks / months" and "over / during the past N …": from then up to now;
- "in / during / back in / of <month>", with or without a year (without: the latest such month that
  has begun); "in 2023".

Only the first phrase found counts. A span is ``(start, end, scale)`` in epoch seconds: the days
the phrase names, and how loosely it names them (``scale``: a day for a named day, two days for
"last week", a week for a month, a quarter of the distance for "N units ago" — "four weeks ago"
is ±1 week, "two months ago" ±15 days). ``nearness(t, span)`` is 1 inside the span and falls as a Gaussian of the
distance outside it,

.. math::

    g(t) = \\exp\\!\\left(-\\tfrac12 \\left(\\frac{d(t, [a, b])}{σ}\\right)^2\\right)

with σ the span's scale before it and at least ``TOLD_WITHIN`` (3 days) after it, since what
happened is told of in the days after; so a memory from just outside a loosely named span still
counts for most of its score.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import numpy as np

DAY = 86400.0
TOLD_WITHIN = 3 * DAY  # σ of nearness after a span: what happened is told of in the days after it
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "couple of": 2,
           "a few": 3, "few": 3, "several": 3}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]

_NUM = (r"(\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
        r"|(?:a )?couple of|(?:a )?few|several)")
_UNIT = r"(day|week|month|year)s?"
AGO = re.compile(rf"\b{_NUM} {_UNIT} (?:ago|back)\b")
PAST_N = re.compile(rf"\b(?:in|over|during|within|for) the (?:last|past) {_NUM} {_UNIT}\b")
LAST_UNIT = re.compile(r"\b((?:(?:in|over|during|within|for) )?the )?"
                       r"(?:(last|past) (week(?:end)?|month|year)|(this) (week|month|year))\b")
# "on Saturday mornings" is a habit, not a day
WEEKDAY = re.compile(rf"\b(last|this|on|past) ({'|'.join(WEEKDAYS)})\b"
                     r"(?! (?:mornings|afternoons|evenings|nights))")
MONTH = re.compile(rf"\b(?:in|during|back in|of) ({'|'.join(MONTHS)})(?:,? (\d{{4}}))?\b")
# "before today", "until today", "as of today" bound a span at now: they name no day
DAY_WORDS = re.compile(r"\b(?<!before )(?<!until )(?<!till )(?<!up to )(?<!as of )(?<!since )"
                       r"(the day before yesterday|yesterday|last night|today|this (?:morning|afternoon))\b")
YEAR = re.compile(r"\b(?:in|during|back in|of) ((?:19|20)\d\d)\b")


class Span(NamedTuple):
    start: float  # epoch seconds
    end: float
    scale: float  # seconds: how loosely the phrase names the span (σ of ``nearness``)


def _day_start(t: float) -> datetime:
    d = datetime.fromtimestamp(t, timezone.utc)
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def _days(first: datetime, n_days: float, scale_days: float) -> Span:
    start = first.timestamp()
    return Span(start, start + n_days * DAY - 1.0, scale_days * DAY)


def _current(today: datetime, unit: str) -> datetime:
    """The first day of the calendar week (Monday), month or year of ``today``."""
    if unit == "week":
        return today - timedelta(days=today.weekday())
    return datetime(today.year, today.month if unit == "month" else 1, 1, tzinfo=timezone.utc)


def _previous(today: datetime, unit: str) -> Span:
    """The calendar week (Monday to Sunday), month or year before the one of ``today``."""
    if unit == "week":
        return _days(today - timedelta(days=today.weekday() + 7), 7, 2)
    if unit == "month":
        first = datetime(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1, tzinfo=timezone.utc)
        return Span(first.timestamp(), datetime(today.year, today.month, 1, tzinfo=timezone.utc).timestamp() - 1.0,
                    7 * DAY)
    first = datetime(today.year - 1, 1, 1, tzinfo=timezone.utc)
    return Span(first.timestamp(), datetime(today.year, 1, 1, tzinfo=timezone.utc).timestamp() - 1.0, 60 * DAY)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


def question_span(query: str, at: float) -> Span | None:
    """The span of time ``query`` names relative to ``at`` (epoch seconds), or ``None``."""
    found = _first_phrase(_plain(query), PHRASES)
    if found is None:
        return None
    kind, m = found
    today = _day_start(at)
    if kind == "day":
        days_back = {"the day before yesterday": 2, "yesterday": 1, "last night": 1}.get(m.group(1), 0)
        return _days(today - timedelta(days=days_back), 1, 1)
    if kind == "ago":
        ago = _count(m.group(1)) * UNIT_DAYS[m.group(2)]
        half = max(0.5, ago / 4.0)
        centre = today - timedelta(days=ago)
        return Span((centre - timedelta(days=half / 2)).timestamp(),
                    (centre + timedelta(days=1 + half / 2)).timestamp() - 1.0, half * DAY)
    if kind == "past_n":
        within = round(_count(m.group(1)) * UNIT_DAYS[m.group(2)])
        return Span((today - timedelta(days=within)).timestamp(), at, max(1.0, within / 4.0) * DAY)
    if kind == "last":
        the, which, name = m.group(1), m.group(2) or m.group(4), m.group(3) or m.group(5)
        if name == "weekend":  # the Saturday and Sunday before the day of asking
            sat = today - timedelta(days=(today.weekday() - 5) % 7 or 7)
            return _days(sat, 2, 1)
        days = UNIT_DAYS[name]
        if which == "this":  # the calendar week, month or year so far
            return Span(_current(today, name).timestamp(), at, days / 4.0 * DAY)
        if which == "past" or the:  # "the past week", "in the last month": as many days up to now
            return Span((today - timedelta(days=round(days))).timestamp(), at, days / 4.0 * DAY)
        return _previous(today, name)
    if kind == "weekday":
        days_back = (today.weekday() - WEEKDAYS.index(m.group(2))) % 7 or 7
        return _days(today - timedelta(days=days_back), 1, 1)
    if kind == "year":
        year = int(m.group(1))
        return Span(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp(),
                    datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp() - 1.0, 30 * DAY)
    # a month by name: that month of the given year, or the latest one that has begun
    month = MONTHS.index(m.group(1)) + 1
    year = int(m.group(2)) if m.group(2) else today.year - (month > today.month)
    first = datetime(year, month, 1, tzinfo=timezone.utc)
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
    return Span(first.timestamp(), nxt.timestamp() - 1.0, 7 * DAY)


# what each phrase is read as; the relative ones name a distance from now, not a name said in a memory
PHRASES = (("ago", AGO), ("past_n", PAST_N), ("last", LAST_UNIT), ("weekday", WEEKDAY), ("month", MONTH),
           ("day", DAY_WORDS), ("year", YEAR))
RELATIVE = tuple((kind, rx) for kind, rx in PHRASES if kind in ("ago", "past_n", "last", "day"))


def _first_phrase(q: str, kinds: tuple[tuple[str, re.Pattern[str]], ...]) -> tuple[str, re.Match[str]] | None:
    """The kind and match of the first phrase in ``q`` (already ``_plain``) among ``kinds``."""
    low = q.lower()
    found = [(m.start(), kind, m) for kind, rx in kinds for m in [rx.search(low)] if m is not None]
    if not found:
        return None
    _, kind, m = min(found, key=lambda f: f[0])
    return kind, m


def _plain(query: str) -> str:
    """The query as the phrases are matched: hyphens as spaces, one space between words."""
    return " ".join(query.replace("-", " ").split())


def without_relative_time(query: str) -> str:
    """``query`` without its first relative time phrase ("… four weeks ago?" → "… ?"): words that
    name a distance from now, which the memories of that time do not use. Names of days and months,
    which they do use, stay."""
    q = _plain(query)
    found = _first_phrase(q, RELATIVE)
    if found is None:
        return query
    m = found[1]
    return " ".join((q[:m.start()] + " " + q[m.end():]).split())


def nearness(t: float, span: Span) -> float:
    """g(t): 1 inside the span, a Gaussian of the distance outside it: in units of the span's scale
    before it, and of at least ``TOLD_WITHIN`` after it (an event is told of in the days after)."""
    return float(nearness_of(np.array([t], np.float64), span)[0])


def nearness_of(times: np.ndarray, span: Span) -> np.ndarray:
    """``nearness`` of each of ``times`` (epoch seconds), as an array (the one formula of g)."""
    before = np.maximum(span.start - times, 0.0) / span.scale
    after = np.maximum(times - span.end, 0.0) / max(span.scale, TOLD_WITHIN)
    return np.exp(-0.5 * (before + after) ** 2)


def any_near(times: np.ndarray, span: Span) -> bool:
    """Whether any of ``times`` lies within two σ of the span (``nearness`` ≥ e⁻²)."""
    lo, hi = span.start - 2.0 * span.scale, span.end + 2.0 * max(span.scale, TOLD_WITHIN)
    return bool(np.any((times >= lo) & (times <= hi)))
