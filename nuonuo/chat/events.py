"""The chat loop's event stream: what ``ChatLoop.send()`` yields, in order, for one user turn.

    Recalled   the memories injected into the memory block for this turn (may be empty)
    Token*     pieces of the reply as the model streams them
    Evicted*   turns that slid out of the window and were consolidated into memory
    Usage      token accounting for the turn
    Done       the full reply (``cancelled`` if generation was stopped)
    ChatError  instead of Done when the turn failed (the message says why)

The TUI, ``nuonuo chat --plain`` and the tests consume the same stream; a test can script one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from nuonuo.records import Hit


@dataclass
class Turn:
    role: str  # "user" | "assistant"
    text: str
    index: int  # position in the session, from 0
    memory_id: str | None = None  # set once the turn has been consolidated into memory


@dataclass
class Recalled:
    hits: list[Hit] = field(default_factory=list)


@dataclass
class Token:
    text: str


@dataclass
class Evicted:
    turns: list[Turn]
    memory_ids: list[str]
    importance: list[float] = field(default_factory=list)


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    context_tokens: int  # tokens in the window after this turn
    n_ctx: int
    sink_tokens: int  # system prompt + memory block
    window_turns: int  # turns currently in the window
    evicted_total: int  # turns evicted so far in this session
    memory_ms: float = 0.0  # time spent on recall, injection and eviction work
    generate_ms: float = 0.0  # time spent in llama.cpp


@dataclass
class Done:
    text: str
    cancelled: bool = False


@dataclass
class ChatError:
    message: str


ChatEvent = Union[Recalled, Token, Evicted, Usage, Done, ChatError]
