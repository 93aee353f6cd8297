"""Numbered schema migrations, recorded in the store's ``meta`` table as ``schema_version``.

Each step is a function ``(store) -> None`` that takes the store from version ``n - 1`` to ``n``.
A store written by a newer nuonuo (a version above ``LATEST``) is refused, never rewritten.

The schemas a step creates are frozen here, as they were at that version: a step never reads the
live schema of the module that uses the table (``store.memory_schema``,
``associations.ASSOCIATION_SCHEMA``, ``chat.sessions``), so changing one later cannot change what an
old step does, and this module imports nothing above the store. A new column is a new step;
tests/test_layering.py checks that the live schemas still equal the latest frozen ones.
"""

from __future__ import annotations

from typing import Callable

import pyarrow as pa

from nuonuo.errors import StoreError

# --- version 1: memories and meta -------------------------------------------------------------------
META_V1 = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("value", pa.string())])


def memories_v1(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("namespace", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("key", pa.string()),
        pa.field("key_canonical", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), dim)),
        pa.field("created_at", pa.float64()),
        pa.field("updated_at", pa.float64()),
        pa.field("last_access", pa.float64()),
        pa.field("importance", pa.float32()),
        pa.field("access_count", pa.int64()),
        pa.field("metadata", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("status", pa.string()),
    ])


# --- version 3: associations --------------------------------------------------------------------------
ASSOCIATIONS_V3 = pa.schema([
    pa.field("cue", pa.string(), nullable=False),
    pa.field("target", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("weight", pa.float32()),
    pa.field("created_at", pa.float64()),
    pa.field("namespace", pa.string()),
    pa.field("cue_text", pa.string()),
    pa.field("cue_units", pa.list_(pa.int32())),
    pa.field("target_units", pa.list_(pa.int32())),
])

# --- version 4: chat sessions and their turns ------------------------------------------------------
CHAT_SESSIONS_V4 = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("title", pa.string()),
    pa.field("namespace", pa.string()),
    pa.field("created_at", pa.float64()),
    pa.field("updated_at", pa.float64()),
    pa.field("n_turns", pa.int64()),
    pa.field("window_start", pa.int64()),
    pa.field("evicted_total", pa.int64()),
    pa.field("state", pa.string()),
])
CHAT_TURNS_V4 = pa.schema([
    pa.field("session_id", pa.string(), nullable=False),
    pa.field("index", pa.int64(), nullable=False),
    pa.field("role", pa.string()),
    pa.field("text", pa.string()),
    pa.field("created_at", pa.float64()),
])

# --- version 5: the W snapshot of sleep ------------------------------------------------------------
HEBBIAN_W_V5 = pa.schema([
    pa.field("col", pa.int32(), nullable=False),
    pa.field("rows", pa.list_(pa.int32())),
    pa.field("vals", pa.list_(pa.float32())),
])

# --- version 6: sentence keys -----------------------------------------------------------------------
SENTENCE_KEYS_V6 = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("written_at", pa.float64()),
    pa.field("vectors", pa.list_(pa.float16())),
])


def _v1_memories(store) -> None:
    store.ensure_table("meta", META_V1)
    store.ensure_table("memories", memories_v1(store.dim))


def _v3_associations(store) -> None:
    store.ensure_table("associations", ASSOCIATIONS_V3)


def _v4_chat_sessions(store) -> None:
    store.ensure_table("chat_sessions", CHAT_SESSIONS_V4)
    store.ensure_table("chat_turns", CHAT_TURNS_V4)


def _v5_sleep(store) -> None:
    store.ensure_table("hebbian_w", HEBBIAN_W_V5)


def _v6_sentence_keys(store) -> None:
    store.ensure_table("sentence_keys", SENTENCE_KEYS_V6)


MIGRATIONS: dict[int, Callable] = {
    1: _v1_memories,
    3: _v3_associations,
    4: _v4_chat_sessions,
    5: _v5_sleep,
    6: _v6_sentence_keys,
}
LATEST = max(MIGRATIONS)


def migrate(store) -> int:
    """Bring ``store`` to ``LATEST``; returns the version it was at."""
    store.ensure_table("meta", META_V1)
    current = int(store.get_meta("schema_version", "0"))
    if current > LATEST:
        raise StoreError(
            f"the store at {store.uri} has schema version {current}, newer than this nuonuo "
            f"understands ({LATEST}); upgrade nuonuo")
    for version in range(current + 1, LATEST + 1):
        step = MIGRATIONS.get(version)  # numbers are reserved per area; a gap is a no-op
        if step is not None:
            step(store)
        store.set_meta("schema_version", str(version))
    return current
