"""The chat while a daemon serves the home: ``ChatLoop`` on the daemon's client, with the real bundled
SmolLM2-135M GGUF. Its evicted turns become memories in the daemon, so ``nuonuo recall`` in another
process finds them while the chat is still open; its session is kept by the daemon, so another
client lists and resumes it; ``nuonuo chat --plain`` and the TUI's engine start against the daemon
instead of failing on the store lock."""

from __future__ import annotations

import asyncio
import json

import pytest

import daemon_support as ds
from nuonuo.chat import ChatLoop, Evicted, Recalled, load_chat_model
from nuonuo.config import ChatConfig
from nuonuo.daemon.client import Client
from nuonuo.errors import NotFound

SMALL = dict(n_ctx=200, max_tokens=12, n_threads=1, temperature=0.0, memory_block_tokens=60, namespace="chat")
FACT = "My gym locker code is 4471."
TALK = ["How do bees make honey?", "Why is the sky blue?", "What makes bread rise?",
        "How do solar panels work?", "Why do cats purr?", "What is a haiku?"]


@pytest.fixture(scope="module")
def model():
    return load_chat_model(ChatConfig(**{**SMALL, "n_ctx": 320}))  # the loop uses 200 of it


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("chat-daemon") / "home"
    ds.write_config(home, """
        [store]
        lock_timeout_s = 0.5
        [chat]
        n_threads = 1
        n_ctx = 512
    """)
    ds.start(home)
    yield home
    ds.stop(home)


def run(loop: ChatLoop, text: str) -> list:
    async def collect():
        return [ev async for ev in loop.send(text)]

    return asyncio.run(collect())


def test_a_chat_through_the_daemon_is_recalled_by_another_process(home, model):
    client = ds.client(home)
    assert isinstance(client, Client)
    loop = ChatLoop(client, model, ChatConfig(**SMALL))
    run(loop, FACT)
    evicted: list[Evicted] = []
    for text in TALK:
        evicted += [ev for ev in run(loop, text) if isinstance(ev, Evicted)]
        if any(t.text == FACT for ev in evicted for t in ev.turns):
            break
    assert evicted, "the window never slid"
    fact_id = evicted[0].memory_ids[0]
    assert evicted[0].turns[0].text == FACT and fact_id

    # another process, while the chat is still open: the CLI goes through the daemon
    r = ds.run_cli(home, "recall", "what is my gym locker code?", "--ns", "chat", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert fact_id in [h["id"] for h in hits] and any(h["text"] == FACT for h in hits), hits
    assert hits[[h["id"] for h in hits].index(fact_id)]["metadata"]["session"] == loop.session_id

    # and the chat itself brings it back
    recalled = [ev for ev in run(loop, "What is my gym locker code?") if isinstance(ev, Recalled)][0]
    assert fact_id in [h.id for h in recalled.hits] and "4471" in loop.last_block

    # the session lives in the daemon: another client lists it and resumes it
    other = ds.client(home)
    listed = {s["id"]: s for s in other.sessions.list()}
    assert listed[loop.session_id]["turns"] == len(loop.turns) and listed[loop.session_id]["title"] == FACT
    resumed = ChatLoop.resume(other, model, ChatConfig(**SMALL), loop.session_id)
    assert [(t.role, t.text, t.memory_id) for t in resumed.turns] == [(t.role, t.text, t.memory_id)
                                                                     for t in loop.turns]
    assert [t.index for t in resumed.window] == [t.index for t in loop.window]
    r = ds.run_cli(home, "chat", "--list", "--json")
    assert r.returncode == 0 and loop.session_id in {s["id"] for s in json.loads(r.stdout)}, r.stderr
    with pytest.raises(NotFound):
        ChatLoop.resume(other, model, ChatConfig(**SMALL), "no-such-session")
    client.close(), other.close()


def test_nuonuo_chat_plain_runs_while_the_daemon_holds_the_store(home):
    r = ds.run_cli(home, "chat", "--plain", "--ns", "plain", "--max-tokens", "6",
                   input="My bike is the green one.\n/quit\n", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "session " in r.stderr and [line for line in r.stdout.splitlines() if line.strip()]
    # the session ended: its window went to memory, in the daemon
    r = ds.run_cli(home, "recall", "which bike is mine?", "--ns", "plain", "--json")
    assert r.returncode == 0, r.stderr
    assert "My bike is the green one." in [h["text"] for h in json.loads(r.stdout)]


def test_the_tui_engine_chats_through_the_daemon(home):
    from nuonuo_tui.engine import load_engine

    engine = load_engine(home, chat_options={"namespace": "tui", "max_tokens": 6})
    try:
        assert engine.mode == "daemon" and isinstance(engine.memory, Client)
        assert engine.can_chat and engine.model_error is None
        loop = engine.start_loop()
        assert loop.memory is engine.memory
        done = run(loop, "Hello from the TUI.")[-1]
        assert done.__class__.__name__ == "Done"
        assert loop.session_id in {s["id"] for s in engine.list_sessions()}
    finally:
        engine.close()
