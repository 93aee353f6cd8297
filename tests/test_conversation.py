"""Conversation neighbours (nuonuo.conversation) and the context keys of recall (nuonuo.recall.smooth)."""

from __future__ import annotations

import numpy as np
import pytest

from nuonuo.recall import smooth, tied_ranks


def test_equal_scores_share_the_best_rank():
    assert tied_ranks({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1}) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert tied_ranks({}) == {}


def test_smooth_keys_each_memory_by_itself_and_by_its_neighbours():
    chain = {"a": ["b"], "b": ["a", "c"], "c": ["b", "d"], "d": ["c"]}
    own = {"a": 0.9, "b": 0.1}
    extra = {"c": 0.3, "d": 0.5}
    scored, context = smooth(own, lambda ids: np.array([extra[i] for i in ids]), chain.__getitem__, 0.6)
    # s̃(x) = max(s(x), λ · mean of the neighbours' s)
    assert scored["a"] == pytest.approx(0.9)  # its own match is never lowered
    assert scored["b"] == pytest.approx(0.6 * (0.9 + 0.3) / 2)  # raised by its neighbours
    assert scored["c"] == pytest.approx(0.3)  # a neighbour becomes a candidate (0.6 · 0.3 < 0.3)
    assert "d" not in scored  # two steps away: read for c's context, not a candidate itself
    assert context["b"] == pytest.approx(0.6) and context["c"] == pytest.approx(0.3)
    assert smooth(own, lambda ids: np.zeros(len(ids)), chain.__getitem__, 0.0) == (own, {})


def test_neighbours_follow_session_order_time_and_forget(mem):
    ids = mem.remember_many([
        {"text": "turn two", "metadata": {"session": "s1", "turn": 2}, "timestamp": "2024-05-01T10:00:00"},
        {"text": "turn zero", "metadata": {"session": "s1", "turn": 0}, "timestamp": "2024-05-01T10:00:00"},
        {"text": "turn one", "metadata": {"session": "s1", "turn": 1}, "timestamp": "2024-05-01T10:00:00"},
        {"text": "other session", "metadata": {"session": "s2"}, "timestamp": "2024-05-01T10:00:00"},
        {"text": "a note on its own"},
    ])
    two, zero, one, other, lone = ids
    conv = mem.conversations
    assert conv.neighbours(one) == [zero, two]
    assert conv.neighbours(zero) == [one] and conv.neighbours(two) == [one]
    assert conv.neighbours(other) == [] and conv.neighbours(lone) == []
    later = mem.remember("turn three", metadata={"session": "s1", "turn": 3}, timestamp="2024-05-02T09:00:00").id
    assert conv.neighbours(two) == [one, later]
    assert conv.neighbours(two, at=mem.get(two).created_at) == [one]  # asked before turn three existed
    mem.forget(one)
    assert conv.neighbours(zero) == [two] and conv.neighbours(two) == [zero, later]


def test_neighbours_survive_reopen(mem, reopen):
    ids = mem.remember_many([{"text": f"turn {i}", "metadata": {"session": "s", "turn": i}} for i in range(3)])
    mem.close()
    again = reopen()
    assert again.conversations.neighbours(ids[1]) == [ids[0], ids[2]]
