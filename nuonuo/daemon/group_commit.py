"""Group commit: the daemon's concurrent ``remember`` calls stored by one LanceDB commit.

Each ``remember`` used to be its own write: one encoder run for one text and one LanceDB commit
(a new table version: data file, manifest, fsync) while every other writer waited its turn. Under
load the calls queue anyway, so the daemon now takes the queue as it stands and stores it with one
``Memory.remember_many`` (one encoder batch, one commit), then answers every caller in it.

How (leader/follower, as databases group their log flushes): a call appends its item to the queue;
if no batch is being written, it becomes the leader and writes the whole queue (its own item and
whatever arrived meanwhile, up to ``max_batch``); calls that arrive during that write wait, and
when it ends the first of them leads the next batch. A lone call is written at once: nothing waits
for a batch to fill, so a quiet daemon answers as before.

What a caller sees is what a lone ``remember`` gives it:
- it is answered only after the commit that stored its memory (durable on return);
- its record: its own, or the stored one for an exact duplicate (also within one batch), and a new
  value of a key supersedes the old one, in call order within a batch as across batches;
- its own error: ``remember_many`` validates every item before it stores any, so when a batch fails
  nothing of it was stored and each of its items is written again alone, answering each caller
  with its own result or error (a bad text in one call never fails another call).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any, Callable

from nuonuo.records import MemoryRecord


class _Call:
    __slots__ = ("item", "done", "lead", "record", "error")

    def __init__(self, item: dict[str, Any]):
        self.item = item
        self.done = threading.Event()
        self.lead = False  # set with ``done`` when this call is to write the next batch
        self.record: MemoryRecord | None = None
        self.error: BaseException | None = None


class GroupCommitter:
    """``remember(item)`` for many threads at once; ``writer()`` gives the ``Memory`` to write with
    (the daemon's one-writer-at-a-time context)."""

    def __init__(self, writer: Callable[[], AbstractContextManager], max_batch: int = 256):
        self._writer = writer
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Call] = []
        self._writing = False
        self.batches = 0  # batches written (for status and tests)
        self.calls = 0  # calls written through them

    def remember(self, text: str, key: str | None = None, namespace: str = "default",
                 metadata: Any = None, timestamp: Any = None, importance: float | None = None) -> MemoryRecord:
        """Store one memory as ``Memory.remember`` does (same arguments, record and errors)."""
        item: dict[str, Any] = {"text": text, "namespace": namespace}
        for name, value in (("key", key), ("metadata", metadata), ("timestamp", timestamp),
                            ("importance", importance)):
            if value is not None:
                item[name] = value
        call = _Call(item)
        with self._lock:
            self._queue.append(call)
            lead = not self._writing
            self._writing = True
        if not lead:
            call.done.wait()
            if not call.lead:
                return self._result(call)
        self._lead()
        call.done.wait()
        return self._result(call)

    @staticmethod
    def _result(call: _Call) -> MemoryRecord:
        if call.error is not None:
            raise call.error
        assert call.record is not None
        return call.record

    def _lead(self) -> None:
        """Write one batch (the queue as it stands), then hand the lead to the next waiting call."""
        with self._lock:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        failure: BaseException | None = None
        try:
            self._write(batch)
        except Exception as exc:  # the writer itself failed (e.g. the store's refresh): every caller hears it
            failure = exc
        finally:
            with self._lock:
                nxt = self._queue[0] if self._queue else None
                self._writing = nxt is not None
            for call in batch:
                if call.record is None and call.error is None:
                    call.error = failure or RuntimeError("the batch this memory was in was not written")
                call.done.set()
            if nxt is not None:
                nxt.lead = True
                nxt.done.set()

    def _write(self, batch: list[_Call]) -> None:
        with self._writer() as mem:
            if len(batch) > 1:
                try:
                    ids = mem.remember_many([c.item for c in batch], batch_size=len(batch))
                except Exception:  # nothing of the batch was stored: each call alone, its own answer
                    pass
                else:
                    for call, mid in zip(batch, ids):
                        call.record = mem.get(mid)
                    self.batches += 1
                    self.calls += len(batch)
                    return
            for call in batch:
                try:
                    call.record = mem.remember(**call.item)
                except Exception as exc:  # noqa: BLE001 - handed to the caller, raised there
                    call.error = exc
                self.batches += 1
                self.calls += 1
