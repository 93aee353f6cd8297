"""Crash safety and the one-writer rule, with real daemon processes.

- ``kill -9`` of the daemon in the middle of a bulk import, twice (each restart loads the model): after each, the store opens
  and every memory whose batch was acknowledged is there, word for word; a batch is in whole or not
  at all (one LanceDB commit), never half.
- two embedded writers: the second gets ``StoreLocked`` with a clear message; the store is intact.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import uuid

import pytest

import daemon_support as ds
from nuonuo import Memory
from nuonuo.config import load_config
from nuonuo.daemon.paths import DaemonPaths
from nuonuo.errors import DaemonError

BATCH = 16
ITEM = re.compile(r"^round (\d+) batch (\d+) item (\d+): [0-9a-f]{8}$")


def stored_texts(home, encoder) -> dict[str, str]:
    """Open the store embedded (as a restarted process would) and read every memory."""
    with Memory(load_config(home), encoder) as mem:
        return {r.id: r.text for r in mem.list(None, limit=10**9, include_history=True)}


class BulkWriter(threading.Thread):
    """Sends batches until the daemon goes away; keeps what was acknowledged."""

    def __init__(self, home, round_no: int):
        super().__init__(daemon=True)
        self.client = ds.client(home)
        self.round_no = round_no
        self.acked: dict[str, str] = {}
        self.sent_batches = 0
        self.error: Exception | None = None

    def run(self) -> None:
        b = 0
        while True:
            items = [f"round {self.round_no} batch {b} item {i}: {uuid.uuid4().hex[:8]}" for i in range(BATCH)]
            try:
                ids = self.client.remember_many(items, namespace="bulk")
            except DaemonError as exc:
                self.error = exc
                return
            self.acked.update(zip(ids, items))
            b += 1
            self.sent_batches = b


def test_kill9_mid_bulk_import_loses_no_acknowledged_memory(tmp_path, encoder):
    home = tmp_path / "crash"
    rng = random.Random(6)
    acked: dict[str, str] = {}
    for round_no in range(2):
        ds.start(home)
        writer = BulkWriter(home, round_no)
        writer.start()
        while writer.sent_batches < 2 and writer.is_alive():
            time.sleep(0.02)
        time.sleep(rng.uniform(0.05, 0.6))  # somewhere inside a batch: encoding or committing
        pid = ds.kill9(home)
        writer.join(timeout=60)
        assert isinstance(writer.error, DaemonError), f"round {round_no}: the writer did not notice the kill"
        acked.update(writer.acked)
        paths = DaemonPaths.of(load_config(home))
        assert paths.state()["pid"] == pid  # the pidfile is stale, but nothing mistakes it for a live daemon
        assert not paths.running() and ds.connect(home) is None

        stored = stored_texts(home, encoder)
        missing = {i: t for i, t in acked.items() if stored.get(i) != t}
        assert not missing, f"round {round_no}: {len(missing)} acknowledged memories lost"
        batches: dict[tuple[str, str], int] = {}
        for text in stored.values():
            m = ITEM.match(text)
            assert m, f"a memory nobody wrote: {text!r}"
            batches[(m.group(1), m.group(2))] = batches.get((m.group(1), m.group(2)), 0) + 1
        assert all(n == BATCH for n in batches.values()), f"a half-written batch: {batches}"
    assert len(acked) >= 2 * 2 * BATCH


def test_second_embedded_writer_gets_a_clear_error(nuonuo_home, encoder):
    with Memory(load_config(nuonuo_home), encoder) as first:
        rec = first.remember("written by the first writer")
        r = ds.run_cli(nuonuo_home, "remember", "written by a second writer",
                       env={"NUONUO_STORE_LOCK_TIMEOUT_S": "0.3"})
        assert r.returncode == 6, r.stderr
        assert f"in use by pid {os.getpid()}" in r.stderr and "nuonuo daemon start" in r.stderr
        first.remember("the first writer goes on")
    with Memory(load_config(nuonuo_home), encoder) as again:
        assert [m.text for m in again.list()] == ["the first writer goes on", "written by the first writer"]
        assert again.get(rec.id).text == rec.text


@pytest.fixture(autouse=True)
def _no_daemon_left(tmp_path):
    yield
    for home in tmp_path.iterdir():
        state = DaemonPaths.of(load_config(home)).state() if home.is_dir() else None
        if state and DaemonPaths.of(load_config(home)).running():
            ds.stop(home)
