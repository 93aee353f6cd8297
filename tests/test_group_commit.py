"""Group commit of the daemon's ``remember`` calls (``nuonuo.daemon.group_commit``), on a real store:
calls that queue while a batch is written are stored together, each caller gets its own record or
its own error, duplicates and key values behave as with lone calls, and every memory is durable."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from nuonuo.daemon.group_commit import GroupCommitter
from nuonuo.errors import InvalidInput


def committer(mem):
    gate = threading.Lock()

    @contextmanager
    def writer():
        with gate:
            yield mem

    return GroupCommitter(writer), gate


def run_calls(group, gate, calls):
    """Hold the writer while every call queues, then let them through; results in call order."""
    out: list = [None] * len(calls)

    def one(i, kwargs):
        try:
            out[i] = group.remember(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out[i] = exc

    gate.acquire()
    threads = []
    for i, kwargs in enumerate(calls):
        t = threading.Thread(target=one, args=(i, kwargs))
        t.start()
        threads.append(t)
        time.sleep(0.01)  # call order = queue order (the first leads and waits at the writer)
    deadline = time.monotonic() + 10
    while len(group._queue) < len(calls) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.release()
    for t in threads:
        t.join(30)
    return out


def test_queued_calls_share_one_commit_and_each_gets_its_record(mem, reopen):
    group, gate = committer(mem)
    texts = [f"note {i}: the meeting about project {i} went fine" for i in range(12)]
    out = run_calls(group, gate, [{"text": t, "namespace": "work"} for t in texts])
    assert [r.text for r in out] == texts
    assert group.calls == 12 and group.batches == 2  # the first alone, the eleven queued behind it together
    assert mem.namespaces()["work"] == 12
    mem.close()
    again = reopen()
    assert {r.text for r in again.list("work", limit=100)} == set(texts)


def test_a_bad_call_fails_alone_and_duplicates_and_keys_behave_as_lone_calls(mem):
    group, gate = committer(mem)
    calls = [{"text": "first"}, {"text": "The wifi password is hunter2", "key": "wifi"},
             {"text": "   "}, {"text": "The wifi password is swordfish", "key": "wifi"},
             {"text": "Lena lives in Porto"}, {"text": "Lena lives in Porto"},
             {"text": "weighted", "importance": 2.0}]
    out = run_calls(group, gate, calls)
    assert isinstance(out[2], InvalidInput) and "empty" in out[2].message and "item" not in out[2].message
    assert isinstance(out[6], InvalidInput) and "importance" in out[6].message
    assert out[4].id == out[5].id  # an exact duplicate: the stored record
    assert mem.lookup("wifi").text == "The wifi password is swordfish"  # the later value wins
    assert [r.status for r in mem.history("wifi")] == ["active", "superseded"]
    assert mem.namespaces()["default"] == 3  # first, the current wifi value, Lena (the old value is history)


def test_a_lone_call_is_written_at_once(mem):
    group, _ = committer(mem)
    t0 = time.perf_counter()
    rec = group.remember("Uncle Joe borrowed the blue kayak", metadata={"source": "chat"})
    assert rec.metadata == {"source": "chat"} and mem.get(rec.id).text == rec.text
    assert group.batches == 1 and time.perf_counter() - t0 < 30
    with pytest.raises(InvalidInput):
        group.remember("")


def test_a_writer_that_cannot_open_fails_every_caller_with_its_error():
    from nuonuo.errors import StoreLocked

    @contextmanager
    def writer():
        raise StoreLocked("the store is in use by pid 1")
        yield  # pragma: no cover

    group = GroupCommitter(writer)
    with pytest.raises(StoreLocked, match="pid 1"):
        group.remember("Uncle Joe borrowed the blue kayak")
    with pytest.raises(StoreLocked):  # the lead was handed back: the next call is not stuck
        group.remember("another memory")
