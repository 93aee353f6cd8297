"""Chat sessions in LanceDB (migration 4), so that a chat can be listed and resumed.

Tables:
- ``chat_sessions``: one row per session: title, namespace, times, how many turns, where the window
  starts, how many turns were evicted, and the loop's small state as JSON (memory ids of evicted
  turns, the reference tracker of the turns still in the window);
- ``chat_turns``: one row per turn (append-only): session id, index, role, text, time.

A turn is durable once ``ChatLoop.send`` has yielded ``Usage`` (written before ``Done``).
"""

from __future__ import annotations

import builtins
import json
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pyarrow as pa

from nuonuo.chat.events import Turn
from nuonuo.errors import NotFound

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI

SESSIONS = "chat_sessions"
TURNS = "chat_turns"

SESSION_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("title", pa.string()),
    pa.field("namespace", pa.string()),
    pa.field("created_at", pa.float64()),
    pa.field("updated_at", pa.float64()),
    pa.field("n_turns", pa.int64()),
    pa.field("window_start", pa.int64()),
    pa.field("evicted_total", pa.int64()),
    pa.field("state", pa.string()),  # JSON
])

TURN_SCHEMA = pa.schema([
    pa.field("session_id", pa.string(), nullable=False),
    pa.field("index", pa.int64(), nullable=False),
    pa.field("role", pa.string()),
    pa.field("text", pa.string()),
    pa.field("created_at", pa.float64()),
])


def create_tables(store) -> None:
    store.ensure_table(SESSIONS, SESSION_SCHEMA)
    store.ensure_table(TURNS, TURN_SCHEMA)


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def title_of(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


class SessionStore:
    """Reads and writes the two tables through the memory's LanceDB store (``nuonuo.api.ChatSessions``
    for an embedded ``Memory``: ``Memory.sessions``)."""

    def __init__(self, store):
        self.store = store
        create_tables(store)

    def save(self, session: Mapping[str, Any], new_turns: Sequence[Turn]) -> None:
        """Append ``new_turns`` and upsert the session row (one commit each)."""
        now = time.time()
        if new_turns:
            rows = [{"session_id": session["id"], "index": t.index, "role": t.role, "text": t.text,
                     "created_at": now} for t in new_turns]
            self.store.table(TURNS).add(pa.Table.from_pylist(rows, schema=TURN_SCHEMA))
        row = {**session, "updated_at": now, "state": json.dumps(session.get("state") or {})}
        data = pa.Table.from_pylist([row], schema=SESSION_SCHEMA)
        (self.store.table(SESSIONS).merge_insert("id").when_matched_update_all()
         .when_not_matched_insert_all().execute(data))

    def load(self, session_id: str) -> tuple[dict[str, Any], builtins.list[Turn]]:
        rows = (self.store.table(SESSIONS).search().where(f"id = {_sql(session_id)}").limit(1).to_list())
        if not rows:
            raise NotFound(f"no chat session {session_id!r}; `nuonuo chat --list` shows the sessions")
        row = rows[0]
        row["state"] = json.loads(row.get("state") or "{}")
        turn_rows = (self.store.table(TURNS).search().where(f"session_id = {_sql(session_id)}")
                     .limit(None).to_list())
        by_index = {int(r["index"]): r for r in turn_rows}  # a repeated write keeps one row per index
        memory_ids = row["state"].get("memory_ids", {})
        turns = [Turn(role=r["role"], text=r["text"], index=i, memory_id=memory_ids.get(str(i)))
                 for i, r in sorted(by_index.items())]
        return row, turns

    def list(self) -> builtins.list[dict[str, Any]]:
        rows = self.store.table(SESSIONS).to_arrow().drop_columns(["state"]).to_pylist()
        rows.sort(key=lambda r: r["updated_at"] or 0.0, reverse=True)
        return [{"id": r["id"], "title": r["title"] or "", "updated_at": r["updated_at"],
                 "turns": int(r["n_turns"] or 0), "namespace": r["namespace"]} for r in rows]

    def delete(self, session_id: str) -> None:
        self.store.table(SESSIONS).delete(f"id = {_sql(session_id)}")
        self.store.table(TURNS).delete(f"session_id = {_sql(session_id)}")


def list_sessions(memory: MemoryAPI) -> list[dict[str, Any]]:
    """Every chat session of this memory's store, most recently used first:
    ``[{id, title, updated_at, turns, namespace}]`` (an embedded ``Memory``, a daemon client or
    ``SharedMemory``)."""
    return memory.sessions.list()
