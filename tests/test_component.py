"""The contract between Memory and its components (nuonuo.component, nuonuo.views), on a real store."""

from __future__ import annotations

import dataclasses

from nuonuo.component import Component, MemoryView
from nuonuo.records import MemoryRecord
from nuonuo.store import record_from_row
from nuonuo.views import FacadeView


def test_every_component_implements_every_hook(mem):
    assert [type(c).__name__ for c in mem.components] == ["EngramComponent", "AssociationMemory",
                                                          "ConversationIndex", "SentenceIndex"]
    for comp in mem.components:
        assert isinstance(comp, Component), type(comp).__name__
        assert isinstance(comp.stats(mem), dict)
        comp.flush(mem)


def test_memory_is_the_view_its_components_recall_and_sleep_receive(mem):
    assert isinstance(mem, MemoryView)
    assert isinstance(mem, FacadeView)
    assert not isinstance(object(), MemoryView)


def test_the_view_reads_records_and_vectors(mem):
    rec = mem.remember("the spare key is under the blue flower pot", key="spare key")
    assert mem.record(rec.id) is rec
    assert mem.record("no-such-id") is None
    assert abs(float(mem.vector(rec.id) @ mem.vector(rec.id)) - 1.0) < 1e-5
    assert rec.id in mem.pattern_indexes()["default"]


def test_key_canonical_is_a_field_kept_by_the_store_but_not_in_the_public_record(mem):
    rec = mem.remember("Port 8080", key="  API   Port ")
    assert rec.key_canonical == "api port"
    assert "key_canonical" not in rec.to_dict()
    row = {**dataclasses.asdict(rec), "metadata": "{}"}
    assert record_from_row(row).key_canonical == "api port"
    assert MemoryRecord(id=rec.id, text=rec.text) == MemoryRecord(id=rec.id, text=rec.text, key_canonical="x")


def test_replace_records_takes_a_merged_record_out_of_the_active_indexes(mem):
    a = mem.remember("we meet at the Lisbon office on Tuesday")
    mem.replace_records([dataclasses.replace(a, status="merged")])
    assert mem.get(a.id).status == "merged"
    assert a.id not in mem.pattern_index("default")
    assert [h.id for h in mem.recall("Lisbon office", k=3)] == []
