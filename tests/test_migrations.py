"""Schema migrations on real stores: a new store gets the frozen schemas, an older one is brought up
to date and keeps its memories, a newer one is refused with a clear message and left untouched."""

from __future__ import annotations

import pytest

from nuonuo import migrations
from nuonuo.errors import StoreError
from nuonuo.store import Store


def _store(home) -> Store:
    return Store(str(home / "store"), 0, migrate=False)


def test_a_new_store_has_every_table_with_its_frozen_schema(mem, nuonuo_home):
    store = _store(nuonuo_home)
    assert store.get_meta("schema_version") == str(migrations.LATEST)
    frozen = {"meta": migrations.META_V1, "memories": migrations.memories_v1(mem.encoder.dim),
              "associations": migrations.ASSOCIATIONS_V3, "chat_sessions": migrations.CHAT_SESSIONS_V4,
              "chat_turns": migrations.CHAT_TURNS_V4, "hebbian_w": migrations.HEBBIAN_W_V5}
    assert set(frozen) <= set(store.table_names())
    for name, schema in frozen.items():
        assert store.table(name).schema.equals(schema), name


def test_an_older_store_is_migrated_and_keeps_its_memories(mem, reopen, nuonuo_home):
    rec = mem.remember("the boiler service is booked for March 3rd", key="boiler")
    mem.close()
    old = _store(nuonuo_home)  # as nuonuo at schema 4 left it: no W snapshot table yet
    old.db.drop_table("hebbian_w")
    old.set_meta("schema_version", "4")
    again = reopen()
    assert _store(nuonuo_home).get_meta("schema_version") == str(migrations.LATEST)
    assert "hebbian_w" in _store(nuonuo_home).table_names()
    assert again.lookup("boiler").id == rec.id
    assert again.recall("when is the boiler serviced?", k=1)[0].id == rec.id


def test_a_newer_store_is_refused_and_left_as_it_is(mem, reopen, nuonuo_home):
    mem.remember("a note from the future")
    mem.close()
    newer = str(migrations.LATEST + 1)
    _store(nuonuo_home).set_meta("schema_version", newer)
    with pytest.raises(StoreError, match=rf"schema version {newer}, newer than this nuonuo understands "
                                         rf"\({migrations.LATEST}\); upgrade nuonuo"):
        reopen()
    assert _store(nuonuo_home).get_meta("schema_version") == newer
