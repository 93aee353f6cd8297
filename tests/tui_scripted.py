"""A scripted chat loop with ChatLoop's shape (send / cancel / turns / window / session_id /
evicted_total) that yields the real event classes, so TUI tests are fast and deterministic. The
memory behind it is real: recall runs on the real encoder and store."""

from __future__ import annotations

import asyncio
from typing import Any

from nuonuo.chat.events import ChatError, Done, Evicted, Grounded, Recalled, Token, Turn, Usage
from nuonuo.chat.grounding import grounded_on
from nuonuo_tui.engine import Engine, ModelInfo


class ScriptedLoop:
    def __init__(self, memory: Any, reply: str = "Noted — **Lena** lives in *Porto*.", session_id: str | None = None,
                 window_turns: int = 4, fail_on: str | None = None, fixed_hits: list | None = None) -> None:
        self.memory = memory
        self.reply = reply
        self.session_id = session_id or "session-0001"
        self.turns: list[Turn] = []
        self.window: list[Turn] = []
        self.evicted_total = 0
        self.window_turns = window_turns
        self.fail_on = fail_on
        self.fixed_hits = fixed_hits  # when set, Recalled carries these instead of a real recall
        self.hold = asyncio.Event()  # cleared = the stream waits before each token (to test Esc)
        self.hold.set()
        self.cancelled = False
        self.sent: list[str] = []

    async def send(self, text: str):
        self.cancelled = False
        self.sent.append(text)
        hits = self.fixed_hits if self.fixed_hits is not None else await asyncio.to_thread(self.memory.recall, text, 3)
        yield Recalled(hits)
        if self.fail_on and self.fail_on in text:
            yield ChatError("the model crashed on purpose")
            return
        user = Turn("user", text, len(self.turns))
        self.turns.append(user)
        self.window.append(user)
        out = ""
        for piece in self.reply.split(" "):
            await self.hold.wait()
            if self.cancelled:
                yield Done(out, cancelled=True)
                return
            piece = (" " if out else "") + piece
            out += piece
            yield Token(piece)
        drawn = grounded_on(out, text, hits)  # the loop's own rule, on the scripted reply
        yield Grounded([h for h, _ in drawn], [share for _, share in drawn])
        answer = Turn("assistant", out, len(self.turns))
        self.turns.append(answer)
        self.window.append(answer)
        if len(self.window) > self.window_turns:
            gone, self.window = self.window[:2], self.window[2:]
            ids = [self.memory.remember(t.text, namespace="chat").id for t in gone]
            self.evicted_total += len(gone)
            yield Evicted(gone, ids, [0.5] * len(gone))
        yield Usage(prompt_tokens=40, completion_tokens=len(out.split()), context_tokens=120 + 10 * len(self.window),
                    n_ctx=2048, sink_tokens=60, window_turns=len(self.window), evicted_total=self.evicted_total)
        yield Done(out)

    def cancel(self) -> None:
        self.cancelled = True
        self.hold.set()

    def remember_window(self) -> list[str]:
        fresh = [t for t in self.window if not t.memory_id]
        for t in fresh:
            t.memory_id = self.memory.remember(t.text, namespace="chat").id
        return [t.memory_id for t in fresh]


def scripted_engine(memory: Any, **loop_kwargs: Any) -> Engine:
    """An Engine over a real memory whose loops are ScriptedLoops; ``engine.loops`` keeps them."""
    loops: list[ScriptedLoop] = []

    def new_loop(session_id: str | None) -> ScriptedLoop:
        loop = ScriptedLoop(memory, session_id=session_id, **loop_kwargs)
        if session_id:
            loop.turns = [Turn("user", "my locker code is ALPHA7", 0), Turn("assistant", "Got it.", 1)]
        loops.append(loop)
        return loop

    engine = Engine(memory=memory, mode="embedded", model=ModelInfo("scripted", "/models/scripted.gguf", 2048),
                    new_loop=new_loop,
                    list_sessions=lambda: [{"id": "session-0001", "title": "locker", "updated_at": "2026-11-20T10:00:00",
                                            "turns": 2}])
    engine.loops = loops  # type: ignore[attr-defined]
    return engine
