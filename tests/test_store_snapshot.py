"""The store's snapshot (``nuonuo.store_snapshot``): a short process that only reads opens it
without LanceDB; it is used only while it is exactly the store's state; what a reader could not
write (access counts, co-recall pairs) reaches the store at the next full open. Real encoder, real
LanceDB store, real files."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

import nuonuo.store_snapshot as store_snapshot
from nuonuo import Memory
from nuonuo.config import load_config
from nuonuo.errors import StoreError

FACTS = ["My sister Lena lives in Porto and works as a marine biologist",
         "The dentist appointment moved to Thursday at 3 pm",
         "Uncle Joe borrowed the blue kayak last summer",
         "Our wifi password is on the fridge, under the cat magnet"]


def open_memory(home, encoder, snapshot=False, **overrides):
    return Memory(load_config(home, overrides=overrides or None), encoder, snapshot=snapshot)


@pytest.fixture
def saved(nuonuo_home, encoder):
    """A store of FACTS whose snapshot was saved at close, as the CLI does."""
    with open_memory(nuonuo_home, encoder) as m:
        ids = m.remember_many(FACTS)
        assert m.save_snapshot() is True
        assert m.save_snapshot() is False  # unchanged since: nothing to write
    return ids


def hits_of(m, query):
    return [(h.id, round(h.score, 6), h.source) for h in m.recall(query, k=4)]


def test_a_reader_gets_the_same_recall_from_the_snapshot(nuonuo_home, encoder, saved):
    with open_memory(nuonuo_home, encoder) as full:
        expected = {q: hits_of(full, q) for q in ("where does my sister live?", "kayak", "wifi password")}
        full.discard()  # no writes: the snapshot stays current
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        assert m.store.read_only
        assert {q: hits_of(m, q) for q in expected} == expected
        assert m.stats()["memories"] == len(FACTS)


def test_a_reader_refuses_writes_with_a_clear_error_and_the_store_keeps_everything(nuonuo_home, encoder, saved):
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        with pytest.raises(StoreError, match="snapshot"):
            m.remember("A new fact")
        with pytest.raises(StoreError, match="snapshot"):
            m.forget(saved[0])
    with open_memory(nuonuo_home, encoder) as m:
        assert sorted(r.text for r in m.records()) == sorted(FACTS)


def test_a_write_makes_the_snapshot_stale_and_it_is_not_read(nuonuo_home, encoder, saved):
    with open_memory(nuonuo_home, encoder) as m:
        m.remember("The spare key is under the third flower pot")
    assert store_snapshot.load(nuonuo_home, str(nuonuo_home / "store"), encoder.dim) is None
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        assert not m.store.read_only  # the store itself, with the new memory
        assert m.recall("where is the spare key?", k=1)[0].text.startswith("The spare key")


def test_a_damaged_snapshot_is_no_snapshot(nuonuo_home, encoder, saved):
    path = nuonuo_home / "snapshot" / "memories.arrow"
    path.write_bytes(path.read_bytes()[:100])
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        assert not m.store.read_only
        assert m.recall("where does my sister live?", k=1)[0].text == FACTS[0]


def test_what_a_reader_could_not_write_reaches_the_store_at_the_next_open(nuonuo_home, encoder):
    with open_memory(nuonuo_home, encoder) as m:
        a = m.remember("The garage door code is 4512.").id
        b = m.remember("The garage door opener battery is AAA.").id
        m.remember_many(FACTS)
        m.save_snapshot()
    with open_memory(nuonuo_home, encoder, snapshot=True, hebbian={"corecall_min_score": 0.0, "corecall_top": 2}) as m:
        assert m.store.read_only
        top = [h.id for h in m.recall("garage door", k=2)]
        m.recall("garage door", k=2)
    assert set(top) == {a, b}
    access, pairs = store_snapshot.read_pending(nuonuo_home)
    assert access[a][0] == 2 and access[b][0] == 2
    assert sorted(pairs) == sorted([(a, b), (b, a)] * 2)
    with open_memory(nuonuo_home, encoder) as m:  # a full open applies them, then the file goes
        assert m.get(a).access_count == 2 and m.get(b).access_count == 2
        links = [link for link in m.associations(a) if link["kind"] == "corecall"]
        assert {link["other"] for link in links} == {b}
    assert not (nuonuo_home / store_snapshot.PENDING).exists()
    with open_memory(nuonuo_home, encoder) as m:  # applied once only
        assert m.get(a).access_count == 2


def test_a_torn_pending_line_is_skipped(nuonuo_home):
    nuonuo_home.mkdir(parents=True)
    store_snapshot.append_pending(nuonuo_home, {"m1": (2, 10.0)}, [("m1", "m2")])
    with open(nuonuo_home / store_snapshot.PENDING, "a") as fh:
        fh.write('{"access": {"m1": [1, 20')  # a crash mid-append
    store_snapshot.append_pending(nuonuo_home, {"m1": (1, 30.0), "m2": (1, 5.0)}, [])
    access, pairs = store_snapshot.read_pending(nuonuo_home)
    assert access == {"m1": (3, 30.0), "m2": (1, 5.0)} and pairs == [("m1", "m2")]


CHILD = """
import resource, sys
from nuonuo import Memory
from nuonuo.errors import StoreError
resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))  # every write past one byte fails (EFBIG), as on a full disk
m = Memory.open(sys.argv[1])
print(m.recall("where does my sister live?", k=1)[0].text)
try:
    m.close()
except StoreError as exc:
    print("close:", exc.kind)
"""


def test_on_a_full_disk_an_open_serves_and_keeps_the_pending_file_for_later(nuonuo_home, encoder, saved):
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        m.recall("where does my sister live?", k=1)
    assert (nuonuo_home / store_snapshot.PENDING).exists()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(nuonuo_home)], capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == FACTS[0]  # the open applied nothing, and served
    assert (nuonuo_home / store_snapshot.PENDING).exists()
    with open_memory(nuonuo_home, encoder) as m:  # space again: applied now, once
        assert m.get(saved[0]).access_count == 1
    assert not (nuonuo_home / store_snapshot.PENDING).exists()


READER = """
import resource, sys
from nuonuo import Memory
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the pending file cannot grow, as on a full disk
with Memory.open(sys.argv[1], snapshot=True) as m:
    assert m.store.read_only
    print(m.recall("where does my sister live?", k=1)[0].text)
"""


def test_on_a_full_disk_a_reader_answers_and_closes_without_its_bookkeeping(nuonuo_home, encoder, saved):
    proc = subprocess.run([sys.executable, "-c", READER, str(nuonuo_home)], capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.splitlines() == [FACTS[0]]
    access, _ = store_snapshot.read_pending(nuonuo_home)
    assert access == {}  # dropped (bookkeeping), the store untouched


QUERIES = ("where does my sister live?", "kayak", "wifi password", "dentist on Thursday")


def test_the_first_reader_leaves_the_ngram_indexes_and_the_next_reads_them(nuonuo_home, encoder, saved, monkeypatch):
    """Tokenising every text is most of a cold open of a large store: the first reader of a snapshot
    builds the n-gram indexes and leaves them beside it; the next reads them, with the same recall."""
    from nuonuo.engram.component import EngramComponent

    built: list[int] = []
    index_texts = EngramComponent._index_texts
    monkeypatch.setattr(EngramComponent, "_index_texts", lambda self, active: (built.append(len(active)),
                                                                                index_texts(self, active))[1])
    with open_memory(nuonuo_home, encoder) as full:
        expected = {q: hits_of(full, q) for q in QUERIES}
        full.discard()
    cache = nuonuo_home / "snapshot" / "ngram.npz"
    assert built == [len(FACTS)] and not cache.exists()  # a live store keeps no cache
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        assert {q: hits_of(m, q) for q in QUERIES} == expected
    assert built == [len(FACTS)] * 2 and cache.exists()  # built once more, and left
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        assert {q: hits_of(m, q) for q in QUERIES} == expected
        assert m.engram.ngrams["default"].search("kayak", 4)[0] == [saved[2]]
    assert built == [len(FACTS)] * 2  # read, not built


def test_a_write_leaves_the_cached_indexes_behind_with_the_old_snapshot(nuonuo_home, encoder, saved):
    with open_memory(nuonuo_home, encoder, snapshot=True):
        pass
    assert (nuonuo_home / "snapshot" / "ngram.npz").exists()
    with open_memory(nuonuo_home, encoder) as m:
        new = m.remember("The canoe club meets on the river every Sunday").id
        assert m.save_snapshot() is True
    assert not (nuonuo_home / "snapshot" / "ngram.npz").exists()
    for _ in range(2):  # builds (and leaves), then reads: the new memory either way
        with open_memory(nuonuo_home, encoder, snapshot=True) as m:
            assert m.recall("canoe club river", k=1)[0].id == new


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other snapshot", "other stemming"])
def test_a_cache_that_does_not_fit_is_not_read(nuonuo_home, encoder, saved, damage):
    """A damaged cache, one of another snapshot, or one built with other n-gram settings is built
    again, never read: recall is the live store's."""
    with open_memory(nuonuo_home, encoder, snapshot=True):
        pass
    import numpy as np

    cache = nuonuo_home / "snapshot" / "ngram.npz"
    good = cache.read_bytes()
    overrides = {}
    if damage == "garbage":
        cache.write_bytes(b"\x00not a cache at all" * 50)
    elif damage == "truncated":
        cache.write_bytes(good[: len(good) // 2])
    elif damage == "other snapshot":
        with np.load(cache) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["fingerprint"] = np.frombuffer(b"0" * 64, np.uint8)
        with open(cache, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        overrides = {"engram": {"stem": ""}}
    with open_memory(nuonuo_home, encoder, **overrides) as full:
        expected = {q: hits_of(full, q) for q in QUERIES}
        full.discard()
    with open_memory(nuonuo_home, encoder, snapshot=True, **overrides) as m:
        assert {q: hits_of(m, q) for q in QUERIES} == expected
    with np.load(cache) as z:  # built again and left in its place, for this snapshot and these settings
        assert z["fingerprint"].tobytes().decode() == store_snapshot.saved_fingerprint(nuonuo_home)
        assert ("stem=''" in z["params"].tobytes().decode()) == (damage == "other stemming")


def test_a_cache_the_disk_refuses_costs_the_reader_nothing(nuonuo_home, encoder, saved):
    """Where the cache cannot be read or written (here its path is taken by a folder, as a refusing
    disk would fail the write), the reader builds, answers as the live store does, and leaves no
    temporary file behind."""
    with open_memory(nuonuo_home, encoder) as full:
        expected = {q: hits_of(full, q) for q in QUERIES}
        full.discard()
    (nuonuo_home / "snapshot" / "ngram.npz").mkdir()
    for _ in range(2):
        with open_memory(nuonuo_home, encoder, snapshot=True) as m:
            assert m.store.read_only
            assert {q: hits_of(m, q) for q in QUERIES} == expected
    assert not [p.name for p in (nuonuo_home / "snapshot").iterdir() if p.name.endswith(".tmp")]


def test_the_first_reader_leaves_the_ivf_index_and_the_next_reads_it(nuonuo_home, encoder, saved, monkeypatch):
    """From ``PatternIndex.ivf_min`` memories (50K) stage 1 searches an IVF index, whose k-means and
    assignment cost ~1 s at 100K: the first reader of a snapshot builds it and leaves it beside the
    snapshot, the next reads it (the same cells, the same recall); a cache that does not fit is
    built again."""
    import numpy as np

    from nuonuo.hopfield import PatternIndex
    from nuonuo.ivf import IVF

    monkeypatch.setattr(PatternIndex, "ivf_min", 2)  # these four facts are searched through an IVF
    builds: list[int] = []
    build = IVF.build.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(IVF, "build", classmethod(lambda cls, x, **kw: (builds.append(len(x)), build(cls, x, **kw))[1]))
    with open_memory(nuonuo_home, encoder) as full:
        expected = {q: hits_of(full, q) for q in QUERIES}
        full.discard()
    cache = nuonuo_home / "snapshot" / "ivf.npz"
    assert builds == [len(FACTS)] and not cache.exists()  # a live store keeps no cache
    states = []
    for built in (2, 2):  # built once more and left, then read
        with open_memory(nuonuo_home, encoder, snapshot=True) as m:
            assert {q: hits_of(m, q) for q in QUERIES} == expected
            states.append(m.pattern_index("default").ivf_state())
        assert builds == [len(FACTS)] * built and cache.exists()
    assert all(np.array_equal(states[0][k], states[1][k]) for k in ("centroids", "offsets", "ids"))
    cache.write_bytes(b"\x00not a cache" * 40)
    with open_memory(nuonuo_home, encoder, snapshot=True) as m:
        assert {q: hits_of(m, q) for q in QUERIES} == expected
    assert builds == [len(FACTS)] * 3


def test_vectors_of_reads_every_chunk_and_slice_as_flatten_does():
    """``store.vectors_of`` (no pyarrow.compute) against Arrow's own flatten, on several chunks,
    sliced ones among them."""
    import numpy as np
    import pyarrow as pa

    from nuonuo.store import vectors_of

    rows = np.arange(60, dtype=np.float32).reshape(20, 3)
    whole = pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), 3)
    column = pa.chunked_array([whole.slice(0, 7), whole.slice(7, 1), whole.slice(8, 0), whole.slice(8)])
    assert np.array_equal(vectors_of(column, 3), rows)
    assert np.array_equal(vectors_of(column, 3), column.combine_chunks().flatten().to_numpy().reshape(-1, 3))
    assert np.array_equal(vectors_of(pa.chunked_array([whole.slice(5, 4)]), 3), rows[5:9])
