"""``NuonuoChatMessageHistory``: chat history stored in nuonuo, for ``RunnableWithMessageHistory``.

Working memory and long-term memory, as in nuonuo's own chat loop:

- every message is stored in the session's namespace (``chat.<session id>``), with metadata
  ``role``, ``turn``, ``session`` and the serialised message, so a session survives restarts;
- ``messages`` returns the *window*: the last ``window`` messages (what the model is shown);
- a message that slides out of the window is not lost: it is written to the long-term namespace
  (``"default"`` unless told otherwise) as ``"User: …"`` / ``"Assistant: …"`` with its original time,
  as nuonuo's chat loop does with its evicted turns (``nuonuo.chat.consolidate``): weighted by the
  attention later turns paid it, and linked by Hebbian edges (question → answer, a later turn →
  the turn it referred to, previous → next), so a later ``recall`` brings it back with its neighbours.

Tool calls and tool results stay in the session but are not written to long-term memory (they
are the model's working, not facts of the conversation).
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, Sequence

from langchain_core.messages import (AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage,
                                     message_to_dict, messages_from_dict)

from langchain_nuonuo._backend import check_memory
from nuonuo.api import MemoryAPI
from nuonuo.validate import NAMESPACE_RE

try:
    from langchain_core._api.deprecation import LangChainDeprecationWarning
except ImportError:  # older langchain-core: nothing is deprecated
    LangChainDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", LangChainDeprecationWarning)
    from langchain_core.chat_history import BaseChatMessageHistory

SPEAKERS = {"human": "User", "ai": "Assistant", "system": "System", "tool": "Tool"}
ALL = 10**9
FROM_CONFIG: Any = object()  # window default: ``[plugins] history_window`` of the memory's config


def session_namespace(session_id: str, prefix: str = "chat") -> str:
    """``<prefix>.<session id>``; a session id nuonuo cannot use as a namespace is hashed."""
    if not isinstance(session_id, str) or not session_id.strip():
        raise ValueError(f"session_id must be a non-empty string, not {session_id!r}")
    ns = f"{prefix}.{session_id}"
    if NAMESPACE_RE.fullmatch(ns):
        return ns
    return f"{prefix}.{hashlib.sha256(session_id.encode('utf-8')).hexdigest()[:32]}"


def message_text(message: BaseMessage) -> str:
    """The readable text of a message (text parts of multi-part content)."""
    content = message.content
    if isinstance(content, str):
        return content.strip()
    parts = [p if isinstance(p, str) else p.get("text", "") for p in content
             if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text")]
    return " ".join(p.strip() for p in parts if p and p.strip())


def describe(message: BaseMessage) -> str:
    """``"User: …"``: how a message is stored as text (never empty)."""
    speaker = SPEAKERS.get(message.type, message.type.capitalize())
    text = message_text(message)
    if not text and isinstance(message, AIMessage) and message.tool_calls:
        text = "[calls " + ", ".join(call["name"] for call in message.tool_calls) + "]"
    return f"{speaker}: {text or '[empty]'}"


def worth_remembering(message: BaseMessage) -> bool:
    """Conversation turns with text become long-term memories; tool traffic does not."""
    if isinstance(message, ToolMessage):
        return False
    if isinstance(message, AIMessage) and message.tool_calls and not message_text(message):
        return False
    return isinstance(message, (HumanMessage, AIMessage, SystemMessage)) and bool(message_text(message))


class NuonuoChatMessageHistory(BaseChatMessageHistory):
    """Messages of one session, persisted in nuonuo; older ones feed long-term memory.

    ``window``: messages returned by ``messages`` (None: all, and nothing is evicted; default:
    ``[plugins] history_window`` of nuonuo's config). ``long_term_namespace``: where evicted turns go.
    """

    def __init__(self, session_id: str, memory: MemoryAPI, *, window: int | None = FROM_CONFIG,
                 long_term_namespace: str = "default", prefix: str = "chat"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangChainDeprecationWarning)
            super().__init__()
        self.memory = check_memory(memory)
        self.session_id = session_id
        self.namespace = session_namespace(session_id, prefix)
        if window is FROM_CONFIG:
            window = self.memory.config.plugins.history_window
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f"window must be a positive whole number or None, not {window!r}")
        self.window = window
        self.long_term_namespace = long_term_namespace

    # --- reading --------------------------------------------------------------------------------
    def _records(self) -> list[Any]:
        """The session's stored messages, oldest first."""
        recs = [r for r in self.memory.list(self.namespace, limit=ALL) if "turn" in (r.metadata or {})]
        return sorted(recs, key=lambda r: r.metadata["turn"])

    def all_messages(self) -> list[BaseMessage]:
        """Every message of the session, evicted ones included."""
        return messages_from_dict([r.metadata["message"] for r in self._records()])

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The window: the session's last ``window`` messages."""
        msgs = self.all_messages()
        return msgs if self.window is None else msgs[-self.window:]

    # --- writing --------------------------------------------------------------------------------
    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store the messages (one batched write), then evict what left the window."""
        if not messages:
            return
        records = self._records()
        first = records[-1].metadata["turn"] + 1 if records else 0
        items = [{"text": describe(m), "key": f"turn {turn}",
                  "metadata": {"role": m.type, "turn": turn, "session": self.session_id,
                               "message": message_to_dict(m)}}
                 for turn, m in enumerate(messages, start=first)]
        self.memory.remember_many(items, namespace=self.namespace)
        if self.window is not None and len(records) + len(items) > self.window:
            self._evict(self._records(), self.window)

    def _evict(self, records: list[Any], window: int) -> None:
        """Turns that left the window become long-term memories (``nuonuo.chat.consolidate``):

            importance = 0.3 + 0.7 · (1 − e^{−A(t)}),  A(t) = Σ_{j > t} ref(j → t)

        with ``ref`` the idf-weighted share of turn t's content words that later turn j repeats;
        Hebbian links: user turn → its reply (``answered_by``, and back ``answers``), the previous
        evicted turn → this one (``next``), and this turn → earlier turns it refers to
        (``referred_by``, weight ``ref``)."""
        from nuonuo.chat.consolidate import ReferenceTracker, importance

        messages = {r.metadata["turn"]: messages_from_dict([r.metadata["message"]])[0] for r in records}
        tracker = ReferenceTracker()
        refs: dict[int, dict[int, float]] = {}
        seen: list[int] = []
        for rec in records:
            turn = rec.metadata["turn"]
            if worth_remembering(messages[turn]):
                refs[turn] = tracker.add(turn, message_text(messages[turn]), seen)
                seen.append(turn)
        pending = [r for r in records[:-window] if not r.metadata.get("consolidated")]
        fresh = [r for r in pending if worth_remembering(messages[r.metadata["turn"]])]
        ids = self.memory.remember_many([
            {"text": describe(messages[r.metadata["turn"]]), "timestamp": r.created_at,
             "importance": importance(tracker.attention_received(r.metadata["turn"])),
             "metadata": {"source": "chat", "session": self.session_id, "role": r.metadata["role"],
                          "turn": r.metadata["turn"]}}
            for r in fresh], namespace=self.long_term_namespace) if fresh else []
        memory_ids = {r.metadata["turn"]: r.metadata.get("memory_id") for r in records}
        memory_ids.update({r.metadata["turn"]: mid for r, mid in zip(fresh, ids)})
        self._link(records[:-window], {r.metadata["turn"] for r in fresh}, memory_ids, messages, refs)
        for rec in pending:
            self.memory.update(rec.id, metadata={**rec.metadata, "consolidated": True,
                                                 "memory_id": memory_ids.get(rec.metadata["turn"])})

    def _link(self, evicted: list[Any], fresh: set[int], memory_ids: dict[int, str | None],
              messages: dict[int, BaseMessage], refs: dict[int, dict[int, float]]) -> None:
        """Hebbian links from each newly stored turn to its predecessor and to what it referred to."""
        previous: int | None = None
        for rec in evicted:
            turn = rec.metadata["turn"]
            mid = memory_ids.get(turn)
            if not mid:
                continue
            if turn in fresh:
                if previous is not None:
                    prev_id = memory_ids[previous]
                    if messages[previous].type == "human" and messages[turn].type == "ai":
                        self._associate(prev_id, mid, 1.0, "answered_by")
                        self._associate(mid, prev_id, 1.0, "answers")
                    else:
                        self._associate(prev_id, mid, 0.5, "next")
                for earlier, score in refs.get(turn, {}).items():
                    if memory_ids.get(earlier) and earlier != previous:
                        self._associate(mid, memory_ids[earlier], score, "referred_by")
            previous = turn

    def _associate(self, cue: str | None, target: str | None, weight: float, kind: str) -> None:
        """A Hebbian link cue → target (none when an end was never stored, nor to itself)."""
        if not cue or not target or cue == target:
            return
        self.memory.associate(cue, target, weight=round(min(max(weight, 0.01), 10.0), 4), kind=kind)

    def clear(self) -> None:
        """Delete the session's messages (memories already written to long-term memory stay)."""
        if self._records():
            self.memory.forget(namespace=self.namespace)
