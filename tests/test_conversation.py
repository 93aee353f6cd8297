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


def test_other_metadata_names_for_a_conversation(mem):
    ids = mem.remember_many([{"text": f"thread turn {i}", "metadata": {"thread_id": "t-1", "turn": i}} for i in range(3)])
    conv_ids = mem.remember_many([{"text": f"conversation turn {i}", "metadata": {"conversation_id": 7}} for i in range(2)])
    assert mem.conversations.neighbours(ids[1]) == [ids[0], ids[2]]
    assert mem.conversations.neighbours(conv_ids[0]) == [conv_ids[1]]


def test_turns_naming_no_session_are_neighbours_when_made_close_in_time(mem):
    hour = 3600.0
    a, b = mem.remember_many([{"text": "first said", "timestamp": "2024-05-01T10:00:00", "metadata": {"speaker": "Ana"}},
                              {"text": "said just after", "timestamp": "2024-05-01T10:05:00",
                               "metadata": {"role": "assistant"}}])
    c = mem.remember("said the next day", timestamp="2024-05-02T10:00:00", metadata={"speaker": "Ana"}).id
    note = mem.remember("a note, no speaker", timestamp="2024-05-01T10:06:00").id
    conv = mem.conversations
    assert conv.neighbours(a, gap_s=hour) == [b]
    assert conv.neighbours(b, gap_s=hour) == [a]  # c follows b, but a day later
    assert conv.neighbours(c, gap_s=hour) == []
    assert conv.neighbours(b, gap_s=2 * 86400) == [a, c]
    assert conv.neighbours(a) == []  # gap 0: turns without a session stand alone
    assert conv.neighbours(note, gap_s=hour) == []  # a memory naming no speaker is not a turn
    named = mem.remember("a chat turn", metadata={"session": "s"}, timestamp="2024-05-01T10:02:00").id
    assert named not in conv.neighbours(a, gap_s=hour) and conv.neighbours(named, gap_s=hour) == []


CHAT = [
    "We finally picked a place for the team offsite this year.",
    "The old harbour warehouse in Porto, from the 14th to the 16th.",
    "Nice, I will book the train tickets tonight.",
]
NOTES = [f"Reminder {i}: " + t for i, t in enumerate([
    "water the tomato plants", "the dentist moved to Thursday", "renew the car insurance",
    "Ana likes oat milk in her coffee", "the wifi password is on the fridge", "pay the electricity bill",
    "return the library books", "the bike needs a new chain", "call grandma on Sunday",
    "the team standup starts at nine", "buy batteries for the smoke alarm", "the offsite budget is approved",
])]


def test_a_turn_remembered_without_session_is_found_through_its_neighbour(reopen):
    """A conversation remembered turn by turn with speakers but without session ids: the reply that
    holds the answer shares no word with the question; the turn before it names the topic."""
    mem = reopen()
    for i, note in enumerate(NOTES):  # days apart: no neighbours of each other
        mem.remember(note, timestamp=f"2024-04-{i + 1:02d}T09:00:00")
    chat = [mem.remember(t, timestamp=f"2024-05-01T10:0{i}:00", metadata={"speaker": ["Ana", "Ben"][i % 2]}).id
            for i, t in enumerate(CHAT)]
    question = "Where is the team offsite?"

    def rank(**recall):
        with_cfg = mem.config.recall
        saved = with_cfg.context_gap_minutes
        with_cfg.context_gap_minutes = recall["gap"]
        try:
            hits = mem.recall(question, k=len(NOTES) + len(CHAT))
        finally:
            with_cfg.context_gap_minutes = saved
        ids = [h.id for h in hits]
        return ids.index(chat[1]), hits[ids.index(chat[1])]

    alone, alone_hit = rank(gap=0)
    keyed, keyed_hit = rank(gap=60)
    assert "context" not in alone_hit.scores and "context" in keyed_hit.scores
    assert keyed < alone
    # above it only the turn that names the topic and the two notes that share the question's words
    above = {h.text for h in mem.recall(question, k=keyed)}
    assert above == {CHAT[0], NOTES[9], NOTES[11]}


def test_facts_remembered_together_are_not_a_conversation(mem):
    """A bulk import of unrelated facts (no speaker, no session) gives them no neighbours: a fact
    must not ride on the match of the one stored next to it."""
    ids = mem.remember_many([f"fact {i}" for i in range(3)])
    assert all(mem.conversations.neighbours(i, gap_s=86400.0) == [] for i in ids)


def test_transcript_prefixes_name_the_speaker_and_labels_do_not():
    from nuonuo.turns import text_speaker
    assert text_speaker("Caroline: I went to the support group yesterday") == "Caroline"
    assert text_speaker("Mary Ann Lee: we land at six") == "Mary Ann Lee"
    assert text_speaker("assistant: Sure, here is the recipe") == "assistant"
    assert text_speaker("[1:56 pm on 8 May, 2023] Caroline: I went to the group") == "Caroline"
    assert text_speaker("(D1:3) Melanie: that sounds great") == "Melanie"
    for note in ["Note: buy milk", "Password: hunter2", "TODO: call the bank", "Reminder 3: water the plants",
                 "so: what now", "The plan: leave at nine", "http://example.com", "no colon here",
                 "Ana:no space after the colon", "Monday: dentist at three", "Tomorrow: gym"]:
        assert text_speaker(note) is None, note


def test_a_transcript_remembered_as_plain_lines_is_a_conversation(reopen):
    """A chat pasted as "Name: …" lines, with no metadata at all, is keyed by its neighbours as
    if it had named its speakers: the reply is found through the turn that names the topic."""
    mem = reopen()
    for i, note in enumerate(NOTES):
        mem.remember(note, timestamp=f"2024-04-{i + 1:02d}T09:00:00")
    lines = [f"{['Ana', 'Ben'][i % 2]}: {t}" for i, t in enumerate(CHAT)]
    chat = [mem.remember(t, timestamp=f"2024-05-01T10:0{i}:00").id for i, t in enumerate(lines)]
    assert mem.conversations.neighbours(chat[1], gap_s=3600.0) == [chat[0], chat[2]]
    assert all(mem.conversations.neighbours(h.id, gap_s=86400.0 * 30) == []
               for h in mem.recall("tomato plants dentist insurance", k=3))  # notes stay alone
    hit = {h.id: h for h in mem.recall("Where is the team offsite?", k=5)}.get(chat[1])
    assert hit is not None and "context" in hit.scores


def test_a_speaker_named_only_in_metadata_is_matched_by_name(mem):
    """The n-gram channel reads the speaker's name from the metadata when the text does not say it,
    so a question naming the person prefers their turn over the same words said by another."""
    mem.remember_many(NOTES)
    said = "I finally adopted a dog from the shelter last weekend"
    caroline, melanie = mem.remember_many([
        {"text": said, "metadata": {"speaker": "Caroline", "session": "s1"}, "timestamp": "2024-05-01T10:00:00"},
        {"text": said.replace("a dog", "a cat"), "metadata": {"speaker": "Melanie", "session": "s2"},
         "timestamp": "2024-05-01T10:00:00"}])
    hits = {h.id: h for h in mem.recall("Which pet did Caroline adopt from the shelter?", k=2)}
    assert hits[caroline].scores["ngram"] > hits[melanie].scores["ngram"]
    hits = {h.id: h for h in mem.recall("Which pet did Melanie adopt from the shelter?", k=2)}
    assert hits[melanie].scores["ngram"] > hits[caroline].scores["ngram"]
    assert mem.get(caroline).text == said  # the stored text is unchanged


def test_whose_words_a_question_asks_for():
    from nuonuo.turns import question_party

    cases = {
        "What was my personal best time in the charity 5K run?": "user",
        "when did I start learning the violin": "user",
        "What was the name of the hostel you recommended last time?": "assistant",
        "I'm planning my trip; what did you tell me about the hostel?": "assistant",
        "Remind me of your suggestion for dinner": "assistant",
        "Can you suggest some accessories for my camera?": None,  # a request to "you"
        "When did Caroline go to the support group?": None,  # a named person
        "opening hours of the museum": None,
    }
    for question, party in cases.items():
        assert question_party(question) == party, question


def test_the_party_of_a_turn_is_its_role(mem):
    ids = mem.remember_many([
        {"text": "my sister lives in Lyon", "metadata": {"session": "s", "role": "user"}},
        {"text": "Lyon is lovely", "metadata": {"session": "s", "role": "assistant"}},
        {"text": "assistant: a transcript line", "metadata": {}},
        {"text": "I went to the support group", "metadata": {"session": "s", "speaker": "Caroline"}},
        {"text": "a note of my own"},
    ])
    assert [mem.conversations.party(i) for i in ids] == ["user", "assistant", "assistant", None, None]
    mem.forget(ids[0])
    assert mem.conversations.party(ids[0]) is None


TURNS = [("user", "By the way, my sister Emma moved to Lyon last spring and she loves it there."),
         ("assistant", "How wonderful that your sister Emma moved to Lyon! Lyon is a beautiful city with great food. "
                       "If you visit your sister in Lyon, try the bouchons, walk along the Saône, and see the "
                       "Fourvière basilica. Emma must love living in Lyon."),
         ("user", "Thanks. Can you suggest a good book for a long train ride?"),
         ("assistant", "Sure! For a long train ride I suggest 'The Count of Monte Cristo'.")]


@pytest.mark.parametrize("party_prior", [None, 1.0])  # None: the default ρ
def test_a_question_about_my_own_words_finds_them_before_the_replies_restating_them(reopen, party_prior):
    """The assistant's reply restates the user's fact at length and outranks it on both channels; a
    first-person question asks for the user's own words, a question about what "you suggested" for
    the assistant's ([recall] party_prior; 1 = off, where the reply wins)."""
    mem = reopen(**({"recall": {"party_prior": party_prior}} if party_prior else {}))
    mem.remember_many([{"text": t, "metadata": {"session": "s1", "turn": i, "role": r}} for i, (r, t) in enumerate(TURNS)])
    sister = mem.recall("Where does my sister live?", k=3)
    book = mem.recall("What book did you suggest for my train ride?", k=3)
    if party_prior == 1.0:
        assert sister[0].metadata["role"] == "assistant" and book[0].metadata["role"] == "user"
        assert not any("party_prior" in h.scores for h in sister + book)
        return
    assert sister[0].text == TURNS[0][1] and book[0].text == TURNS[3][1]
    reply = next(h for h in sister if h.metadata["role"] == "assistant")
    assert reply.scores["party_prior"] == mem.config.recall.party_prior < 1  # explained: the factor its score was given


def test_party_prior_outside_zero_to_one_is_a_config_error(nuonuo_home):
    from nuonuo.config import load_config
    from nuonuo.errors import ConfigError

    with pytest.raises(ConfigError, match="party_prior"):
        load_config(nuonuo_home, overrides={"recall": {"party_prior": 1.5}})


def test_which_named_speaker_a_question_asks_about():
    from nuonuo.turns import question_speaker

    people = ["Caroline", "Melanie", "Jon Snow"]
    cases = {
        "When did Caroline go to the LGBTQ support group?": "Caroline",
        "What is melanie's favourite painting?": "Melanie",  # any case, possessive
        "What did Jon buy?": "Jon Snow",                      # a two-word name by its first word
        "Where did Jon Snow travel?": "Jon Snow",
        "What did Caroline and Melanie do together?": None,   # two people: neither
        "What did Carolines do?": None,                       # whole words only
        "When did I go to the gym?": None,
    }
    for question, who in cases.items():
        assert question_speaker(question, people) == who, question
    assert question_speaker("When did Caroline go?", []) is None


TALK = [("Caroline", "I went to a support group for trans people yesterday and it was really powerful."),
        ("Melanie", "Caroline, a support group sounds so powerful! I'm proud of you for going to the support "
                    "group yesterday. Did the support group help you?"),
        ("Caroline", "Thanks Mel! What have you been painting lately?"),
        ("Melanie", "I painted a sunrise over the lake last weekend.")]


@pytest.mark.parametrize("party_prior", [None, 1.0])  # None: the default ρ
@pytest.mark.parametrize("form", ["metadata", "lines"])
def test_a_question_about_a_named_person_finds_their_own_words(reopen, party_prior, form):
    """Between named people: Melanie's reply restates Caroline's support group at length and
    outranks it; a question that names Caroline asks for her own turns, and Melanie's scores ρ·F,
    whether the speaker is in the metadata or leads the line ([recall] party_prior; 1 = off)."""
    mem = reopen(**({"recall": {"party_prior": party_prior}} if party_prior else {}))
    mem.remember_many([{"text": t, "metadata": {"session": "d1", "turn": i, "speaker": who}} if form == "metadata"
                       else {"text": f"{who}: {t}", "metadata": {"session": "d1", "turn": i}}
                       for i, (who, t) in enumerate(TALK)])
    assert sorted(mem.conversations.people("default")) == ["Caroline", "Melanie"]
    hits = mem.recall("When did Caroline go to the support group?", k=3)
    said = [mem.conversations.person(h.id) for h in hits]
    if party_prior == 1.0:
        assert said[0] == "Melanie" and not any("party_prior" in h.scores for h in hits)
        return
    assert said[0] == "Caroline" and TALK[0][1] in hits[0].text
    melanie = next(h for h, who in zip(hits, said) if who == "Melanie")
    assert melanie.scores["party_prior"] == mem.config.recall.party_prior < 1
    assert "party_prior" not in hits[0].scores


def test_the_people_of_a_namespace_follow_forget(mem):
    ids = mem.remember_many([{"text": t, "metadata": {"session": "d1", "speaker": who}} for who, t in TALK[:2]])
    assert sorted(mem.conversations.people("default")) == ["Caroline", "Melanie"]
    assert mem.conversations.people("elsewhere") == []
    mem.forget(ids[1])
    assert mem.conversations.people("default") == ["Caroline"]
    assert mem.conversations.person(ids[1]) is None and mem.conversations.person(ids[0]) == "Caroline"
