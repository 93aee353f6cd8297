"""``NuonuoStore`` (langchain-nuonuo) against LangGraph's own ``InMemoryStore``: one sequence of
operations, the same answers (ranking aside), on an embedded ``Memory``, through a real daemon, and
on ``SharedMemory``; then a LangGraph agent whose langmem memory tools write in one thread and read in
another, the fact then found by the real ``nuonuo recall`` CLI. InMemoryStore embeds with nuonuo's own
bundled encoder, so both sides rank with the same model."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

import daemon_support as ds
from langchain_nuonuo import NuonuoSearchItem, NuonuoStore
from nuonuo import Memory
from nuonuo.config import load_config
from nuonuo.shared_memory import SharedMemory

FIELDS = ["text", "extra.note"]
ODD = ("Ünïcode label", "with space", "a@b:c/d-e_f")  # escaped into nuonuo's namespace alphabet

ITEMS = [
    (("users", "ana"), "food", {"text": "Ana loves spicy Sichuan food", "kind": "pref", "n": 3}),
    (("users", "ana"), "job", {"text": "Ana works as a nurse in Porto", "kind": "fact", "n": 5,
                               "extra": {"note": "night shifts at the hospital"}}),
    (("users", "bo"), "food", {"text": "Bo eats only vegetarian dishes", "kind": "pref", "n": 1}),
    (("users", "ana", "notes"), "k1", {"text": "Ana's sister is called Lena", "kind": "fact", "n": 2}),
    (("docs",), "plain", {"title": "a value without the indexed fields", "kind": "doc"}),
    (ODD, "User.Name", {"text": "the first of two keys nuonuo would fold together", "kind": "odd"}),
    (ODD, "user name", {"text": "the second of two keys nuonuo would fold together", "kind": "odd"}),
    (ODD, "", {"text": "the empty key", "kind": "odd"}),
]


def reference_store(encoder) -> InMemoryStore:
    return InMemoryStore(index={"dims": encoder.dim, "fields": FIELDS,
                                "embed": lambda texts: encoder.embed_many(list(texts)).tolist()})


def keys(items: list) -> list:
    """Ranking aside: which items, with which values, and whether each was scored."""
    return sorted((i.namespace, i.key, json.dumps(i.value, sort_keys=True), getattr(i, "score", 0) is None)
                  for i in items)


def item(i: Any) -> Any:
    return None if i is None else (i.namespace, i.key, i.value)


def pages(store, prefix, size: int, **kw) -> list:
    """Every page of a search; pages never overlap and together give the whole result."""
    out, seen = [], set()
    for offset in range(0, 20, size):
        page = store.search(prefix, limit=size, offset=offset, **kw)
        assert len(page) <= size
        ids = {(i.namespace, i.key) for i in page}
        assert not ids & seen, f"page at offset {offset} repeats items"
        seen |= ids
        out.append(len(page))
    return [out, sorted(seen)]


def scenario(store) -> list:
    """The operations, and what each returned, made comparable between stores."""
    got: list = []
    store.batch([PutOp(ns, k, v) for ns, k, v in ITEMS])
    store.put(("docs",), "unindexed", {"text": "indexing switched off for this one", "kind": "doc"}, index=False)
    store.put(("docs",), "per-put", {"body": "indexed by a per-put field list", "kind": "doc"}, index=["body"])
    got += [item(store.get(ns, k)) for ns, k, _ in ITEMS]
    got.append(item(store.get(("users", "ana"), "missing")))

    got.append(keys(store.search(("users",))))                                     # no query: all of them
    got.append(keys(store.search(("users",), filter={"kind": "pref"})))
    got.append(keys(store.search(("users",), filter={"n": {"$gt": 2}})))
    got.append(keys(store.search(("users",), filter={"n": {"$gte": 2, "$lt": 5}, "kind": {"$ne": "pref"}})))
    got.append(keys(store.search((), filter={"extra": {"note": "night shifts at the hospital"}})))
    got.append(keys(store.search(("users", "ana"), query="what does Ana eat?")))       # child namespace too
    got.append(keys(store.search(("users",), query="who is Ana's sister?", filter={"kind": "fact"})))
    got.append(keys(store.search(("docs",), query="anything at all")))             # scored and unscored
    got.append(keys(store.search(ODD, query="keys folded together", limit=5)))
    got.append(pages(store, ("users",), 3))
    got.append(pages(store, ("users",), 2, query="food"))

    got.append(store.list_namespaces())
    got.append(store.list_namespaces(prefix=("users",)))
    got.append(store.list_namespaces(suffix=("notes",)))
    got.append(store.list_namespaces(prefix=("users", "*")))
    got.append(store.list_namespaces(max_depth=1))
    got.append(store.list_namespaces(prefix=("users",), max_depth=2, limit=1, offset=1))
    # (after the listings: InMemoryStore lists a namespace once anything, even a get, has named it)
    got.append(item(store.get(("nobody",), "food")))

    # a batch reads the store as it was before its own writes; the last write to a key wins
    res = store.batch([PutOp(("users", "cy"), "pet", {"text": "Cy has a cat", "kind": "fact"}),
                       ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("users", "cy")),)),
                       GetOp(("users", "cy"), "pet"),
                       PutOp(("users", "cy"), "pet", {"text": "Cy has a dog called Rex", "kind": "fact"}),
                       SearchOp(("users", "cy"), limit=5)])
    got.append([res[0], res[1], item(res[2]), res[3], keys(res[4])])
    got.append(item(store.get(("users", "cy"), "pet")))

    # updates: a new text, and a new value whose indexed text is unchanged
    store.put(("users", "ana"), "job", {"text": "Ana works as a doctor in Lisbon", "kind": "fact", "n": 6})
    store.put(("users", "ana"), "food", {"text": "Ana loves spicy Sichuan food", "kind": "pref", "n": 4})
    got += [item(store.get(("users", "ana"), "job")), item(store.get(("users", "ana"), "food"))]
    got.append(keys(store.search(("users", "ana"), query="where does Ana work?")))

    # deletes: gone from get and search; a missing key is no error; a batch delete
    store.delete(("users", "ana"), "food")
    store.delete(("users", "ana"), "never-there")
    store.batch([PutOp(ODD, "", None), PutOp(("nobody",), "x", None)])
    got += [item(store.get(("users", "ana"), "food")), item(store.get(ODD, ""))]
    got.append(keys(store.search(("users", "ana"), query="spicy food")))
    got.append(keys(store.search((), filter={"kind": "odd"})))

    # the async twins
    async def async_part():
        await store.aput(("async",), "a", {"text": "written through aput", "kind": "async"})
        return [item(await store.aget(("async",), "a")),
                keys(await store.asearch(("async",), query="aput")),
                await store.alist_namespaces(prefix=("async",)),
                await store.adelete(("async",), "a"), item(await store.aget(("async",), "a"))]
    got.append(asyncio.run(async_part()))
    return got


def refusals(store) -> list[str]:
    """Bad input: the same exception class from both stores."""
    out = []
    for call in (lambda: store.put(("a.b",), "k", {"x": 1}), lambda: store.put(("",), "k", {"x": 1}),
                 lambda: store.put((), "k", {"x": 1}), lambda: store.put(("langgraph", "x"), "k", {"x": 1}),
                 lambda: store.get(("a", 3), "k"), lambda: store.put(("ok",), "k", {"x": 1}, ttl=5)):
        with pytest.raises(Exception) as exc:
            call()
        out.append(type(exc.value).__name__)
    return out


@pytest.fixture
def daemon_home(nuonuo_home):
    ds.start(nuonuo_home)
    yield nuonuo_home
    ds.stop(nuonuo_home)


def check_against_reference(memory, encoder) -> None:
    ours = NuonuoStore(memory, index={"fields": FIELDS})
    got, expected = scenario(ours), scenario(reference_store(encoder))
    assert len(got) == len(expected)
    for step, (a, b) in enumerate(zip(got, expected)):
        assert a == b, f"step {step}"
    assert refusals(ours) == refusals(reference_store(encoder)) == ["InvalidNamespaceError"] * 5 + ["NotImplementedError"]

    # what nuonuo adds: history, where a hit came from, and the memories themselves
    assert [i.value["text"] for i in ours.history(("users", "ana"), "job")] == [
        "Ana works as a doctor in Lisbon", "Ana works as a nurse in Porto"]
    assert ours.get(("users", "ana"), "job").created_at < ours.get(("users", "ana"), "job").updated_at
    best = ours.search(("users", "ana"), query="Where does Ana work?", limit=1)[0]
    assert isinstance(best, NuonuoSearchItem) and best.key == "job" and 0 < best.score <= 1
    assert best.source in ("hopfield", "ngram", "exact", "hebbian") and best.hops == 0
    assert best.dict()["memory_id"] == best.memory_id and memory.get(best.memory_id).namespace == "langgraph.users.ana"
    assert [r.text for r in memory.history("kjob", "langgraph.users.ana")] == [  # the index fields, one a line
        "Ana works as a doctor in Lisbon", "Ana works as a nurse in Porto\nnight shifts at the hospital"]
    odd = {r.metadata["langgraph"]["key"]: r.key for r in memory.list("langgraph.@C3@9Cn@C3@AFcode@20label."
                                                                       "with@20space.a@40b:c/d-e_f")}
    assert odd == {"User.Name": "kx55serx2ex4eame", "user name": "kuserx20name"}

    # a namespace lives while it holds memories (InMemoryStore keeps listing an emptied one)
    ours.delete(("users", "bo"), "food")
    assert ("users", "bo") not in ours.list_namespaces()
    with pytest.raises(InvalidNamespaceError, match="over nuonuo's 128"):
        ours.put(("x" * 60, "y" * 60, "z"), "k", {"text": "too long"})
    with pytest.raises(ValueError, match="only 'fields'"):
        NuonuoStore(memory, index={"dims": 384, "embed": "openai:text-embedding-3-small"})
    with pytest.raises(ValueError, match="not JSON"):
        ours.put(("users",), "bad", {"when": object()})
    with pytest.raises(InvalidNamespaceError):  # batch() checks what put() would
        ours.batch([PutOp(("users",), "ok", {"text": "fine"}), PutOp(("a.b",), "k", {"x": 1})])
    with pytest.raises(NotImplementedError, match="does not expire"):
        ours.batch([PutOp(("users",), "k", {"x": 1}, ttl=5.0)])
    assert ours.get(("users",), "ok") is None, "a refused batch writes nothing"


def test_same_answers_as_inmemorystore_embedded(nuonuo_home, encoder):
    with Memory(load_config(nuonuo_home), encoder) as memory:
        check_against_reference(memory, encoder)


def test_same_answers_as_inmemorystore_through_the_daemon(daemon_home, encoder):
    with ds.client(daemon_home) as client:
        check_against_reference(client, encoder)


def test_same_answers_as_inmemorystore_on_shared_memory(nuonuo_home, encoder):
    with SharedMemory(config=load_config(nuonuo_home), encoder=encoder, use_daemon=False) as memory:
        check_against_reference(memory, encoder)


# --- an agent ------------------------------------------------------------------------------------------
class ScriptedToolModel(GenericFakeChatModel):
    """Plays a script of messages (tool calls included) and accepts tools as a real model does."""

    def bind_tools(self, tools, **kwargs):
        return self


def test_agent_remembers_across_threads_and_the_cli_sees_it(nuonuo_home, encoder):
    from langgraph.checkpoint.memory import InMemorySaver
    from langchain.agents import create_agent  # LangGraph's agent (create_react_agent moved here in 1.0)
    from langmem import create_manage_memory_tool, create_search_memory_tool

    namespace = ("memories", "{langgraph_user_id}")
    tools = [create_manage_memory_tool(namespace=namespace), create_search_memory_tool(namespace=namespace)]
    fact = "Ana's sister Lena lives in Porto and keeps bees."
    script = [
        AIMessage("", tool_calls=[{"name": "manage_memory", "id": "c1",
                                   "args": {"content": fact, "action": "create"}}]),
        AIMessage("Noted: Lena lives in Porto."),
        AIMessage("", tool_calls=[{"name": "search_memory", "id": "c2",
                                   "args": {"query": "where does my sister live?", "limit": 3}}]),
        AIMessage("Your sister Lena lives in Porto."),
    ]
    memory = Memory(load_config(nuonuo_home), encoder)
    store = NuonuoStore(memory, index={"fields": ["content"]})
    agent = create_agent(ScriptedToolModel(messages=iter(script)), tools, store=store, checkpointer=InMemorySaver())

    def ask(thread: str, text: str) -> list:
        config = {"configurable": {"thread_id": thread, "langgraph_user_id": "ana"}}
        return agent.invoke({"messages": [HumanMessage(text)]}, config)["messages"]

    first = ask("thread-1", "Remember: my sister Lena lives in Porto and keeps bees.")
    assert first[-1].content == "Noted: Lena lives in Porto."
    second = ask("thread-2", "Where does my sister live?")
    assert len(second) == 4, "thread-2 starts empty: the fact can only come from the store"
    found = [m for m in second if isinstance(m, ToolMessage)][0]
    hits = json.loads(found.content)
    assert hits[0]["value"] == {"content": fact} and hits[0]["namespace"] == ["memories", "ana"]
    assert hits[0]["score"] > 0 and hits[0]["source"]
    memory.close()

    r = ds.run_cli(nuonuo_home, "recall", "Where does Lena live?", "--ns", "langgraph.memories.ana", "--json")
    assert r.returncode == 0, r.stderr
    cli_hits = json.loads(r.stdout)
    assert cli_hits[0]["text"] == fact
    assert cli_hits[0]["metadata"]["langgraph"]["value"] == {"content": fact}
