"""The chat loop's event stream: what ``ChatLoop.send()`` yields, in order, for one user turn.

    Recalled   the memories injected as notes for this turn (may be empty)
    Token*     pieces of the reply as the model streams them
    Grounded   the recalled notes the finished reply drew on (may be empty; see ``nuonuo.chat.grounding``)
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
    notes: str = ""  # the recalled notes sent with this user turn (they stay with it in the window)


@dataclass
class Recalled:
    hits: list[Hit] = field(default_factory=list)


@dataclass
class Grounded:
    """The recalled memories the reply drew on, best first, with the share of each memory's own
    words (those not in the question) that the reply repeats."""

    hits: list[Hit] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)


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
    first_token_ms: float = 0.0  # from the message to the first reply piece (memory work included)
    reply_ms: float = 0.0  # from the message to the last reply piece (the whole reply)
    evaluated_tokens: int = 0  # prompt tokens llama.cpp evaluated (the rest came from its KV cache)
    notes_tokens: int = 0  # tokens of the notes sent with this turn


@dataclass
class Done:
    text: str
    cancelled: bool = False


@dataclass
class ChatError:
    message: str


ChatEvent = Union[Recalled, Token, Grounded, Evicted, Usage, Done, ChatError]
