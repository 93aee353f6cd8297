"""Sentence keys (``nuonuo.sentences``, ``nuonuo.sentence_index``): a memory of a few sentences is
also keyed by each sentence, on the real encoder and a real store."""

from __future__ import annotations

import numpy as np
import pytest

from nuonuo.config import load_config
from nuonuo.errors import ConfigError
from nuonuo.memory import Memory
from nuonuo.sentences import matched_sentence, sentence_keys

from daemon_support import run_cli  # noqa: E402  (tests/ is on sys.path under pytest)

KITCHEN = ("We spent the whole weekend repainting the kitchen and fixing the cabinet doors. "
           "My sister Lena turned 32 in March. The paint needed three coats before it looked even.")
OTHERS = ["Lena sent photos of the new kitchen tiles she picked for her flat.",
          "My sister Lena still rides the old bicycle she had in school.",
          "Lena's birthday dinner was at the Italian place near the river."]


@pytest.mark.parametrize("text, limit, expected", [
    ("One sentence only, nothing to split here.", 8, []),
    ("First we went out. Then we came back home.", 8, ["First we went out.", "Then we came back home."]),
    ("Is it raining today? Take the blue umbrella then!", 8, ["Is it raining today?", "Take the blue umbrella then!"]),
    ("line one of the list\nline two of the list", 8, ["line one of the list", "line two of the list"]),
    ("Thanks! The train to Lyon leaves at 7:12.", 8, []),        # "Thanks!" is no key: one left
    ("Sure. Ok. The train to Lyon leaves at 7:12. It is late again.", 8,
     ["The train to Lyon leaves at 7:12.", "It is late again."]),
    ("Version 2.5 is out now. It fixes the login bug.", 8, ["Version 2.5 is out now.", "It fixes the login bug."]),
    (" ".join(f"This is sentence number {i}." for i in range(9)), 8, []),  # a document: too many
    (" ".join(f"This is sentence number {i}." for i in range(9)), 9, [f"This is sentence number {i}." for i in range(9)]),
    ("First we went out. Then we came back home.", 0, []),  # off
])
def test_which_sentences_key_a_memory(text, limit, expected):
    assert sentence_keys(text, limit) == expected


def test_a_side_remark_is_found_by_its_own_sentence(tmp_path, encoder):
    """The kitchen turn is about the kitchen; its middle sentence answers the question. By the
    vector of its text, or by the mean of its sentences', it ranks last of four; scored also by its
    best sentence (the default) it ranks first. Either way a vectored-by-sentences hit says which
    sentence matched."""
    query = "What age is Lena now?"
    lena = float(encoder.embed("My sister Lena turned 32 in March.") @ encoder.embed(query))
    ranks = {}
    for name, recall in [("text", {"sentence_keys": 0}), ("mean", {"sentence_match": False}), ("defaults", {})]:
        with Memory(load_config(tmp_path / name, overrides={"recall": recall}), encoder) as mem:
            kitchen = mem.remember(KITCHEN)
            mem.remember_many(OTHERS)
            hits = mem.recall(query, k=4)
            ranks[name] = [h.id for h in hits].index(kitchen.id)
            top = hits[ranks[name]]
            if name == "text":
                assert "sentence" not in top.scores
                continue
            assert top.scores["sentence"] == pytest.approx(lena, abs=2e-3)  # float16 keys
            assert matched_sentence(top.text, top.scores) == "My sister Lena turned 32 in March."
            if name == "mean":
                assert top.scores["hopfield"] == top.scores["cosine"] < top.scores["sentence"]
            else:
                assert top.scores["hopfield"] == top.scores["sentence"] > top.scores["cosine"]
    assert ranks == {"text": 3, "mean": 3, "defaults": 0}


def test_a_memory_of_a_few_sentences_is_vectored_by_their_mean(tmp_path, encoder):
    """x = Σ_j x_j / ‖Σ_j x_j‖ over its sentences, as stored, read back and re-made for an update;
    a one-sentence memory and a long document keep their text's vector."""
    parts = ["We spent the whole weekend repainting the kitchen and fixing the cabinet doors.",
             "My sister Lena turned 32 in March.", "The paint needed three coats before it looked even."]
    mean = encoder.embed_many(parts).sum(axis=0)
    mean /= np.linalg.norm(mean)
    document = " ".join(f"This is sentence number {i}." for i in range(9))
    cfg = load_config(tmp_path)
    with Memory(cfg, encoder) as mem:
        kitchen = mem.remember(KITCHEN)
        single, long = mem.remember_many([OTHERS[0], document])
        assert np.allclose(mem.vector(kitchen.id), mean, atol=1e-5)
        assert float(mem.vector(kitchen.id) @ encoder.embed(KITCHEN)) < 0.99  # not the text's vector
        assert np.allclose(mem.vector(single), encoder.embed(OTHERS[0]), atol=1e-5)
        assert np.allclose(mem.vector(long), encoder.embed(document), atol=1e-5)
    with Memory(cfg, encoder) as mem:
        assert np.allclose(mem.vector(kitchen.id), mean, atol=1e-5)
        mem.update(kitchen.id, text="Lena is 32. She lives in Porto now.")
        two = encoder.embed_many(["Lena is 32.", "She lives in Porto now."]).sum(axis=0)
        assert np.allclose(mem.vector(kitchen.id), two / np.linalg.norm(two), atol=1e-5)


def test_keys_are_stored_read_back_and_follow_updates_and_forgets(tmp_path, encoder):
    cfg = load_config(tmp_path)
    with Memory(cfg, encoder) as mem:
        kitchen = mem.remember(KITCHEN)
        mem.remember_many(OTHERS)  # one sentence each: no keys
        assert mem.stats()["memories_with_sentence_keys"] == 1
        assert mem.stats()["sentence_keys"] == 3
        before = mem.sentences.best([kitchen.id], encoder.embed("What age is Lena now?"))
    with Memory(cfg, encoder) as mem:  # read back from the store
        assert mem.stats()["sentence_keys"] == 3
        assert np.array_equal(mem.sentences.best([kitchen.id], encoder.embed("What age is Lena now?")), before)
        mem.update(kitchen.id, metadata={"room": "kitchen"})  # the text is unchanged: the keys stay
        assert mem.stats()["sentence_keys"] == 3
        mem.update(kitchen.id, text="Lena is 32. She lives in Porto now.")  # encoded anew: two keys
        assert mem.stats()["sentence_keys"] == 2
        assert mem.store.table("sentence_keys").count_rows() == 1
        mem.update(kitchen.id, text="Lena lives in Porto.")  # one sentence: no keys, no rows
        assert mem.stats()["sentence_keys"] == 0
        assert mem.store.table("sentence_keys").count_rows() == 0
        mem.update(kitchen.id, text=KITCHEN)
        assert mem.store.table("sentence_keys").count_rows() == 1
        mem.forget(kitchen.id)  # forgotten: the rows go too
        assert mem.stats()["sentence_keys"] == 0
        assert mem.store.table("sentence_keys").count_rows() == 0
    with Memory(cfg, encoder) as mem:
        assert mem.stats()["sentence_keys"] == 0


def test_a_superseded_value_leaves_recall_but_keeps_its_rows_as_history(tmp_path, encoder):
    with Memory(load_config(tmp_path), encoder) as mem:
        old = mem.remember("The wifi is called blue-heron. The password is on the fridge.", key="wifi")
        mem.remember("The wifi is called red-kite. The password changed as well.", key="wifi")
        assert old.id not in mem.sentences
        assert mem.stats()["memories_with_sentence_keys"] == 1
        assert mem.store.table("sentence_keys").count_rows() == 2
        mem.forget(key="wifi")  # every value, history included: no vector of them is left
        assert mem.store.table("sentence_keys").count_rows() == 0


def test_a_cold_reader_gets_the_keys_from_the_snapshot(tmp_path, encoder):
    cfg = load_config(tmp_path)
    with Memory(cfg, encoder) as mem:
        mem.remember(KITCHEN)
        mem.remember_many(OTHERS)
        want = [(h.id, h.scores.get("sentence")) for h in mem.recall("What age is Lena now?", k=4)]
        assert mem.save_snapshot()
    with Memory(cfg, encoder, snapshot=True) as mem:
        assert mem.store.read_only
        assert [(h.id, h.scores.get("sentence")) for h in mem.recall("What age is Lena now?", k=4)] == want


def test_memories_given_with_their_vectors_get_no_keys(tmp_path, encoder):
    with Memory(load_config(tmp_path), encoder) as mem:
        mem.remember_many([KITCHEN], vectors=encoder.embed_many([KITCHEN]))
        assert mem.stats()["sentence_keys"] == 0


@pytest.mark.parametrize("bad", [-1, "eight"])
def test_sentence_keys_must_be_a_whole_number(tmp_path, bad):
    with pytest.raises(ConfigError, match="sentence_keys"):
        load_config(tmp_path, overrides={"recall": {"sentence_keys": bad}})


def test_recall_explain_shows_the_sentence_that_matched(tmp_path):
    """The real CLI, as a user runs it: --explain names the sentence key a hit was found by."""
    home = tmp_path / "home"
    for text in [KITCHEN, *OTHERS]:
        assert run_cli(home, "remember", text).returncode == 0
    out = run_cli(home, "recall", "What age is Lena now?", "-k", "2", "--explain")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "We spent the whole weekend" in lines[1]  # the first hit
    assert "sentence=" in lines[2] and "sentence_at" not in lines[2]
    assert lines[3].strip() == "sentence: My sister Lena turned 32 in March."


def test_sleep_gives_keys_to_memories_remembered_without_them(tmp_path, encoder):
    """A store made before sentence keys (here: with them off) gets them at the next sleep run,
    and so do memories given with their vectors; they survive a reopen."""
    with Memory(load_config(tmp_path, overrides={"recall": {"sentence_keys": 0}}), encoder) as mem:
        kitchen = mem.remember(KITCHEN)
        mem.remember_many(OTHERS)
    cfg = load_config(tmp_path)
    with Memory(cfg, encoder) as mem:
        given = mem.remember_many(["The boiler was serviced in March. The engineer left a sticker on it."],
                                  vectors=encoder.embed_many(["The boiler was serviced in March. The engineer left a sticker on it."]))
        assert mem.stats()["sentence_keys"] == 0
        assert mem.recall("What age is Lena now?", k=4)[0].id != kitchen.id
        report = mem.consolidate(paraphrase="off")
        assert report["sentence_keys_added"] == 2
        assert kitchen.id in mem.sentences and given[0] in mem.sentences
        assert mem.recall("What age is Lena now?", k=4)[0].id == kitchen.id
        assert mem.consolidate(paraphrase="off")["sentence_keys_added"] == 0  # nothing left to do
    with Memory(cfg, encoder) as mem:
        assert mem.stats()["sentence_keys"] == 5
