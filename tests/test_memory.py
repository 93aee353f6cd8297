"""The Memory facade on the real encoder and a real LanceDB in a temp folder."""

from datetime import datetime, timezone

import pytest

from nuonuo import InvalidInput, Memory, NotFound, StoreLocked
from nuonuo.config import load_config

FACTS = [
    "My sister Lena lives in Porto and works as a marine biologist",
    "The wifi password at the cabin is tidepool-42",
    "I am allergic to penicillin",
    "Our team standup is at 9:30 every weekday",
    "My favourite band is Radiohead",
]


def test_remember_then_recall_finds_the_paraphrased_fact(mem):
    for fact in FACTS:
        mem.remember(fact)
    hits = mem.recall("where does my sister live?", k=3)
    assert hits[0].text == FACTS[0]
    assert hits[0].source in {"hopfield", "ngram"} and 0 < hits[0].score <= 1
    assert hits[0].score > hits[1].score
    assert "cosine" in hits[0].scores and "hopfield" in hits[0].scores
    hits = mem.recall("which medicine must I avoid?", k=1)
    assert hits[0].text == FACTS[2]


def test_records_carry_metadata_hash_and_times(mem):
    rec = mem.remember(FACTS[1], metadata={"place": "cabin"}, timestamp="2024-05-01T10:00:00Z")
    assert rec.metadata == {"place": "cabin"}
    assert len(rec.sha256) == 64
    assert rec.timestamp.startswith("2024-05-01T10:00:00")
    hit = mem.recall("cabin wifi", k=1)[0]
    assert hit.metadata == {"place": "cabin"} and hit.id == rec.id
    assert mem.get(rec.id).access_count == 1


def test_exact_duplicates_are_stored_once(mem):
    a = mem.remember(FACTS[0])
    b = mem.remember("  " + FACTS[0] + "\n")
    assert a.id == b.id
    ids = mem.remember_many([FACTS[1], FACTS[1], FACTS[0]])
    assert ids[0] == ids[1] and ids[2] == a.id
    assert mem.stats()["memories"] == 2
    # another namespace is another memory
    c = mem.remember(FACTS[0], namespace="work")
    assert c.id != a.id


def test_namespaces_keep_memories_apart(mem):
    mem.remember("Alice's favourite colour is teal", namespace="alice")
    mem.remember("Bob's favourite colour is orange", namespace="bob")
    hits = mem.recall("favourite colour", namespace="alice")
    assert [h.text for h in hits] == ["Alice's favourite colour is teal"]
    assert mem.recall("favourite colour", namespace="nobody") == []
    assert mem.namespaces() == {"alice": 1, "bob": 1}


def test_at_ignores_memories_from_after_the_question(mem):
    mem.remember("I moved to Berlin", timestamp="2023-01-10T00:00:00")
    mem.remember("I moved to Lisbon", timestamp="2024-06-01T00:00:00")
    hits = mem.recall("where did I move?", at="2023-12-31T00:00:00")
    assert [h.text for h in hits] == ["I moved to Berlin"]
    hits = mem.recall("where did I move?", at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert {h.text for h in hits} == {"I moved to Berlin", "I moved to Lisbon"}


def test_keyed_fact_supersedes_and_keeps_history(mem):
    mem.remember("Europe/Lisbon", key="user.timezone", timestamp="2024-01-01T00:00:00")
    mem.remember("America/New_York", key="User Timezone", timestamp="2024-02-01T00:00:00")
    assert mem.lookup("user  timezone").text == "America/New_York"
    assert [r.text for r in mem.history("USER.TIMEZONE")] == ["America/New_York", "Europe/Lisbon"]
    hit = mem.recall(key="user timezone")[0]
    assert hit.source == "exact" and hit.text == "America/New_York"
    assert mem.forget(key="user.timezone") == 2
    assert mem.lookup("user.timezone") is None


def test_update_reencodes_and_forget_removes(mem):
    rec = mem.remember("The garage code is 1234")
    new = mem.update(rec.id, text="The garage code is 9876", metadata={"changed": True})
    assert mem.get(rec.id).text == "The garage code is 9876" and new.metadata == {"changed": True}
    assert mem.recall("garage code", k=1)[0].text == "The garage code is 9876"
    assert mem.forget(rec.id) == 1
    with pytest.raises(NotFound):
        mem.get(rec.id)
    assert mem.recall("garage code") == []


def test_forget_a_namespace(mem):
    mem.remember_many(["one note", "another note"], namespace="scratch")
    mem.remember("keep me")
    assert mem.forget(namespace="scratch") == 2
    assert mem.namespaces() == {"default": 1}
    with pytest.raises(NotFound):
        mem.forget(namespace="scratch")


def test_everything_survives_a_reopen(mem, reopen):
    ids = mem.remember_many([{"text": f, "metadata": {"n": i}} for i, f in enumerate(FACTS)])
    mem.remember("v1", key="k")
    mem.remember("v2", key="k")
    mem.recall("sister")
    mem.close()
    again = reopen()
    assert sorted(r.id for r in again.records() if r.status == "active") == sorted(ids + [again.lookup("k").id])
    assert again.get(ids[3]).metadata == {"n": 3}
    assert again.lookup("k").text == "v2" and len(again.history("k")) == 2
    assert again.get(ids[0]).access_count == 1  # flushed at close
    assert again.recall("where does my sister live?", k=1)[0].id == ids[0]


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n\t", "empty"), (None, "must be a string"), (42, "must be a string"),
    ("bin\x00ary", "NUL"),
])
def test_bad_text_is_refused_and_nothing_is_lost(mem, text, message):
    keep = mem.remember("an acknowledged memory")
    with pytest.raises(InvalidInput, match=message):
        mem.remember(text)
    assert mem.get(keep.id).text == "an acknowledged memory"
    assert mem.stats()["memories"] == 1


def test_huge_text_says_the_limit(nuonuo_home, encoder):
    cfg = load_config(nuonuo_home, overrides={"store": {"max_text_chars": 1000}})
    with Memory(cfg, encoder) as m:
        with pytest.raises(InvalidInput, match="1,001 characters, over the limit of 1,000"):
            m.remember("x" * 1001)


@pytest.mark.parametrize("kwargs, message", [
    ({"namespace": ""}, "namespace"), ({"namespace": "has space"}, "namespace"),
    ({"metadata": ["a"]}, "metadata must be a mapping"), ({"metadata": {"x": object()}}, "JSON"),
    ({"timestamp": "yesterday-ish"}, "ISO-8601"), ({"key": "..."}, "key must be"),
])
def test_bad_fields_are_refused(mem, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        mem.remember("fine text", **kwargs)


@pytest.mark.parametrize("k", [0, -1, 1001, 2.5, True])
def test_bad_k(mem, k):
    mem.remember("something")
    with pytest.raises(InvalidInput, match="k must be"):
        mem.recall("something", k=k)


def test_remember_many_is_all_or_nothing(mem):
    with pytest.raises(InvalidInput, match="item 2"):
        mem.remember_many(["good", "also good", "", "fine"])
    assert mem.stats()["memories"] == 0
    with pytest.raises(InvalidInput, match="unknown field"):
        mem.remember_many([{"txt": "typo"}])


def test_a_second_writer_gets_a_clear_error(mem, nuonuo_home, encoder):
    cfg = load_config(nuonuo_home, overrides={"store": {"lock_timeout_s": 0.2}})
    with pytest.raises(StoreLocked, match="in use by pid"):
        Memory(cfg, encoder)
    assert mem.remember("still writable").id


def test_export_then_import_round_trips(mem, tmp_path, reopen):
    mem.remember("Europe/Lisbon", key="user.timezone")
    mem.remember("fact with meta", metadata={"a": 1}, timestamp="2022-02-02T02:02:02+00:00", namespace="n2")
    path = tmp_path / "out.jsonl"
    assert mem.export(path) == 2
    mem.close()
    other = Memory(load_config(tmp_path / "other"), mem.encoder)
    try:
        import json
        ids = other.remember_many([json.loads(line) for line in path.read_text().splitlines()])
        assert len(ids) == 2
        rec = next(other.get(i) for i in ids if other.get(i).namespace == "n2")
        assert rec.namespace == "n2" and rec.metadata == {"a": 1} and rec.timestamp.startswith("2022-02-02T02:02:02")
        assert other.lookup("user timezone").text == "Europe/Lisbon"
    finally:
        other.close()
