"""The memory browser: search (through recall), filter by namespace and source, sort by relevance,
recency or importance; open, delete and export memories."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from nuonuo.records import Hit, MemoryRecord
from nuonuo_tui.host import host
from nuonuo_tui.screens.detail import ConfirmScreen
from nuonuo_tui.widgets.recalled import one_line

ALL = "*"
SOURCES = ["hopfield", "ngram", "exact", "hebbian"]
LIST_LIMIT = 2000
SEARCH_K = 50


@dataclass
class Row:
    """One row of the table: a stored memory, with the hit that found it when searching."""

    record: MemoryRecord
    hit: Hit | None = None

    @property
    def source(self) -> str:
        if self.hit is None:
            return "stored"
        return self.hit.source + (f"+{self.hit.hops}" if self.hit.hops else "")


def sort_rows(rows: list[Row], order: str) -> list[Row]:
    if order == "recency":
        return sorted(rows, key=lambda r: r.record.created_at, reverse=True)
    if order == "importance":
        return sorted(rows, key=lambda r: (r.record.importance, r.record.created_at), reverse=True)
    return sorted(rows, key=lambda r: r.hit.score if r.hit else 0.0, reverse=True)  # relevance


def load_rows(memory: Any, query: str, namespace: str, source: str) -> list[Row]:
    """Runs in a thread: the memories matching the filters (recall hits when there is a query)."""
    namespaces = list(memory.namespaces()) if namespace == ALL else [namespace]
    if not query:
        recs = memory.list(None if namespace == ALL else namespace, limit=LIST_LIMIT)
        return [] if source not in (ALL, "stored") else [Row(r) for r in recs]
    rows: list[Row] = []
    for ns in namespaces:
        for hit in memory.recall(query, k=SEARCH_K, namespace=ns):
            if source != ALL and hit.source != source:
                continue
            try:
                rows.append(Row(memory.get(hit.id), hit))
            except Exception:  # forgotten between recall and get
                continue
    return rows


class MemoryBrowser(Screen):
    BINDINGS = [
        Binding("escape", "back", "back to chat"),
        Binding("slash", "focus_search", "search"),
        Binding("d,delete", "delete", "delete"),
        Binding("x", "export", "export"),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []

    def compose(self) -> ComposeResult:
        yield Static("Memories", id="browser-title")
        with Horizontal(id="browser-filters"):
            yield Input(placeholder="search (Enter) — empty lists everything", id="search")
            yield Select([("any namespace", ALL)], value=ALL, allow_blank=False, id="namespace")
            yield Select([("any source", ALL), ("stored (no query)", "stored")] + [(s, s) for s in SOURCES],
                         value=ALL, allow_blank=False, id="source")
            yield Select([("relevance", "relevance"), ("recency", "recency"), ("importance", "importance")],
                         value="recency", allow_blank=False, id="sort")
        yield DataTable(id="memory-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="browser-count")
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("source", "score", "importance", "created (UTC)", "namespace", "text")
        engine = host(self).engine
        if engine is not None:
            names = await asyncio.to_thread(engine.memory.namespaces)
            self.query_one("#namespace", Select).set_options(
                [("any namespace", ALL)] + [(f"{ns} ({n})", ns) for ns, n in names.items()])
        await self.reload()
        table.focus()

    @property
    def query_text(self) -> str:
        return self.query_one("#search", Input).value.strip()

    def selected(self, selector: str) -> str:
        """The value of one of the filters (they allow no blank: ``ALL`` stands for any)."""
        value = self.query_one(selector, Select).value
        return value if isinstance(value, str) else ALL

    async def reload(self) -> None:
        engine = host(self).engine
        if engine is None:
            self.query_one("#browser-count", Static).update("the memory is still loading…")
            return
        ns = self.selected("#namespace")
        source = self.selected("#source")
        rows = await asyncio.to_thread(load_rows, engine.memory, self.query_text, ns, source)
        order = self.query_one("#sort", Select).value
        self.rows = sort_rows(rows, str(order))
        self.render_rows()

    def render_rows(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for row in self.rows:
            rec = row.record
            created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(rec.created_at))
            table.add_row(row.source, f"{row.hit.score:.2f}" if row.hit else "", f"{rec.importance:.2f}",
                          created, rec.namespace, one_line(rec.text, 80), key=rec.id)
        what = f"matching {self.query_text!r}" if self.query_text else "stored"
        noun = "memory" if len(self.rows) == 1 else "memories"
        self.query_one("#browser-count", Static).update(
            f"{len(self.rows)} {noun} {what} · Enter opens · d deletes · x exports · / searches · Esc back")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "search":
            if self.query_text:
                self.query_one("#sort", Select).value = "relevance"
            await self.reload()
            self.query_one(DataTable).focus()

    async def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if self.is_mounted and self.query(DataTable):
            await self.reload()

    def current(self) -> Row | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        row = self.current()
        if row is not None:
            host(self).open_detail(row.record.id, row.hit, after=self.reload)

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    async def action_reload(self) -> None:
        await self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_delete(self) -> None:
        row = self.current()
        if row is None:
            return

        engine = host(self).engine
        if engine is None:
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await asyncio.to_thread(engine.memory.forget, row.record.id)
                self.notify(f"forgot {one_line(row.record.text, 40)}")
                await self.reload()

        self.app.push_screen(ConfirmScreen(f"Forget this memory?\n\n{one_line(row.record.text, 200)}"), answered)

    async def action_export(self) -> None:
        engine = host(self).engine
        if engine is None:
            return
        ns = self.selected("#namespace")
        folder = host(self).home / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"memories-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
        n = await asyncio.to_thread(engine.memory.export, path, None if ns == ALL else ns)
        self.notify(f"exported {n} memor{'y' if n == 1 else 'ies'} to {path}", title="export", timeout=8)
