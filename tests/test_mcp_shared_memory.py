"""SharedMemory, the store access behind the MCP server: the lock is held per call only, another
writer's commits are seen before the next call, and waiting writers queue instead of failing.
(Two flocks on separate file descriptions conflict inside one process just as across processes.)"""

from __future__ import annotations

import threading
import time

import pytest

from nuonuo import Memory
from nuonuo.api import MemoryAPI
from nuonuo.config import load_config
from nuonuo.errors import ConfigError, StoreLocked
from nuonuo.mcp_server import MemoryBackend
from nuonuo.shared_memory import SharedMemory, open_backend, store_fingerprint


def shared(home, encoder, **store):
    return SharedMemory(config=load_config(home, overrides={"store": store} if store else None), encoder=encoder)


def test_two_sharers_see_each_others_writes(nuonuo_home, encoder):
    a, b = shared(nuonuo_home, encoder), shared(nuonuo_home, encoder)
    first = a.remember("The red notebook is in the top drawer.")
    second = b.remember("The spare key hangs behind the kitchen door.")
    assert a.get(second.id).text == "The spare key hangs behind the kitchen door."
    assert [h.id for h in b.recall("where is the red notebook?", k=1)] == [first.id]
    assert a.forget(second.id) == 1
    assert b.list() == [b.get(first.id)]
    assert a.stats()["memories"] == b.stats()["memories"] == 1
    a.close(), b.close()


def test_cache_is_kept_while_nobody_else_writes(nuonuo_home, encoder):
    s = shared(nuonuo_home, encoder)
    s.remember("one")
    cached = s._memory
    s.remember("two")
    s.recall("one")
    assert s._memory is cached  # no reload: the store's versions are the ones it left
    with Memory(load_config(nuonuo_home), encoder) as other:
        other.remember("three")
    assert {r.text for r in s.list()} == {"one", "two", "three"}
    assert s._memory is not cached  # someone else wrote: reloaded from the store
    s.close()


def test_an_open_memory_can_write_between_calls(nuonuo_home, encoder):
    s = shared(nuonuo_home, encoder)
    s.remember("held only during the call")
    with Memory(load_config(nuonuo_home, overrides={"store": {"lock_timeout_s": 1.0}}), encoder) as mem:
        assert len(mem.list()) == 1
    s.close()


def test_a_waiting_call_proceeds_when_the_holder_lets_go(nuonuo_home, encoder):
    s = shared(nuonuo_home, encoder, lock_timeout_s=20.0)
    holder = Memory(load_config(nuonuo_home), encoder)
    released = threading.Event()

    def release_soon():
        time.sleep(0.5)
        holder.remember("written by the holder")
        holder.close()
        released.set()

    threading.Thread(target=release_soon).start()
    rec = s.remember("written after the wait")
    assert released.is_set()
    assert {r.text for r in s.list()} == {"written by the holder", "written after the wait"}
    assert s.get(rec.id).text == "written after the wait"
    s.close()


def test_a_holder_that_never_lets_go_is_a_clear_error(nuonuo_home, encoder):
    with Memory(load_config(nuonuo_home), encoder):
        s = shared(nuonuo_home, encoder, lock_timeout_s=0.3)
        with pytest.raises(StoreLocked, match="daemon start"):
            s.remember("cannot get in")


def test_fingerprint_moves_with_every_commit(mem):
    before = store_fingerprint(mem.store)
    mem.remember("a change")
    assert store_fingerprint(mem.store) != before


def test_backend_choice_is_validated(nuonuo_home, encoder, monkeypatch):
    with pytest.raises(ConfigError, match="backend must be one of"):
        MemoryBackend(load_config(nuonuo_home), "remote")
    monkeypatch.setenv("NUONUO_PLUGINS_BACKEND", "daemon")
    backend = MemoryBackend(load_config(nuonuo_home))
    with pytest.raises(Exception, match="no nuonuo daemon serves"):
        backend.run(lambda m: m.stats())
    with pytest.raises(Exception, match="no nuonuo daemon serves"):
        open_backend()
    s = shared(nuonuo_home, encoder)
    assert isinstance(s, MemoryAPI)  # its methods are spelled out (mypy checks their signatures)
    with pytest.raises(AttributeError):
        s.not_a_method  # noqa: B018
