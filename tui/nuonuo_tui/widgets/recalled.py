"""The side panel: the memories injected into the context for the current turn, each with its
score and a badge for the channel that found it (exact / ngram / hopfield / hebbian with hops);
once the reply is done, the notes it drew on (``Grounded``) are marked "✓ used in the reply"."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, ListItem, ListView, Static

from nuonuo.records import Hit

BADGE_STYLE = {"exact": "bold black on green", "ngram": "bold black on yellow",
               "hopfield": "bold white on blue", "hebbian": "bold white on magenta"}


def badge(hit: Hit) -> Text:
    name = hit.source + (f"+{hit.hops}" if hit.source == "hebbian" or hit.hops else "")
    return Text(f" {name} ", style=BADGE_STYLE.get(hit.source, "reverse"))


def one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


USED = "✓ used in the reply"


class HitItem(ListItem):
    def __init__(self, hit: Hit) -> None:
        super().__init__(classes="hit")
        self.hit = hit
        self.share: float | None = None  # set when the reply drew on this note

    def compose(self) -> ComposeResult:
        yield Label(self._head(), classes="hit-head")
        yield Label(one_line(self.hit.text, 160), classes="hit-text")

    def _head(self) -> Text:
        head = Text.assemble(badge(self.hit), " ", (f"{self.hit.score:.2f}", "bold"))
        if self.hit.key:
            head.append(f"  [{self.hit.key}]", style="italic")
        if self.share is not None:
            head.append(f"  {USED} ({self.share:.0%})", style="bold green")
        return head

    def mark_used(self, share: float) -> None:
        self.share = share
        self.add_class("grounded")
        self.query_one(".hit-head", Label).update(self._head())


class RecalledPanel(Vertical):
    """Lists the hits of the last recall; selecting one posts ``RecalledPanel.Selected``."""

    class Selected(Message):
        def __init__(self, hit: Hit) -> None:
            super().__init__()
            self.hit = hit

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hits: list[Hit] = []
        self.title = "Recalled this turn"

    def compose(self) -> ComposeResult:
        yield Static("Recalled this turn", classes="panel-title")
        yield Static("nothing yet — memories injected into the context show here", id="recalled-empty")
        yield ListView(id="recalled-list")

    async def show(self, hits: list[Hit], title: str = "Recalled this turn") -> None:
        self.hits = list(hits)
        self.title = title
        self.query_one(".panel-title", Static).update(f"{title} ({len(hits)})")
        empty = self.query_one("#recalled-empty", Static)
        empty.display = not hits
        empty.update("no memories were relevant to this turn" if not hits else "")
        view = self.query_one("#recalled-list", ListView)
        await view.clear()
        await view.extend(HitItem(h) for h in hits)
        view.index = 0 if hits else None

    def mark_used(self, hits: list[Hit], shares: list[float]) -> list[HitItem]:
        """Mark the listed notes the reply drew on; returns the items marked."""
        share_of = {h.id: s for h, s in zip(hits, shares)}
        marked = []
        for item in self.query(HitItem):
            if item.hit.id in share_of:
                item.mark_used(share_of[item.hit.id])
                marked.append(item)
        return marked

    async def changed(self, memory_id: str, text: str | None = None, forgotten: bool = False) -> None:
        """Keep the panel true after a memory shown in it was edited or forgotten."""
        if not any(h.id == memory_id for h in self.hits):
            return
        hits = [h for h in self.hits if not (forgotten and h.id == memory_id)]
        for h in hits:
            if h.id == memory_id and text is not None:
                h.text = text
        await self.show(hits, self.title)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, HitItem):
            self.post_message(self.Selected(event.item.hit))
