"""``ChatLoop``: one chat session on a local llama.cpp model whose evicted context becomes memory.

One user turn (``send``), in order:

1. plan the budget, reserving the memory block's whole budget: the oldest exchanges that no
   longer fit leave the window and are consolidated at once (``nuonuo.chat.consolidate``:
   remembered, weighed, associated), so that a turn leaving now can be recalled now;
2. recall with the turn (and, second, the turn with the last exchange) as the query; drop memories
   already in the window; keep the few relevant enough as notes, sent next to the message and kept
   with it in the window (``nuonuo.chat.context``) → ``Recalled``;
3. stream the reply from llama.cpp in a worker thread through an asyncio queue → ``Token``…; the
   reply may not go on copying an earlier reply of the window (``nuonuo.chat.llm.NoCopy``);
4. the notes the reply drew on (``nuonuo.chat.grounding``) → ``Grounded``; the turns that left →
   ``Evicted``;
5. persist the session → ``Usage`` (timings: first token, whole reply, prompt tokens evaluated) →
   ``Done`` (or ``ChatError`` instead when the turn failed).

``layout="block"`` keeps the earlier prompt (one block of up to ``memory_block_tokens`` before the
message, not kept in the window), for ``benchmarks/eviction.py`` to compare against.

``cancel()`` stops generation between two tokens; the stream then ends with ``Done(cancelled=True)``
and the partial reply is kept in the window.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator, Sequence

from nuonuo.chat.consolidate import ReferenceTracker, content_words, importance
from nuonuo.chat.context import memory_block, note_text, notes_block, plan_eviction, select_notes
from nuonuo.chat.events import ChatError, ChatEvent, Done, Evicted, Grounded, Recalled, Token, Turn, Usage
from nuonuo.chat.grounding import grounded_on
from nuonuo.chat.llm import ChatModel
from nuonuo.chat.sessions import title_of
from nuonuo.errors import InvalidInput, NotFound, NuonuoError
from nuonuo.records import Hit
from nuonuo.validate import check_namespace

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI
    from nuonuo.config import ChatConfig

_END = object()
LAYOUTS = ("notes", "block")
NOTES_RESERVE = 64  # tokens the eviction plan keeps for the notes before recall has run
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


class ChatLoop:
    """A chat session. ``send(text)`` is an async generator of ``ChatEvent``; see the module doc.

    ``memory`` is any ``nuonuo.api.MemoryAPI``: an embedded ``Memory``, or the daemon's client while
    a daemon serves the home (the session is then kept by the daemon, and every process that talks
    to it sees what the chat remembered)."""

    def __init__(self, memory: MemoryAPI, model: ChatModel, config: ChatConfig, session_id: str | None = None,
                 layout: str = "notes"):
        if layout not in LAYOUTS:
            raise InvalidInput(f"unknown prompt layout {layout!r}; one of {', '.join(LAYOUTS)}")
        self.layout = layout  # "block": the earlier prompt (one block before the question), for comparison
        self.memory = memory
        self.model = model
        self.config = config
        self.namespace = check_namespace(config.namespace)
        if config.max_tokens < 1:
            raise InvalidInput(f"[chat] max_tokens must be at least 1, not {config.max_tokens}")
        self.n_ctx = min(int(config.n_ctx), model.n_ctx)
        self.sessions = memory.sessions
        self.session_id = session_id or uuid.uuid4().hex[:16]
        self.title = ""
        self.created_at = time.time()
        self.turns: list[Turn] = []
        self.window_start = 0
        self.evicted_total = 0
        self.refs = ReferenceTracker()
        self.recalled_refs: dict[int, dict[str, float]] = {}  # user turn → {memory id: ref of its reply}
        self.last_hits: list[Hit] = []
        self.last_block = ""
        self.last_prompt = ""
        self._token_cache: dict[tuple[int, str, int], int] = {}  # (index, role, notes length)
        self._cancel = threading.Event()
        self._busy = False

    @classmethod
    def resume(cls, memory: MemoryAPI, model: ChatModel, config: ChatConfig, session_id: str) -> "ChatLoop":
        """Reopen a saved session: its turns, its window and its pending references."""
        loop = cls(memory, model, config, session_id)
        row, turns = loop.sessions.load(session_id)
        loop.title = row.get("title") or ""
        loop.created_at = row.get("created_at") or loop.created_at
        loop.turns = turns
        loop.window_start = min(int(row.get("window_start") or 0), len(turns))
        loop.evicted_total = int(row.get("evicted_total") or 0)
        state = row["state"]
        loop.refs = ReferenceTracker.from_state(state.get("refs"))
        loop.recalled_refs = {int(k): v for k, v in state.get("recalled_refs", {}).items()}
        for index, notes in state.get("notes", {}).items():
            if 0 <= int(index) < len(turns):
                turns[int(index)].notes = notes
        return loop

    # --- public state ----------------------------------------------------------------------------
    @property
    def window(self) -> list[Turn]:
        """The turns in the model's context now (the sink is not a turn)."""
        return self.turns[self.window_start:]

    def cancel(self) -> None:
        """Stop the reply being generated; the stream ends with ``Done(cancelled=True)``."""
        self._cancel.set()

    # --- one turn ---------------------------------------------------------------------------------
    async def send(self, text: str) -> AsyncIterator[ChatEvent]:
        if self._busy:
            yield ChatError("a reply is still being generated; cancel it or wait for it to finish")
            return
        if not isinstance(text, str) or not text.strip():
            yield ChatError("the message is empty")
            return
        self._busy = True
        self._cancel.clear()
        try:
            async for event in self._turn(text.strip()):
                yield event
        except NuonuoError as exc:
            yield ChatError(exc.message)
        except Exception as exc:  # a failed turn is reported, and the session stays usable
            yield ChatError(f"{type(exc).__name__}: {exc}")
        finally:
            self._busy = False

    async def _turn(self, text: str) -> AsyncIterator[ChatEvent]:
        started = time.perf_counter()
        plan = await asyncio.to_thread(self._prepare, text)
        memory_ms = (time.perf_counter() - started) * 1000
        yield Recalled(plan["hits"])

        gen_started = time.perf_counter()
        first_token_ms = reply_ms = 0.0
        pieces: list[str] = []
        async for piece in self._generate(plan["prompt"], plan["stop"], plan["avoid"], plan["allow"]):
            if not pieces:
                first_token_ms = (time.perf_counter() - started) * 1000
            pieces.append(piece)
            yield Token(piece)
        generate_ms = (time.perf_counter() - gen_started) * 1000
        reply_ms = (time.perf_counter() - started) * 1000
        evaluated = self.model.last_evaluated
        cancelled = self._cancel.is_set()
        reply = "".join(pieces).strip()

        after_started = time.perf_counter()
        drawn = grounded_on(reply, text, plan["hits"]) if reply else []
        evicted, ids, weights = plan["evicted"]
        new_turns = self._append(text, reply, plan["hits"], plan["notes"])
        memory_ms += (time.perf_counter() - after_started) * 1000
        yield Grounded([h for h, _ in drawn], [share for _, share in drawn])
        if evicted:
            yield Evicted(list(evicted), ids, weights)
        await asyncio.to_thread(self._save, new_turns)

        completion = self.model.count(reply) if reply else 0
        window_tokens = sum(self._turn_tokens(t) for t in self.window)
        yield Usage(prompt_tokens=plan["prompt_tokens"], completion_tokens=completion,
                    context_tokens=plan["sink_tokens"] + window_tokens, n_ctx=self.n_ctx,
                    sink_tokens=plan["sink_tokens"], window_turns=len(self.window),
                    evicted_total=self.evicted_total, memory_ms=round(memory_ms, 2),
                    generate_ms=round(generate_ms, 2), first_token_ms=round(first_token_ms, 2),
                    reply_ms=round(reply_ms, 2), evaluated_tokens=evaluated,
                    notes_tokens=plan["notes_tokens"])
        yield Done(reply, cancelled=cancelled)

    # --- 1 + 2: recall, memory block, budget --------------------------------------------------------
    def recall_for(self, text: str) -> list[Hit]:
        """Memories to inject for ``text``: recalled with the turn alone, then with the turn and the
        last exchange (for follow-ups such as "and his birthday?"); best score first, without those
        already in the window and those under ``min_score``."""
        cfg = self.config
        if cfg.recall_k <= 0:  # memory off: a plain sliding window
            return []
        window = self.window
        queries = [text]
        last = [t.text for t in window[-2:]]
        if last:
            queries.append(" ".join([text, *last])[:1000])
        in_window = {_norm(t.text) for t in window} | {_norm(text)}
        window_idx = {t.index for t in window}
        best: dict[str, Hit] = {}
        for query in queries:
            for hit in self.memory.recall(query, k=cfg.recall_k, namespace=self.namespace):
                meta = hit.metadata or {}
                if meta.get("session") == self.session_id and meta.get("turn") in window_idx:
                    continue
                if _norm(hit.text) in in_window or hit.score < cfg.min_score:
                    continue
                if hit.id not in best or hit.score > best[hit.id].score:
                    best[hit.id] = hit
        return sorted(best.values(), key=lambda h: -h.score)

    def _turn_tokens(self, turn: Turn) -> int:
        key = (turn.index, turn.role, len(turn.notes))
        if key not in self._token_cache:
            self._token_cache[key] = self.model.message_tokens(turn.role, turn.text) + self._notes_tokens(turn.notes)
        return self._token_cache[key]

    def _notes_tokens(self, notes: str) -> int:
        if not notes:
            return 0
        if self.model.system_mid_chat:
            return self.model.message_tokens("system", notes)
        return self.model.count(notes + "\n\n")

    def _turn_messages(self, role: str, text: str, notes: str) -> list[dict]:
        """One turn as chat messages: its notes first (a system message, or the head of the user
        message when the template has no system message mid-chat), then the turn."""
        if not notes:
            return [{"role": role, "content": text}]
        if self.model.system_mid_chat:
            return [{"role": "system", "content": notes}, {"role": role, "content": text}]
        return [{"role": role, "content": f"{notes}\n\n{text}"}]

    def _messages(self, window: Sequence[Turn], notes: str, text: str) -> list[dict]:
        """[system prompt] + window (each turn with its notes) + [notes] + new turn (see
        ``nuonuo.chat.context``). In the ``block`` layout the window's turns carry no notes."""
        out = [{"role": "system", "content": self.config.system_prompt}]
        for t in window:
            out += self._turn_messages(t.role, t.text, t.notes)
        return out + self._turn_messages("user", text, notes)

    def block_budget(self) -> int:
        """Tokens reserved for the notes: ``memory_block_tokens``, at most a third of the room left by
        the reply (the ``notes`` layout: at most ``NOTES_RESERVE``); 0 when memory is off."""
        cfg = self.config
        if cfg.recall_k <= 0:
            return 0
        budget = min(cfg.memory_block_tokens, max(0, (self.n_ctx - cfg.max_tokens) // 3))
        return budget if self.layout == "block" else min(budget, NOTES_RESERVE)

    def _notes_for(self, hits: Sequence[Hit], budget: int) -> tuple[str, list[Hit]]:
        """The notes to send with this turn and the hits they hold (see ``nuonuo.chat.context``)."""
        if self.layout == "block":
            return memory_block(hits, budget, self.model.count)
        last_user = next((t for t in reversed(self.window) if t.role == "user"), None)
        sent = last_user.notes if last_user is not None else ""  # still next to the question
        fresh = [h for h in hits if note_text(h, self.model.count) not in sent]
        kept = select_notes(fresh, self.config.min_score, set())
        return notes_block(kept, self.model.count), kept

    def _prepare(self, text: str) -> dict[str, Any]:
        """Budget first (the notes' budget is reserved), then consolidate what leaves, so that a turn
        evicted now can already be recalled now; then recall and build the prompt."""
        cfg = self.config
        budget = self.block_budget()
        sys_prompt, _ = self.model.render([{"role": "system", "content": cfg.system_prompt}])
        sys_tokens = self.model.count(sys_prompt)  # includes the generation prompt
        frame = self.model.message_tokens("system", "") if self.model.system_mid_chat else 2  # else "\n\n"
        reserve = sys_tokens + (budget + frame if budget else 0)
        new_turn = self.model.message_tokens("user", text)
        window = self.window
        drop, _ = plan_eviction(window, self._turn_tokens, self.n_ctx, cfg.max_tokens, reserve, new_turn, 0)
        evicted = list(window[:drop])
        ids, weights = self._consolidate(evicted)
        if evicted:  # the window is read again from its start anyway: its old notes can go
            for turn in self.window:
                turn.notes = ""
        hits = self.recall_for(text)
        notes, kept = self._notes_for(hits, budget)
        notes_tokens = self._notes_tokens(notes)
        while True:  # the per-message sums are exact for ChatML; verify on the rendered prompt anyway
            window = self.window
            prompt, stop = self.model.render(self._messages(window, notes, text))
            prompt_tokens = self.model.count(prompt)
            if prompt_tokens + cfg.max_tokens <= self.n_ctx or not window:
                break
            more = 1
            while more < len(window) and window[more].role != "user":
                more += 1
            extra_ids, extra_weights = self._consolidate(window[:more])
            evicted += window[:more]
            ids, weights = ids + extra_ids, weights + extra_weights
        if prompt_tokens + cfg.max_tokens > self.n_ctx:
            raise InvalidInput(f"the message and the notes take {prompt_tokens} tokens, too many for a "
                               f"context of {self.n_ctx} with {cfg.max_tokens} for the reply; send a "
                               "shorter message or raise [chat] n_ctx")
        self.last_hits, self.last_block, self.last_prompt = kept, notes, prompt
        return {"hits": kept, "notes": notes, "prompt": prompt, "stop": stop, "prompt_tokens": prompt_tokens,
                "sink_tokens": sys_tokens + (notes_tokens if self.layout == "block" else 0),
                "notes_tokens": notes_tokens, "evicted": (evicted, ids, weights),
                # the reply may not copy the window's earlier replies, but may repeat the user and the notes
                "avoid": [t.text for t in window if t.role == "assistant"],
                "allow": [text, notes, *(f"{t.notes}\n{t.text}" for t in window if t.role == "user")]}

    # --- 3: generation in a worker thread ---------------------------------------------------------------
    async def _generate(self, prompt: str, stop: Sequence[str], avoid: Sequence[str] = (),
                        allow: Sequence[str] = ()) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cfg = self.config

        def work() -> None:
            try:
                for piece in self.model.stream(prompt, cfg.max_tokens, cfg.temperature, stop,
                                               should_stop=self._cancel.is_set, avoid=avoid, allow=allow):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = threading.Thread(target=work, name="nuonuo-chat-generate", daemon=True)
        worker.start()
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                if self._cancel.is_set():
                    continue  # drain what was already queued; the worker stops at the next token
                yield item
        finally:
            if not finished:  # the consumer went away (task cancelled): stop the worker
                self._cancel.set()
            await asyncio.to_thread(worker.join)

    # --- 4: consolidation -------------------------------------------------------------------------------
    def _append(self, text: str, reply: str, hits: Sequence[Hit], notes: str = "") -> list[Turn]:
        """Add the user turn (with the notes it was sent with, in the ``notes`` layout) and the
        reply to the window and record what they refer to."""
        earlier = [t.index for t in self.window]
        user = Turn("user", text, len(self.turns), notes=notes if self.layout == "notes" else "")
        self.turns.append(user)
        self.refs.add(user.index, text, earlier)
        new = [user]
        if not self.title:
            self.title = title_of(text)
        if reply:
            answer = Turn("assistant", reply, len(self.turns))
            self.turns.append(answer)
            self.refs.add(answer.index, reply, earlier + [user.index])
            new.append(answer)
            drawn = self._drawn_on(reply, hits)
            if drawn:
                self.recalled_refs[user.index] = drawn
        return new

    def _drawn_on(self, reply: str, hits: Sequence[Hit]) -> dict[str, float]:
        """The injected memories the reply drew on: ref(reply → memory), as in ``consolidate``."""
        words = content_words(reply)
        out: dict[str, float] = {}
        for hit in hits:
            mine = content_words(hit.text)
            total = sum(self.refs.idf(w) for w in mine)
            shared = sum(self.refs.idf(w) for w in mine & words)
            if total and shared / total >= 0.15:
                out[hit.id] = round(shared / total, 4)
        return out

    def _consolidate(self, evicted: Sequence[Turn]) -> tuple[list[str], list[float]]:
        """Remember the turns that left the window and link them (see ``nuonuo.chat.consolidate``).
        Turns already written by ``remember_window`` keep their memory and links."""
        if not evicted:
            return [], []
        weights = [importance(self.refs.attention_received(t.index)) for t in evicted]
        self._write([t for t in evicted if not t.memory_id])
        for turn in evicted:
            self.refs.words.pop(turn.index, None)
        self.window_start = max(self.window_start, evicted[-1].index + 1)
        self.evicted_total += len(evicted)
        return [t.memory_id or "" for t in evicted], weights

    def remember_window(self) -> list[str]:
        """Write the turns still in the window to long-term memory, as eviction would, and keep them
        in the window. Call it when the session ends (a new session, quitting): what was said and
        never slid out is then not lost to the next session. Returns the new memories' ids."""
        fresh = [t for t in self.window if not t.memory_id]
        if not fresh:
            return []
        self._write(fresh)
        self._save([])
        return [t.memory_id or "" for t in fresh]

    def _write(self, turns: Sequence[Turn]) -> None:
        """Remember ``turns`` (importance from the attention they received) and link each to the turn
        that answered it, to the memories its reply drew on, and to the earlier turns it referred to."""
        if not turns:
            return
        items = [{"text": t.text, "importance": importance(self.refs.attention_received(t.index)),
                  "metadata": {"session": self.session_id, "role": t.role, "turn": t.index,
                               "source": "chat", "attention": round(self.refs.attention_received(t.index), 4)}}
                 for t in turns]
        ids = self.memory.remember_many(items, namespace=self.namespace)
        by_index = {}
        for turn, mid in zip(turns, ids):
            turn.memory_id = mid
            by_index[turn.index] = turn
        links: list[tuple[str | None, str | None, float, str]] = []  # an end may be unwritten
        for turn in turns:
            # the turn that answered it, both ways
            if turn.role == "user":
                answer = by_index.get(turn.index + 1)
                if answer is not None and answer.role == "assistant":
                    links.append((turn.memory_id, answer.memory_id, 1.0, "answered_by"))
                    links.append((answer.memory_id, turn.memory_id, 1.0, "answers"))
                for mid, score in self.recalled_refs.pop(turn.index, {}).items():
                    links.append((turn.memory_id, mid, score, "recalled"))
            # this turn referred to earlier ones (now memories): this turn is a cue that reaches them
            for t_index, score in self._references_made(turn.index).items():
                target = self._memory_id_of(t_index)
                if target and target != turn.memory_id:
                    links.append((turn.memory_id, target, score, "referred_by"))
        self._associate(links)

    def _references_made(self, index: int) -> dict[int, float]:
        return {t: refs[index] for t, refs in self.refs.received.items() if index in refs}

    def _memory_id_of(self, index: int) -> str | None:
        if 0 <= index < len(self.turns):
            return self.turns[index].memory_id
        return None

    def _associate(self, links: Sequence[tuple[str | None, str | None, float, str]]) -> None:
        """Durable links; one whose end is gone (forgotten meanwhile) or that would link a memory to
        itself (two turns with the same text are one memory) is skipped: the turns are already saved."""
        for cue, target, weight, kind in links:
            if not cue or not target or cue == target or weight <= 0:
                continue
            try:
                self.memory.associate(cue, target, min(float(weight), 10.0), kind)
            except (NotFound, InvalidInput):
                continue

    # --- 5: persistence -----------------------------------------------------------------------------------
    def _session_row(self) -> dict[str, Any]:
        memory_ids = {str(t.index): t.memory_id for t in self.turns if t.memory_id}
        # references made by turns still in the window, to earlier turns that may already be memories
        live = {t.index for t in self.window}
        self.refs.received = {t: {j: s for j, s in refs.items() if j in live}
                              for t, refs in self.refs.received.items()}
        self.refs.received = {t: refs for t, refs in self.refs.received.items() if refs}
        return {"id": self.session_id, "title": self.title, "namespace": self.namespace,
                "created_at": self.created_at, "n_turns": len(self.turns), "window_start": self.window_start,
                "evicted_total": self.evicted_total,
                "state": {"memory_ids": memory_ids, "refs": self.refs.to_state(),
                          "recalled_refs": {str(k): v for k, v in self.recalled_refs.items()},
                          "notes": {str(t.index): t.notes for t in self.window if t.notes}}}

    def _save(self, new_turns: Sequence[Turn]) -> None:
        self.sessions.save(self._session_row(), new_turns)
