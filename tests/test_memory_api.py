"""One behavioural suite for ``nuonuo.api.MemoryAPI``, run on its three implementations:

- ``embedded``: ``Memory`` on a temp home;
- ``daemon``: the daemon's ``Client`` of a real daemon process on a real Unix socket;
- ``shared``: ``SharedMemory`` (the store lock per call) on a temp home.

Each implementation serves the whole module and each test works in its own namespace, so a test
sees only what it wrote. The same calls must give the same results and the same errors on all
three (``mypy`` checks the signatures: ``tests/test_typecheck.py``)."""

from __future__ import annotations

import inspect
import json
import math
import uuid
from typing import Iterator

import pytest

import daemon_support as ds
from nuonuo import Memory
from nuonuo.api import MemoryAPI
from nuonuo.chat.events import Turn
from nuonuo.config import load_config
from nuonuo.daemon.client import Client
from nuonuo.errors import InvalidInput, NotFound
from nuonuo.records import Hit, MemoryRecord, to_epoch
from nuonuo.shared_memory import SharedMemory

KINDS = ("embedded", "daemon", "shared")
CONFIG = """
    [store]
    lock_timeout_s = 20
    max_text_chars = 2000
"""


@pytest.fixture(scope="module")
def implementations(tmp_path_factory, encoder) -> Iterator[dict[str, MemoryAPI]]:
    homes = {kind: tmp_path_factory.mktemp(f"api-{kind}") / "home" for kind in KINDS}
    for home in homes.values():
        ds.write_config(home, CONFIG)
    ds.start(homes["daemon"])
    made: dict[str, MemoryAPI] = {
        "embedded": Memory(load_config(homes["embedded"]), encoder),
        "daemon": ds.client(homes["daemon"]),
        "shared": SharedMemory(config=load_config(homes["shared"]), encoder=encoder),
    }
    try:
        yield made
    finally:
        for mem in made.values():
            mem.close()
        ds.stop(homes["daemon"])


@pytest.fixture(params=KINDS)
def api(request, implementations) -> MemoryAPI:
    return implementations[request.param]


@pytest.fixture
def ns() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_the_three_are_memory_apis(implementations):
    assert isinstance(implementations["embedded"], Memory)
    assert isinstance(implementations["daemon"], Client)
    assert isinstance(implementations["shared"], SharedMemory)
    for mem in implementations.values():
        assert isinstance(mem, MemoryAPI)
        assert mem.config.store.max_text_chars == 2000  # the home's own config.toml


@pytest.mark.parametrize("cls", [Memory, Client, SharedMemory], ids=lambda c: c.__name__)
def test_the_same_argument_names_and_defaults(cls):
    """What mypy does not compare: the names, kinds and defaults of the arguments (a caller that
    passes ``namespace=`` must work on all three). An implementation may only add optional ones."""
    for name, proto in vars(MemoryAPI).items():
        if name.startswith("_") or not callable(proto):
            continue
        want = list(inspect.signature(proto).parameters.values())
        have = inspect.signature(getattr(cls, name)).parameters
        for p in want:
            assert p.name in have, f"{cls.__name__}.{name} has no argument {p.name}"
            q = have[p.name]
            assert (q.kind, q.default) == (p.kind, p.default), f"{cls.__name__}.{name}({p.name})"
        for extra in set(have) - {p.name for p in want}:
            q = have[extra]
            assert q.kind is q.VAR_KEYWORD or q.default is not q.empty, f"{cls.__name__}.{name}({extra})"


def test_remember_get_and_duplicates(api, ns):
    rec = api.remember("  The red notebook is in the top drawer.  ", namespace=ns, metadata={"room": "study"},
                       timestamp="2024-05-01T10:00:00Z", importance=0.7)
    assert isinstance(rec, MemoryRecord)
    assert rec.text == "The red notebook is in the top drawer." and rec.namespace == ns
    assert rec.metadata == {"room": "study"} and rec.importance == 0.7 and rec.status == "active"
    assert rec.created_at == to_epoch("2024-05-01T10:00:00Z") and rec.timestamp.startswith("2024-05-01T10:00")
    got = api.get(rec.id)
    assert (got.id, got.text, got.metadata, got.sha256) == (rec.id, rec.text, rec.metadata, rec.sha256)
    assert api.remember("The red notebook is in the top drawer.", namespace=ns).id == rec.id  # no duplicate
    assert api.namespaces()[ns] == 1
    with pytest.raises(NotFound):
        api.get("no-such-id")


def test_remember_many_is_all_or_nothing(api, ns):
    ids = api.remember_many(["one fact", {"text": "two facts", "metadata": {"n": 2}}, "one fact"], namespace=ns)
    assert len(ids) == 3 and ids[0] == ids[2] and len(set(ids)) == 2
    assert [api.get(i).text for i in ids] == ["one fact", "two facts", "one fact"]
    for bad, words in [({"text": "   "}, "item 1: text is empty"),
                       ({"text": "x", "importance": 2}, "item 1: importance must be"),
                       ({"text": "x", "colour": "red"}, "item 1: unknown field(s) colour"),
                       ({"text": "x", "namespace": "not a namespace"}, "item 1: namespace"),
                       ({"text": "x", "key": "..."}, "item 1: key must be")]:
        with pytest.raises(InvalidInput, match=words.replace("(", r"\(").replace(")", r"\)")):
            api.remember_many(["a good one", bad], namespace=ns)
    assert api.namespaces()[ns] == 2  # the good item of each bad batch was not stored


def test_recall_ranks_and_explains(api, ns):
    facts = ["My sister Lena lives in Porto.", "The wifi password is hunter2-blue.",
             "I am allergic to peanuts.", "The dentist appointment is on Friday."]
    ids = api.remember_many(facts, namespace=ns)
    hits = api.recall("where does my sister live?", k=2, namespace=ns)
    assert all(isinstance(h, Hit) for h in hits) and 1 <= len(hits) <= 2
    assert hits[0].id == ids[0] and hits[0].text == facts[0] and hits[0].namespace == ns
    assert hits[0].source in {"hopfield", "ngram", "exact", "hebbian"} and 0 <= hits[0].score <= 1
    assert api.recall("hunter2-blue", k=1, namespace=ns)[0].id == ids[1]  # the rare token
    assert api.recall("where does my sister live?", namespace=ns, at="2000-01-01T00:00:00Z") == []


def test_the_same_input_rules_everywhere(api, ns):
    api.remember("something", namespace=ns)
    cases = [
        (lambda: api.recall("q", k=0, namespace=ns), "k must be between 1 and 1000"),
        (lambda: api.recall("q", k=1001, namespace=ns), "k must be between 1 and 1000"),
        (lambda: api.recall("q", namespace="bad namespace"), "namespace 'bad namespace' is not valid"),
        (lambda: api.recall("q", namespace="trailing-newline\n"), "is not valid"),
        (lambda: api.recall("   ", namespace=ns), "query is empty"),
        (lambda: api.remember("", namespace=ns), "text is empty"),
        (lambda: api.remember("a\x00b", namespace=ns), "NUL"),
        (lambda: api.remember("x" * 2001, namespace=ns), "over the limit of 2,000"),
        (lambda: api.remember("fine", namespace=ns, importance=1.5), "importance must be"),
        (lambda: api.remember("fine", key="!!!", namespace=ns), "key must be"),
        (lambda: api.remember("fine", namespace=ns, timestamp="yesterday-ish"), "not an ISO-8601 date"),
    ]
    for call, words in cases:
        with pytest.raises(InvalidInput, match=words):
            call()
    with pytest.raises(InvalidInput, match="2,001 characters, over the limit"):
        api.remember("x" * 1990 + " " * 11, namespace=ns)  # the limit is on the text as given
    assert api.remember("x" * 1990 + " " * 10, namespace=ns).text == "x" * 1990  # stored stripped
    assert api.namespaces()[ns] == 2


def test_keys_lookup_history_and_exact_recall(api, ns):
    assert api.lookup("user.timezone", ns) is None
    old = api.remember("Europe/Lisbon", key="user.timezone", namespace=ns, timestamp=1_700_000_000)
    new = api.remember("Asia/Tokyo", key="User Timezone", namespace=ns, timestamp=1_700_000_100)
    current = api.lookup("USER_TIMEZONE", ns)
    assert current is not None and current.id == new.id
    assert [r.id for r in api.history("user.timezone", ns)] == [new.id, old.id]
    assert api.get(old.id).status == "superseded"
    exact = api.recall(key="user.timezone", namespace=ns)
    assert [(h.id, h.source, h.score) for h in exact] == [(new.id, "exact", 1.0)]
    assert [r.id for r in api.list(ns)] == [new.id]
    assert {r.id for r in api.list(ns, include_history=True)} == {new.id, old.id}


def test_update_and_forget(api, ns):
    a = api.remember("The spare key hangs behind the kitchen door.", namespace=ns)
    b = api.remember("The car is parked on level 3.", namespace=ns, key="car.parking")
    api.remember("The bike is in the shed.", namespace=ns)
    changed = api.update(a.id, text="The spare key hangs behind the hall door.", metadata={"v": 2}, importance=0.9)
    assert (changed.text, changed.metadata, changed.importance) == ("The spare key hangs behind the hall door.",
                                                                   {"v": 2}, 0.9)
    assert api.get(a.id).text == changed.text
    assert api.recall("where is the spare key?", k=1, namespace=ns)[0].id == a.id
    with pytest.raises(InvalidInput, match="importance"):
        api.update(a.id, importance=-1)
    with pytest.raises(NotFound):
        api.update("no-such-id", text="x")
    assert api.forget(a.id) == 1
    with pytest.raises(NotFound):
        api.get(a.id)
    with pytest.raises(NotFound):
        api.forget(a.id)
    assert api.forget(key="car.parking", namespace=ns) == 1
    with pytest.raises(NotFound):
        api.get(b.id)
    assert api.forget(namespace=ns) == 1
    assert ns not in api.namespaces()
    with pytest.raises(InvalidInput, match="needs an id, a key or a namespace"):
        api.forget()


def test_associations(api, ns):
    a = api.remember("Lena is my sister.", namespace=ns)
    b = api.remember("Tomas works at the harbour.", namespace=ns)
    api.associate(a.id, b.id, weight=2.0, kind="married")
    links = api.associations(a.id)
    assert any(link["other"] == b.id and link["direction"] == "out" and link["kind"] == "married"
               for link in links), links
    assert any(link["other"] == a.id and link["direction"] == "in" for link in api.associations(b.id))
    with pytest.raises(NotFound):
        api.associate(a.id, "no-such-id")


def test_stats(api, ns):
    api.remember_many(["first stat", "second stat"], namespace=ns)
    stats = api.stats()
    assert isinstance(stats["memories"], int) and stats["memories"] >= 2
    assert stats["namespaces"][ns] == 2 and stats["encoder"] and stats["dim"] == 384
    json.dumps(stats)  # plain data on all three


def test_chat_sessions(api, ns):
    sid = f"s-{uuid.uuid4().hex[:8]}"
    row = {"id": sid, "title": "about Porto", "namespace": ns, "created_at": 1_700_000_000.0, "n_turns": 2,
           "window_start": 0, "evicted_total": 0, "state": {"memory_ids": {}, "refs": {"n_docs": 2}}}
    api.sessions.save(row, [Turn("user", "My sister lives in Porto.", 0), Turn("assistant", "Nice city!", 1)])
    api.sessions.save({**row, "n_turns": 3, "window_start": 1, "evicted_total": 1,
                       "state": {"memory_ids": {"0": "m-0"}}}, [Turn("user", "What about Lena?", 2)])
    loaded, turns = api.sessions.load(sid)
    assert [(t.role, t.text, t.index) for t in turns] == [("user", "My sister lives in Porto.", 0),
                                                         ("assistant", "Nice city!", 1), ("user", "What about Lena?", 2)]
    assert turns[0].memory_id == "m-0" and turns[1].memory_id is None
    assert (loaded["title"], loaded["namespace"], loaded["n_turns"], loaded["window_start"]) == ("about Porto", ns, 3, 1)
    assert loaded["state"] == {"memory_ids": {"0": "m-0"}} and loaded["updated_at"] >= loaded["created_at"]
    listed = {s["id"]: s for s in api.sessions.list()}
    assert listed[sid]["turns"] == 3 and listed[sid]["title"] == "about Porto" and listed[sid]["namespace"] == ns
    api.sessions.delete(sid)
    with pytest.raises(NotFound, match="no chat session"):
        api.sessions.load(sid)
    assert sid not in {s["id"] for s in api.sessions.list()}


def test_metadata_must_be_json(api, ns):
    with pytest.raises(InvalidInput, match="metadata"):
        api.remember("with a NaN", namespace=ns, metadata={"x": math.nan})
    with pytest.raises(InvalidInput, match="metadata"):
        api.remember("with a set", namespace=ns, metadata={"x": {1, 2}})
    with pytest.raises(InvalidInput, match="metadata"):
        api.remember("not a mapping", namespace=ns, metadata=["a", "b"])  # type: ignore[arg-type]


def test_export(api, ns, tmp_path):
    api.remember_many(["exported one", {"text": "exported two", "key": "k.two"}], namespace=ns)
    path = tmp_path / "out.jsonl"
    assert api.export(path, namespace=ns) == 2
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert {r["text"] for r in rows} == {"exported one", "exported two"} and {r["namespace"] for r in rows} == {ns}


# consolidation may merge near-duplicates store-wide: keep it last
def test_consolidate_last(api, ns):
    api.remember_many(["sleep a", "sleep b"], namespace=ns)
    report = api.consolidate(epochs=1, paraphrase="off")
    assert isinstance(report, dict) and report["run_id"] and report["seconds"] >= 0
    json.dumps(report)
