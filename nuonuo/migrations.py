"""Numbered schema migrations, recorded in the store's ``meta`` table as ``schema_version``.

Each step is a function ``(store) -> None`` that takes the store from version ``n - 1`` to ``n``.
A store written by a newer nuonuo (a version above ``LATEST``) is refused, never rewritten.
"""

from __future__ import annotations

from typing import Callable

from nuonuo.errors import StoreError


def _v1_memories(store) -> None:
    from nuonuo.store import META_SCHEMA, memory_schema

    store.ensure_table("meta", META_SCHEMA)
    store.ensure_table("memories", memory_schema(store.dim))


def _v3_associations(store) -> None:
    from nuonuo.associations import ASSOCIATION_SCHEMA

    store.ensure_table("associations", ASSOCIATION_SCHEMA)


def _v4_chat_sessions(store) -> None:
    from nuonuo.chat.sessions import create_tables

    create_tables(store)


def _v5_sleep(store) -> None:
    from nuonuo.associations import W_SNAPSHOT_SCHEMA

    store.ensure_table("hebbian_w", W_SNAPSHOT_SCHEMA)


MIGRATIONS: dict[int, Callable] = {
    1: _v1_memories,
    3: _v3_associations,
    4: _v4_chat_sessions,
    5: _v5_sleep,
}
LATEST = max(MIGRATIONS)


def migrate(store) -> int:
    """Bring ``store`` to ``LATEST``; returns the version it was at."""
    from nuonuo.store import META_SCHEMA

    store.ensure_table("meta", META_SCHEMA)
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
