"""The sleep screen: the last consolidation report as a table, and a chart of the memory over time
(memories stored per day, cumulative, and the W norm before/after when the report has it)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from nuonuo.errors import NuonuoError
from nuonuo_tui.host import host

DAY = 86_400.0


def report_dict(report: Any) -> dict[str, Any]:
    """A consolidation report (dataclass, object with ``to_dict``, or dict) as a flat dict."""
    if report is None:
        return {}
    if isinstance(report, dict):
        data = report
    elif callable(getattr(report, "to_dict", None)):
        data = report.to_dict()
    elif dataclasses.is_dataclass(report) and not isinstance(report, type):
        data = dataclasses.asdict(report)
    else:
        data = dict(vars(report))
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def last_report_from_stats(stats: dict[str, Any]) -> Any:
    raw = stats.get("sleep")
    sleep: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return sleep.get("last_report") or sleep.get("last_run") or stats.get("last_report")


TIME_KEYS = ("started", "finished", "time", "_at")


def format_value(value: Any, key: str = "") -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1e9 and key.endswith(TIME_KEYS):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value[:8]) + (" …" if len(value) > 8 else "")
    return str(value)


def growth_series(created_at: list[float], now: float, buckets: int = 30) -> tuple[list[int], list[int], str]:
    """Cumulative memory count at the end of each hour (young stores) or day, from the first memory
    to ``now``: x = units ago (…, −1, 0), y = memories created up to then; and the unit's name."""
    span = now - min(created_at) if created_at else 0.0
    unit, size = ("hours", 3600.0) if span < 2 * DAY else ("days", DAY)
    n = min(buckets, max(2, math.ceil(span / size) + 1))
    xs = list(range(-n + 1, 1))
    stamps = sorted(created_at)
    ys, i = [], 0
    for x in xs:
        edge = now + x * size
        while i < len(stamps) and stamps[i] <= edge:
            i += 1
        ys.append(i)
    return xs, ys, unit


def norm_pair(report: dict[str, Any]) -> tuple[float, float] | None:
    before = [v for k, v in report.items() if "norm" in k and "before" in k and isinstance(v, (int, float))]
    after = [v for k, v in report.items() if "norm" in k and "after" in k and isinstance(v, (int, float))]
    return (float(before[0]), float(after[0])) if before and after else None


class SleepScreen(Screen):
    BINDINGS = [Binding("escape", "back", "back to chat"), Binding("s", "run", "sleep now")]

    def __init__(self, run_now: bool = False, now: float | None = None) -> None:
        super().__init__()
        self.run_now = run_now
        self.now = now  # fixed "now" for reproducible charts in tests
        self.report: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static("Sleep consolidation", id="sleep-title")
        with Horizontal(id="sleep-body"):
            with VerticalScroll(id="sleep-report-box"):
                yield Static("", id="sleep-report")
            yield PlotextPlot(id="sleep-chart")
        yield Static("", id="sleep-state")
        yield Footer()

    async def on_mount(self) -> None:
        if self.run_now:
            await self.action_run()
        else:
            await self.show_last()

    @property
    def memory(self) -> Any:
        engine = host(self).engine
        return engine.memory if engine is not None else None

    async def show_last(self) -> None:
        if self.memory is None:
            self.set_state("the memory is still loading…")
            return
        stats = await asyncio.to_thread(self.memory.stats)
        report = report_dict(host(self).last_sleep_report or last_report_from_stats(stats))
        self.show_report(report, "last run" if report else "no sleep run yet: press s to run one now")
        await self.draw_chart()

    async def action_run(self) -> None:
        if self.memory is None:
            self.set_state("the memory is still loading…")
            return
        self.set_state("[b yellow]sleeping…[/] replay · homeostasis · prune · decay · merge · compact")
        started = time.perf_counter()
        try:
            report = await asyncio.to_thread(self.memory.consolidate)
        except NuonuoError as exc:
            self.set_state(f"[b red]sleep failed:[/] {escape(exc.message)}")
            return
        except AttributeError:
            self.set_state("[b red]this memory backend has no consolidation yet[/]")
            return
        host(self).last_sleep_report = report
        self.show_report(report_dict(report), f"finished in {time.perf_counter() - started:.1f} s")
        await self.draw_chart()

    def set_state(self, text: str) -> None:
        self.query_one("#sleep-state", Static).update(text)

    def show_report(self, report: dict[str, Any], state: str) -> None:
        self.report = report
        if report:
            width = max(len(k) for k in report)
            lines = [f"[b]{escape(k):>{width}}[/b]  {escape(format_value(v, k))}" for k, v in report.items()]
            self.query_one("#sleep-report", Static).update("\n".join(lines))
        else:
            self.query_one("#sleep-report", Static).update("No consolidation report yet.")
        self.set_state(state)

    async def draw_chart(self) -> None:
        recs = await asyncio.to_thread(self.memory.list, None, 10**9)
        now = self.now if self.now is not None else time.time()
        xs, ys, unit = growth_series([r.created_at for r in recs], now)
        chart = self.query_one(PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"memories stored, by {unit[:-1]}")
        plt.xlabel(f"{unit} ago")
        plt.plot(xs, ys, marker="braille", label="memories")
        top = max(ys) if ys else 0
        step = max(1, math.ceil(top / 5))
        plt.yticks(list(range(0, top + step, step)))
        norms = norm_pair(self.report)
        if norms is not None:
            plt.title(f"memories stored · W norm {norms[0]:.3g} → {norms[1]:.3g}")
        chart.refresh()

    def action_back(self) -> None:
        self.app.pop_screen()
