"""End to end: the TUI on the real bundled model (SmolLM2-135M via llama.cpp) and the real ChatLoop,
over a real memory. The user types a question; the stored fact is recalled into the side panel
(and the model's context) and the reply streams in."""

from __future__ import annotations

import re

from nuonuo_tui.app import NuonuoApp
from nuonuo_tui.engine import load_engine
from nuonuo_tui.widgets.chat_input import ChatInput
from nuonuo_tui.widgets.messages import ChatMessage
from nuonuo_tui.widgets.recalled import HitItem


async def until(pilot, condition, timeout: float = 120.0) -> None:
    waited = 0.0
    while not condition():
        assert waited < timeout, "timed out waiting for the app"
        await pilot.pause(0.1)
        waited += 0.1


async def test_chat_with_the_real_model_recalls_a_stored_fact(mem, nuonuo_home):
    fact = mem.remember("My sister Lena lives in Porto and works as a marine biologist")
    grounded = "✓ from memory: My sister Lena lives in Porto"  # the label of a reply that drew on it
    app = NuonuoApp(nuonuo_home, engine_loader=lambda: load_engine(nuonuo_home, memory=mem,
                                                                   chat_options={"max_tokens": 48}))
    async with app.run_test(size=(110, 34)) as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        assert app.engine.can_chat and app.engine.model_error is None
        assert "SmolLM2" in app.chat.status.info.model
        prompt = app.chat.query_one(ChatInput)
        prompt.value = "Where does my sister Lena live?"
        await pilot.press("enter")
        await until(pilot, lambda: not app.chat.busy and app.chat.query(ChatMessage).last().role == "assistant"
                    and (app.chat.query(ChatMessage).last()._note == "" or
                         app.chat.query(ChatMessage).last()._note.startswith(grounded)))
        reply = app.chat.query(ChatMessage).last()
        assert reply.text.strip() and reply.body.source.strip()
        recalled = [item.hit for item in app.chat.query(HitItem)]
        assert fact.id in [h.id for h in recalled]
        # the note is marked when the reply repeats 2 of the 5 words it has beyond the question
        drew = {"lives", "porto", "works", "marine", "biologist"} & set(re.findall(r"\w+", reply.text.lower()))
        marked = [item.hit.id for item in app.chat.query(HitItem) if item.has_class("grounded")]
        assert (marked == [fact.id] and reply._note.startswith(grounded)) if len(drew) >= 2 else fact.id not in marked
        assert app.chat.status.info.first_token_ms > 0
        status = app.chat.status.info
        assert status.state == "ready" and 0 < status.context_tokens < status.n_ctx <= 2048
        assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", status.next_sleep)  # the embedded sleep schedule runs
        assert app.chat.loop.turns[-1].role == "assistant" and app.chat.loop.turns[-1].text == reply.text
        sessions = app.engine.list_sessions()
        assert sessions and sessions[0]["id"] == app.chat.loop.session_id
        # a new session: the turns still in the window are written to long-term memory first
        before = mem.stats()["memories"]
        await pilot.press("ctrl+n")
        await until(pilot, lambda: "new session started" in app.chat.query(ChatMessage).last().text)
        assert mem.stats()["memories"] == before + 2
        hits = mem.recall("Where does my sister Lena live?", k=3)
        assert "Where does my sister Lena live?" in [h.text for h in hits]


async def test_a_missing_model_file_gives_the_readable_screen(mem, nuonuo_home, tmp_path):
    from nuonuo_tui.screens.missing import ProblemScreen

    missing = tmp_path / "no-such-model.gguf"
    app = NuonuoApp(nuonuo_home, engine_loader=lambda: load_engine(
        nuonuo_home, memory=mem, chat_options={"model_path": str(missing)}, sleep_scheduler=False))
    async with app.run_test(size=(110, 34)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ProblemScreen))
        assert str(missing) in app.screen.message and not app.engine.can_chat
        assert app.screen.memory_ok
