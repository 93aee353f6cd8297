"""The Engram store through the real Memory (real encoder, real LanceDB in a temp home): keyed
facts, the n-gram channel, the gate, fusion sources, persistence and stats."""

from __future__ import annotations

import random
import time

import pytest

from nuonuo.config import load_config
from nuonuo.errors import NotFound
from nuonuo.memory import Memory

GYM_TOPICS = ["swimming laps", "the rowing machine", "yoga class", "spin class", "weight training",
              "the sauna", "stretching", "a new trainer", "the treadmill", "boxing drills"]


def gym_notes(n: int = 40, seed: int = 3) -> tuple[list[str], list[str]]:
    """Long, nearly identical notes that differ only in a rare locker code: dense vectors blur them."""
    rng = random.Random(seed)
    codes = ["".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5)) + str(rng.randint(2, 9))
             for _ in range(n)]
    texts = [f"Today at the gym I spent most of the time on {GYM_TOPICS[i % 10]}, then chatted with the front "
             f"desk about opening hours and the holiday schedule. They gave me a temporary locker with code {c} "
             f"because my usual one was broken. Afterwards I had a smoothie and went home tired."
             for i, c in enumerate(codes)]
    return codes, texts


def test_keyed_facts_supersede_keep_history_and_forget(mem):
    first = mem.remember("Europe/Lisbon", key="user.timezone", timestamp="2024-01-01T00:00:00")
    second = mem.remember("America/New_York", key="User Timezone", timestamp="2024-06-01T00:00:00")
    for variant in ("user  timezone", "USER_TIMEZONE", "user-timezone", "ｕｓｅｒ ｔｉｍｅｚｏｎｅ"):
        assert mem.lookup(variant).id == second.id
        hits = mem.recall(key=variant)
        assert [h.text for h in hits] == ["America/New_York"] and hits[0].source == "exact"
    assert [r.text for r in mem.history("user.timezone")] == ["America/New_York", "Europe/Lisbon"]
    assert mem.get(first.id).status == "superseded"
    assert mem.lookup("user timezone", namespace="other") is None
    assert mem.lookup("user") is None
    assert mem.forget(key="user timezone") == 2
    assert mem.lookup("user.timezone") is None and mem.recall(key="user.timezone") == []
    with pytest.raises(NotFound):
        mem.forget(key="user.timezone")
    st = mem.stats()["engram"]
    assert st["keys"] == 0 and st["heads"] == 4


def test_keyed_fact_ranks_first_for_a_question(mem):
    mem.remember_many(["I had pasta for dinner", "My sister lives in Porto", "The meeting is on Friday",
                       "I started learning the cello", "Our dog is called Biscuit"])
    mem.remember("America/New_York", key="user.timezone")
    hits = mem.recall("what timezone am I in?", k=3)
    assert hits[0].text == "America/New_York"
    assert hits[0].source == "exact" and "exact" in hits[0].scores and "gate" in hits[0].scores


def test_ngram_channel_finds_rare_codes_dense_misses(tmp_path, encoder):
    """Each note by the vector of its whole text (``sentence_keys = 0``): MiniLM blurs the codes and
    the n-gram channel finds them. Vectored by the mean of their sentences (the default), the
    code's own sentence keeps it apart, and dense alone finds more."""
    codes, texts = gym_notes(24)
    misses: dict[str, int] = {}
    for name, recall in [("text", {"sentence_keys": 0}), ("sentences", {})]:
        with Memory(load_config(tmp_path / name, overrides={"recall": recall}), encoder) as mem:
            mem.remember_many(texts)

            def missed() -> int:
                return sum(mem.recall(f"which day did I get locker {c}?", k=3)[0].text != t for c, t in zip(codes, texts))

            mem.config.engram.ngram = mem.config.engram.exact = False
            misses[name] = missed()
            mem.config.engram.ngram = True
            assert missed() == 0
            hit = mem.recall(f"locker {codes[5]}", k=1)[0]
            assert hit.text == texts[5] and hit.scores["ngram"] > 0 and hit.scores["ngram_raw"] > 0
    assert misses["text"] >= 5  # MiniLM blurs the codes (measured: 17 of 40 at n = 40)
    assert misses["sentences"] < misses["text"]


def test_gate_keeps_a_stray_ngram_out(mem):
    mem.remember_many(["My flight to Lisbon leaves Tuesday at 7am from gate B12",
                       "I booked a hotel near the Alfama district for the Lisbon trip",
                       "The knitting pattern ZQ17 uses two skeins of merino wool",
                       "Dinner with Ana on Friday", "I need to renew my passport"])
    query = "when does my flight to Lisbon leave? booking ref ZQ17"
    qv = mem.encoder.embed(query)
    stray = next(r.id for r in mem.records() if r.text.startswith("The knitting"))
    mem.config.engram.ngram_gate = False  # the default: n-gram hits join fusion ungated
    ungated = mem.engram.ngram_channel(mem, query, qv, "default", None, 10)
    assert stray in ungated and "gate" not in ungated[stray]  # a lexical hit on the rare "zq17" …
    mem.config.engram.ngram_gate = True  # … that the gate rejects: low cosine, one weak match
    assert stray not in mem.engram.ngram_channel(mem, query, qv, "default", None, 10)
    for fusion, weight in (("sum", 4.0), ("rrf", 1.0)):
        mem.config.engram.fusion, mem.config.engram.ngram_weight = fusion, weight
        gated = mem.recall(query, k=3)
        assert gated[0].text.startswith("My flight to Lisbon")
        assert all(h.id != stray for h in gated)
        assert gated[0].scores["gate"] >= mem.config.engram.gate_threshold


def test_fusion_sources_and_scores(mem):
    codes, texts = gym_notes(12)
    mem.remember_many(texts + ["I love hiking in the mountains with my sister"])
    mem.remember("Q937", key="einstein wikidata id")
    semantic = mem.recall("outdoor walks with family", k=3)
    assert semantic[0].source == "hopfield" and "hiking" in semantic[0].text
    assert "ngram" not in semantic[0].scores
    mem.config.engram.fusion = "sum"
    mem.config.engram.ngram_weight = 4.0
    lexical = mem.recall(codes[3], k=2)
    assert lexical[0].text == texts[3] and lexical[0].source == "ngram"
    assert {"ngram", "cosine"} <= set(lexical[0].scores)
    exact = mem.recall("what is the wikidata id of einstein?", k=1)[0]
    assert exact.text == "Q937" and exact.source == "exact" and exact.scores["exact"] == pytest.approx(1.0)
    assert all(0.0 <= h.score <= 1.0 for h in semantic + lexical + [exact])
    mem.config.engram.fusion = "rrf"
    assert mem.recall(codes[3], k=1)[0].text == texts[3]


def test_a_score_sum_gives_what_only_the_ngram_channel_found_its_cosine(mem):
    """The default fusion is a weighted mean of the channels' scores, so a memory the dense stage 1
    did not propose is scored by its cosine too, not by 0 (a rank fusion leaves it out of that list)."""
    from nuonuo.recall import gather

    codes, texts = gym_notes(12)
    mem.remember_many(texts + ["I love hiking in the mountains with my sister"])
    query = f"hiking in the mountains with my sister, locker {codes[3]}"
    qv = mem.encoder.embed(query)
    target = next(r.id for r in mem.records() if r.text == texts[3])
    mem.config.recall.candidates = 1  # stage 1 proposes the hiking note only
    assert mem.config.engram.fusion == "sum" and mem.config.engram.ngram_weight == 1.0  # the defaults
    channels = gather(mem, query, qv, "default", None, k=1)
    assert list(channels["hopfield"])[0] != target and target in channels["ngram"]
    dense = channels["hopfield"][target]
    assert dense["cosine"] == pytest.approx(float(mem.vector(target) @ qv), abs=1e-5)
    assert dense["hopfield"] >= dense["cosine"]  # or its best sentence's, if higher (sentence_match)
    hit = next(h for h in mem.recall(query, k=13) if h.id == target)
    w = mem.config.engram.ngram_weight  # F(x) = (max(0, h(x)) + w · s_ngram(x)) / (1 + w)
    assert hit.score == pytest.approx((max(0.0, hit.scores["hopfield"]) + w * hit.scores["ngram"]) / (1 + w), abs=1e-6)
    mem.config.engram.fusion = "rrf"
    assert target not in gather(mem, query, qv, "default", None, k=1)["hopfield"]


def test_a_paraphrase_only_the_dense_channel_finds_is_still_sent_to_the_chat(mem):
    """Under the score sum a memory that shares no word with the message fuses to about half its
    cosine (the n-gram channel, of equal weight, found other memories): the chat's ``min_score``
    must let through what ``MIN_RELEVANCE`` (on the cosine) lets through."""
    from nuonuo.chat.context import MIN_RELEVANCE, select_notes

    mem.remember_many(["My dog is called Biscuit.", "Her name was Ana and she lived in Lyon.",
                       "The meeting moved to Friday."])
    hits = mem.recall("what's the name of my puppy?", k=3)
    dog = next(h for h in hits if "Biscuit" in h.text)
    assert "ngram" not in dog.scores and dog.scores["cosine"] >= MIN_RELEVANCE  # a paraphrase: dense only
    assert dog.score < 0.3  # (max(0, h) + 0) / (1 + w_ng): below the chat's old min_score …
    assert [h.text for h in select_notes(hits, mem.config.chat.min_score, set())] == [dog.text]  # … sent now


def test_at_hides_later_memories_from_hash_channels(mem):
    mem.remember("Locker code ZETA42 for the pool", timestamp="2024-05-01T00:00:00")
    mem.remember("Wifi password is ZETA42 at the cabin", key="cabin wifi", timestamp="2024-07-01T00:00:00")
    hits = mem.recall("ZETA42 cabin wifi", k=5, at="2024-06-01T00:00:00")
    assert [h.text for h in hits] == ["Locker code ZETA42 for the pool"]


def test_tables_rebuilt_on_reopen(mem, reopen):
    codes, texts = gym_notes(100)  # more than the delta: a bulk-built CSR
    mem.remember_many(texts)
    mem.remember("Europe/Lisbon", key="user.timezone")
    mem.remember("America/New_York", key="user timezone")
    mem.forget(mem.recall(f"locker {codes[7]}", k=1)[0].id)
    before = mem.stats()["engram"]
    mem.close()
    again = reopen()
    st = again.stats()["engram"]
    assert st["keys"] == before["keys"] == 1
    assert st["ngram_docs"] == before["ngram_docs"] == 100  # 100 notes + 1 key value − 1 forgotten
    assert again.lookup("USER.TIMEZONE").text == "America/New_York"
    assert again.recall(f"locker {codes[8]}", k=1)[0].text == texts[8]
    assert all(h.text != texts[7] for h in again.recall(f"locker {codes[7]}", k=5))


def test_stats_report_tables(mem):
    mem.remember_many([f"note {i} about topic {i % 7}" for i in range(300)])
    mem.remember_many([{"text": f"value {i}", "key": f"setting.{i}"} for i in range(50)])
    st = mem.stats()["engram"]
    assert st["keys"] == 50 and st["key_buckets"] >= 100 and 0 < st["key_load_factor"] <= 0.5
    assert st["key_collisions"] >= 0 and st["key_bytes"] > 0
    assert st["ngram_docs"] == 350 and st["ngram_ngrams"] > 300 and 0 < st["ngram_load_factor"] <= 0.5
    assert st["ngram_collisions"] >= 0 and st["ngram_bytes"] > 0


def test_ngram_index_rebuild_is_fast(mem):
    from nuonuo.engram.hashing import TokenHasher
    from nuonuo.engram.ngram import NgramIndex, NgramParams

    codes, texts = gym_notes(500)
    index = NgramIndex(NgramParams(), TokenHasher())
    t0 = time.perf_counter()
    index.add([str(i) for i in range(500)], texts)
    assert time.perf_counter() - t0 < 2.0  # ~20 ms alone on this machine; generous for a shared CI box
    ids, raw, strength, _ = index.search(f"the locker with code {codes[10]}", 5)
    assert ids[0] == "10" and (strength <= 1.0 + 1e-9).all() and strength[0] > 0.3
    assert index.search("temporary locker", 5)[0] == []  # in every note: over max_df, no evidence


def test_a_labelled_log_is_not_a_dialogue(mem):
    """Notes that all open with the same label ("Gym: …") look like transcript lines of one speaker;
    they are not each other's context, so each rare code still finds its own note first."""
    codes, texts = gym_notes(24)
    texts = [f"Gym: {t}" for t in texts]
    ids = mem.remember_many(texts)
    assert all(mem.conversations.neighbours(m, gap_s=3600.0) == [] for m in ids)
    assert sum(mem.recall(f"which day did I get locker {c}?", k=3)[0].text != t for c, t in zip(codes, texts)) == 0
    ana, ben = mem.remember_many(["Ana: the locker code is on the fridge", "Ben: thanks, found it"])
    assert mem.conversations.neighbours(ben, gap_s=3600.0) == [ana]  # two speakers: a dialogue
