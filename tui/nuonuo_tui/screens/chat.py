"""The chat screen: messages, the streaming reply, the recalled-memories panel, the input with
slash commands, and the status bar.

One turn = one async worker consuming ``loop.send(text)``: Recalled → side panel, Token → the
reply's Markdown stream (the first one sets the status bar's time to first token), Grounded → the
notes the reply drew on are marked in the panel and named under the reply, Evicted/Usage → status
bar, Done/ChatError → end of turn. A message typed
while the model loads or a reply streams is queued (shown as "queued") and sent in order."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from collections import deque
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from nuonuo.chat.events import ChatError, Done, Evicted, Grounded, Recalled, Token, Usage
from nuonuo.errors import NuonuoError
from nuonuo_tui import commands
from nuonuo_tui.host import host
from nuonuo_tui.widgets.chat_input import ChatInput
from nuonuo_tui.widgets.messages import ChatMessage
from nuonuo_tui.widgets.recalled import RecalledPanel, one_line
from nuonuo_tui.widgets.status import StatusBar

WELCOME = ("Hi — I'm a small local model with a long-term memory. What you tell me is remembered, and "
           "what slides out of my context comes back when it's relevant. Type `/help` for commands.")


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "stop reply"),
        Binding("f2", "memories", "memories"),
        Binding("f3", "sleep", "sleep"),
        Binding("ctrl+r", "toggle_panel", "recalled panel"),
        Binding("ctrl+n", "new_session", "new session"),
        Binding("f1", "help", "help"),
    ]

    def __init__(self, history_file: Path | None = None) -> None:
        super().__init__()
        self.history_file = history_file
        self.loop: Any = None
        self.pending: deque[tuple[str, ChatMessage]] = deque()
        self.pending_commands: list[tuple[commands.Parsed, ChatMessage]] = []  # typed while loading
        self.busy = False
        self.reply: ChatMessage | None = None

    # --- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield VerticalScroll(id="chat-log")
            yield RecalledPanel(id="recalled")
        yield ChatInput(self.history_file, id="prompt", placeholder="Message, or /help for commands")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.log_view.anchor()
        await self.add_message("system", WELCOME)
        self.query_one(ChatInput).focus()

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def panel(self) -> RecalledPanel:
        return self.query_one(RecalledPanel)

    @property
    def engine(self) -> Any:
        return host(self).engine

    async def add_message(self, role: str, text: str, note: str = "") -> ChatMessage:
        msg = ChatMessage(role, text, note)
        await self.log_view.mount(msg)
        return msg

    # --- the engine arrives ---------------------------------------------------------------------
    async def engine_ready(self, engine: Any) -> None:
        self.status.set(model=engine.model.name, n_ctx=engine.model.n_ctx, mode=engine.mode)
        if engine.can_chat:
            self.loop = await asyncio.to_thread(engine.start_loop)
            self.status.set(state="ready", evicted=self.loop.evicted_total)
            if self.loop.turns:
                await self.show_turns(self.loop)
        else:
            self.status.set(state="no-model", model="none")
        self.refresh_memory_status()
        queued, self.pending_commands = self.pending_commands, []
        for cmd, note in queued:
            note.set_note("")
            await self.run_command(cmd)
        await self.drain()

    def refresh_memory_status(self) -> None:
        self.run_worker(self._refresh_memory_status(), group="status", exclusive=True)

    async def _refresh_memory_status(self) -> None:
        if self.engine is None:
            return
        try:
            stats = await asyncio.to_thread(self.engine.memory.stats)
        except NuonuoError:
            return
        self.status.set(memories=int(stats.get("memories", 0)), next_sleep=next_sleep_text(stats))

    # --- input ----------------------------------------------------------------------------------
    async def on_input_submitted(self, event: ChatInput.Submitted) -> None:
        event.stop()
        prompt = self.query_one(ChatInput)
        text = event.value
        if not text.strip():
            return
        prompt.value = ""
        prompt.remember_line(text)
        try:
            parsed = commands.parse(text.strip())
        except commands.UnknownCommand as exc:
            await self.add_message("error", str(exc))
            return
        if parsed is not None:
            await self.run_command(parsed)
            return
        if text.startswith("//"):
            text = text[1:]
        await self.submit_chat(text)

    async def submit_chat(self, text: str) -> None:
        msg = await self.add_message("user", text)
        if self.loop is None or self.busy or self.pending:
            waiting = "queued — the model is loading" if self.engine is None else (
                "queued — waiting for a chat model" if not self.engine.can_chat else "queued")
            msg.set_note(waiting)
            self.pending.append((text, msg))
            self.status.set(queued=len(self.pending))
            return
        self.start_turn(text, msg)

    async def drain(self) -> None:
        if self.pending and self.loop is not None and not self.busy:
            text, msg = self.pending.popleft()
            self.status.set(queued=len(self.pending))
            msg.set_note("")
            self.start_turn(text, msg)

    # --- one turn -------------------------------------------------------------------------------
    def start_turn(self, text: str, user_msg: ChatMessage) -> None:
        self.busy = True
        self.status.set(state="generating")
        self.run_worker(self.turn(text, user_msg), group="turn")

    async def turn(self, text: str, user_msg: ChatMessage | None = None) -> None:
        log = self.log_view
        if user_msg is not None and log.children and log.children[-1] is not user_msg:
            log.move_child(user_msg, after=log.children[-1])  # a queued message: its reply follows it
        reply = self.reply = await self.add_message("assistant", "", note="thinking…")
        got_token = False
        grounded = ""
        started = time.perf_counter()
        try:
            async for event in self.loop.send(text):
                if isinstance(event, Recalled):
                    await self.panel.show(event.hits)
                elif isinstance(event, Token):
                    if not got_token:
                        got_token = True
                        reply.set_note("")
                        self.status.set(first_token_ms=(time.perf_counter() - started) * 1000)
                    await reply.write(event.text)
                elif isinstance(event, Grounded):
                    self.panel.mark_used(event.hits, event.shares)
                    grounded = grounded_note(event)
                elif isinstance(event, Evicted):
                    self.status.set(evicted=self.loop.evicted_total)
                    n = len(event.turns)
                    self.notify(f"{n} turn{'s' if n != 1 else ''} left the context and became memories",
                                title="consolidated", timeout=3)
                elif isinstance(event, Usage):
                    self.status.set(context_tokens=event.context_tokens, n_ctx=event.n_ctx,
                                    evicted=event.evicted_total)
                elif isinstance(event, Done):
                    await reply.finish(event.text or ("*(stopped before the reply began)*" if event.cancelled else
                                                      "*(the model gave an empty reply)*"))
                    reply.set_note("stopped" if event.cancelled else grounded)
                elif isinstance(event, ChatError):
                    await reply.finish()
                    reply.set_note("failed")
                    await self.add_message("error", event.message)
        except NuonuoError as exc:
            await reply.finish()
            reply.set_note("failed")
            await self.add_message("error", exc.message)
        except asyncio.CancelledError:  # the app is closing: stop the model too
            self.loop.cancel()
            raise
        finally:
            self.reply = None
            self.busy = False
            if self.is_attached:
                self.status.set(state="ready")
                self.refresh_memory_status()
                await self.drain()

    def action_stop(self) -> None:
        self.query_one(ChatInput).focus()  # Esc also brings the focus back from the panel
        if self.busy and self.loop is not None:
            self.loop.cancel()
            if self.reply is not None:
                self.reply.set_note("stopping…")

    # --- slash commands -------------------------------------------------------------------------
    async def run_command(self, cmd: commands.Parsed) -> None:
        handler = getattr(self, f"cmd_{cmd.name}")
        if cmd.name not in {"help", "memories", "sleep", "quit"} and self.engine is None:
            note = await self.add_message("system", f"/{cmd.name} will run as soon as the memory is loaded", note="queued")
            self.pending_commands.append((cmd, note))
            return
        try:
            await handler(cmd.arg)
        except NuonuoError as exc:
            await self.add_message("error", exc.message)

    async def cmd_quit(self, arg: str) -> None:
        await self.app.action_quit()

    async def cmd_help(self, arg: str) -> None:
        await self.add_message("system", commands.help_markdown())

    async def cmd_remember(self, arg: str) -> None:
        if not arg:
            await self.add_message("error", "usage: /remember TEXT")
            return
        rec = await asyncio.to_thread(self.engine.memory.remember, arg)
        await self.add_message("system", f"remembered `{rec.id[:8]}`: {one_line(rec.text, 200)}")
        self.refresh_memory_status()

    async def cmd_recall(self, arg: str) -> None:
        if not arg:
            await self.add_message("error", "usage: /recall QUERY")
            return
        hits = await asyncio.to_thread(self.engine.memory.recall, arg)
        await self.panel.show(hits, title="/recall")
        self.panel.display = True
        if hits:
            lines = "\n".join(f"{i}. `{h.source}` {h.score:.2f} — {one_line(h.text, 100)}"
                              for i, h in enumerate(hits[:5], start=1))
            noun = "memory" if len(hits) == 1 else "memories"
            await self.add_message("system", f"{len(hits)} {noun} for *{escape(arg)}* (in the panel →, Tab to open):\n\n{lines}")
        else:
            await self.add_message("system", f"no memories for *{escape(arg)}*")

    async def cmd_forget(self, arg: str) -> None:
        if not arg:
            await self.add_message("error", "usage: /forget ID (an id or the first characters of one)")
            return
        memory_id = await asyncio.to_thread(resolve_id, self.engine.memory, arg)
        rec = await asyncio.to_thread(self.engine.memory.get, memory_id)
        await asyncio.to_thread(self.engine.memory.forget, memory_id)
        await self.add_message("system", f"forgot `{memory_id[:8]}`: {one_line(rec.text, 200)}")
        self.refresh_memory_status()

    async def cmd_sleep(self, arg: str) -> None:
        host(self).action_sleep(run_now=True)

    async def cmd_memories(self, arg: str) -> None:
        host(self).action_memories()

    async def cmd_model(self, arg: str) -> None:
        if self.engine is None:
            await self.add_message("system", "the model is still loading")
            return
        m = self.engine.model
        if not self.engine.can_chat:
            await self.add_message("system", f"no chat model: {self.engine.model_error}")
            return
        await self.add_message("system", f"model **{m.name}** · context {m.n_ctx} tokens · "
                                         f"{self.engine.mode}\n\n`{m.path}`")

    async def cmd_new(self, arg: str) -> None:
        await self.switch_session(None)

    async def cmd_resume(self, arg: str) -> None:
        sessions = await asyncio.to_thread(self.engine.list_sessions)
        if not arg:
            if not sessions:
                await self.add_message("system", "no saved chat sessions yet")
                return
            rows = "\n".join(f"| `{s['id'][:8]}` | {escape(one_line(str(s.get('title') or ''), 50))} | "
                             f"{s.get('turns', 0)} | {when(s.get('updated_at'))} |" for s in sessions[:15])
            await self.add_message("system", "| id | title | turns | updated |\n|---|---|---|---|\n" + rows +
                                   "\n\n`/resume ID` continues one (the first characters of the id are enough).")
            return
        matches = [s["id"] for s in sessions if str(s["id"]).startswith(arg)]
        if len(matches) != 1:
            await self.add_message("error", f"no single session starts with {arg!r} ({len(matches)} match)"
                                   if matches else f"no session starts with {arg!r}; /resume lists them")
            return
        await self.switch_session(matches[0])

    async def switch_session(self, session_id: str | None) -> None:
        if self.engine is None or not self.engine.can_chat:
            await self.add_message("error", "no chat model is loaded")
            return
        if self.busy:
            await self.add_message("error", "a reply is streaming: Esc stops it, then try again")
            return
        await self.end_session()
        self.loop = await asyncio.to_thread(self.engine.new_loop, session_id)
        await self.log_view.remove_children()
        await self.panel.show([])
        if session_id is None:
            await self.add_message("system", "new session started — long-term memory carries over")
        else:
            await self.show_turns(self.loop)
        self.status.set(evicted=self.loop.evicted_total, context_tokens=0)

    async def end_session(self, refresh: bool = True) -> None:
        """The turns still in the context window go to long-term memory (as if they slid out), so a
        new session, a resumed one or the next start of the app can recall them."""
        if self.loop is None or self.busy:
            return
        try:
            written = await asyncio.to_thread(self.loop.remember_window)
        except NuonuoError as exc:
            self.notify(f"the session's last turns were not saved to memory: {exc.message}", severity="error")
            return
        if written and refresh:
            self.refresh_memory_status()

    async def show_turns(self, loop: Any) -> None:
        for turn in loop.turns:
            await self.add_message(turn.role, turn.text)
        await self.add_message("system", f"resumed session `{loop.session_id[:8]}` ({len(loop.turns)} turns)")

    # --- key actions ----------------------------------------------------------------------------
    def action_memories(self) -> None:
        host(self).action_memories()

    def action_sleep(self) -> None:
        host(self).action_sleep()

    def action_toggle_panel(self) -> None:
        self.panel.display = not self.panel.display

    async def action_new_session(self) -> None:
        await self.cmd_new("")

    async def action_help(self) -> None:
        await self.cmd_help("")

    def on_recalled_panel_selected(self, event: RecalledPanel.Selected) -> None:
        host(self).open_detail(event.hit.id, event.hit)


def grounded_note(event: Grounded) -> str:
    """The line under a reply that names the recalled note it drew on ("" when none)."""
    if not event.hits:
        return ""
    more = f" (+{len(event.hits) - 1} more)" if len(event.hits) > 1 else ""
    return escape(f"✓ from memory: {one_line(event.hits[0].text, 60)}{more}")


def resolve_id(memory: Any, prefix: str) -> str:
    """An id, or the unique memory whose id starts with ``prefix``."""
    from nuonuo.errors import InvalidInput, NotFound

    try:
        return memory.get(prefix).id
    except NotFound:
        pass
    ids = [r.id for r in memory.list(None, limit=10**9) if r.id.startswith(prefix)]
    if not ids:
        raise NotFound(f"no memory has an id starting with {prefix!r}")
    if len(ids) > 1:
        raise InvalidInput(f"{len(ids)} memories have ids starting with {prefix!r}: give more characters")
    return ids[0]


def when(value: Any) -> str:
    """Epoch seconds or an ISO string → "YYYY-MM-DD HH:MM" (local time)."""
    if isinstance(value, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(value))
    return str(value or "").replace("T", " ")[:16]


def next_sleep_text(stats: dict) -> str:
    """The next scheduled sleep run from ``stats()`` (``sleep.next_run`` or ``next_sleep``), short."""
    raw = stats.get("sleep")
    sleep: dict[str, Any] = raw if isinstance(raw, dict) else {}
    value = sleep.get("next_run") or stats.get("next_sleep") or stats.get("next_sleep_run")
    if not value:
        return "not scheduled"
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return str(value)
