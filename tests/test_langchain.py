"""langchain-nuonuo against real langchain-core and a real store: the retriever in an LCEL chain,
chat history through RunnableWithMessageHistory (across invocations and reopening the store),
eviction into long-term memory, and a scripted tool-calling loop that round-trips a memory."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel, ParrotFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool

from langchain_nuonuo import (NuonuoChatMessageHistory, NuonuoRetriever, nuonuo_tools, open_memory)
from nuonuo.errors import ConfigError
from nuonuo.shared_memory import SharedMemory

FACTS = [
    "Lena, my sister, lives in Porto and works as a marine biologist.",
    "The staging database listens on port 5433.",
    "I am allergic to peanuts.",
    "Our team standup is at 9:30 every weekday.",
]


class Recorder(BaseCallbackHandler):
    """Keeps the messages each chat-model call was given."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.append(list(messages[0]))


def test_retriever_documents_carry_nuonuo_fields(mem):
    ids = {mem.remember(t, metadata={"topic": "t"}).id: t for t in FACTS}
    docs = NuonuoRetriever(memory=mem, k=2).invoke("which port does the staging database use?")
    assert docs and docs[0].page_content == FACTS[1]
    meta = docs[0].metadata
    assert meta["id"] in ids and docs[0].id == meta["id"]
    assert 0.0 < meta["score"] <= 1.0 and meta["source"] in {"hopfield", "ngram", "exact", "hebbian"}
    assert meta["namespace"] == "default" and meta["topic"] == "t" and meta["hops"] == 0
    assert meta["created_at"].startswith("20") and meta["updated_at"].startswith("20")
    assert docs[0].metadata["score"] >= docs[-1].metadata["score"]


def test_retriever_in_an_lcel_chain(mem):
    mem.remember_many(FACTS)
    retriever = NuonuoRetriever(memory=mem, k=1)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from these memories:\n{context}"), ("human", "{question}")])

    def format_docs(docs):
        return "\n".join(d.page_content for d in docs)

    recorder = Recorder()
    model = ParrotFakeChatModel()  # echoes the last message; the recorder sees the whole prompt
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()
    answer = chain.invoke("where does my sister live?", config={"callbacks": [recorder]})
    assert answer == "where does my sister live?"
    system = recorder.calls[0][0]
    assert system.type == "system" and FACTS[0] in system.content
    assert FACTS[1] not in system.content  # k=1: only the relevant memory


def _chain_with_history(mem, replies, recorder, window=None):
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are helpful."), MessagesPlaceholder("history"), ("human", "{input}")])
    model = GenericFakeChatModel(messages=iter(replies))
    from langchain_core.runnables.history import RunnableWithMessageHistory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: NuonuoChatMessageHistory(session_id, memory=mem, window=window),
            input_messages_key="input", history_messages_key="history"), recorder


def test_history_across_invocations_and_reopening(nuonuo_home, reopen):
    mem = reopen()
    recorder = Recorder()
    chain, _ = _chain_with_history(mem, ["Nice to meet you, Ada.", "You are Ada."], recorder)
    cfg = {"configurable": {"session_id": "s-1"}, "callbacks": [recorder]}
    chain.invoke({"input": "Hi, my name is Ada."}, config=cfg)
    chain.invoke({"input": "What is my name?"}, config=cfg)
    second = [(m.type, m.content) for m in recorder.calls[1]]
    assert second[1:] == [("human", "Hi, my name is Ada."), ("ai", "Nice to meet you, Ada."),
                          ("human", "What is my name?")]
    other = NuonuoChatMessageHistory("s-2", memory=mem, window=None)
    assert other.messages == []  # sessions are separate
    mem.close()

    again = reopen()
    history = NuonuoChatMessageHistory("s-1", memory=again, window=None)
    assert [(m.type, m.content) for m in history.messages] == [
        ("human", "Hi, my name is Ada."), ("ai", "Nice to meet you, Ada."),
        ("human", "What is my name?"), ("ai", "You are Ada.")]
    assert isinstance(history.messages[1], AIMessage)
    recs = again.list("chat.s-1", limit=10)
    assert {r.metadata["role"] for r in recs} == {"human", "ai"}
    assert sorted(r.metadata["turn"] for r in recs) == [0, 1, 2, 3]
    history.clear()
    assert history.messages == [] and "chat.s-1" not in again.namespaces()


def test_identical_messages_are_kept_apart_and_the_window_comes_from_config(reopen):
    mem = reopen(plugins={"history_window": 2})
    history = NuonuoChatMessageHistory("tab #2 of ada@example.com", memory=mem)
    assert history.window == 2 and history.namespace.startswith("chat.")
    history.add_messages([HumanMessage("yes"), AIMessage("ok"), HumanMessage("yes")])
    assert [m.content for m in history.all_messages()] == ["yes", "ok", "yes"]
    assert [m.content for m in history.messages] == ["ok", "yes"]
    with pytest.raises(ValueError, match="window"):
        NuonuoChatMessageHistory("s", memory=mem, window=0)


def test_evicted_turns_become_long_term_memories(mem):
    history = NuonuoChatMessageHistory("trip", memory=mem, window=4)
    history.add_messages([
        HumanMessage("My passport number is X7741 and it expires in March."),
        AIMessage("Noted: passport X7741, expiring in March."),
        HumanMessage("Book the hotel near the Alfama district."),
        AIMessage("I will look for hotels in Alfama."),
        HumanMessage("Remind me that X7741 must be renewed before the Lisbon trip."),
        AIMessage("Passport X7741 renewal before Lisbon: noted."),
    ])
    assert [m.content for m in history.messages][0] == "Book the hotel near the Alfama district."
    assert len(history.messages) == 4 and len(history.all_messages()) == 6
    long_term = {r.metadata["turn"]: r for r in mem.list("default", limit=50)}
    assert sorted(long_term) == [0, 1]
    assert long_term[0].text == "User: My passport number is X7741 and it expires in March."
    assert long_term[0].metadata["session"] == "trip" and long_term[0].metadata["source"] == "chat"
    # the passport turn is referred to by later turns: it received attention, the hotel turn did not
    history.add_messages([HumanMessage("Thanks."), AIMessage("You're welcome.")])
    long_term = {r.metadata["turn"]: r for r in mem.list("default", limit=50)}
    assert sorted(long_term) == [0, 1, 2, 3]
    assert long_term[0].importance > long_term[2].importance
    hits = mem.recall("what is my passport number?", k=3)
    assert any("X7741" in h.text for h in hits)
    # evicted once: adding more never writes a turn twice
    history.add_messages([HumanMessage("One more thing."), AIMessage("Sure.")])
    long_term = {r.metadata["turn"]: r for r in mem.list("default", limit=50)}
    assert sorted(long_term) == [0, 1, 2, 3, 4, 5]
    # Hebbian links: the question to its answer, and a later turn that referred back to it
    # (turn 5 repeats the rare words of turn 0: passport, X7741)
    links = {(a["kind"], a["cue"], a["target"]) for a in mem.associations(long_term[0].id)}
    assert ("answered_by", long_term[0].id, long_term[1].id) in links
    assert ("referred_by", long_term[5].id, long_term[0].id) in links


class ScriptedToolModel(GenericFakeChatModel):
    """A fake chat model that accepts tools (keeping their schemas) and plays a script."""

    bound_tools: list = []

    def bind_tools(self, tools, **kwargs):
        self.bound_tools = [convert_to_openai_tool(t) for t in tools]
        return self


def run_agent(model, tools, question: str) -> list[Any]:
    """The plain tool-calling loop: call the model, run the tools it asks for, until it answers."""
    by_name = {t.name: t for t in tools}
    messages: list[Any] = [HumanMessage(question)]
    for _ in range(10):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        for call in reply.tool_calls:
            messages.append(by_name[call["name"]].invoke(call))
    raise AssertionError("the agent did not finish")


def test_tool_calling_loop_round_trips_a_memory(nuonuo_home, reopen):
    mem = reopen()
    mem.remember_many(FACTS[1:])
    tools = nuonuo_tools(mem)
    script = [
        AIMessage("", tool_calls=[{"name": "remember", "id": "c1",
                                   "args": {"text": "The user's cat is called Miso and is afraid of thunder."}}]),
        AIMessage("", tool_calls=[{"name": "recall", "id": "c2", "args": {"query": "what is my cat's name?", "k": 2}}]),
        AIMessage("Your cat is called Miso."),
    ]
    model = ScriptedToolModel(messages=iter(script)).bind_tools(tools)
    schemas = {s["function"]["name"]: s["function"] for s in model.bound_tools}
    assert set(schemas) == {"remember", "recall", "forget"}
    assert schemas["recall"]["parameters"]["properties"]["k"]["type"] == "integer"
    assert "long-term memory" in schemas["recall"]["description"]
    assert schemas["remember"]["parameters"]["required"] == ["text"]

    messages = run_agent(model, tools, "Remember my cat Miso, then tell me her name.")
    tool_msgs = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool_msgs[0].content.startswith("remembered (id ")
    stored_id = tool_msgs[0].content.split("id ")[1].rstrip(")")
    assert "Miso" in tool_msgs[1].content.splitlines()[0]  # the new memory is the best hit
    assert tool_msgs[1].artifact[0]["id"] == stored_id and tool_msgs[1].artifact[0]["score"] > 0
    assert messages[-1].content == "Your cat is called Miso."
    mem.close()
    assert reopen().get(stored_id).text == "The user's cat is called Miso and is afraid of thunder."


def test_tool_errors_reach_the_model_as_text(mem):
    remember, recall, forget = nuonuo_tools(mem)
    out = remember.invoke({"type": "tool_call", "name": "remember", "id": "e1", "args": {"text": "   "}})
    assert out.status == "error" and "empty" in out.content
    out = forget.invoke({"type": "tool_call", "name": "forget", "id": "e2", "args": {"id": "nope"}})
    assert out.status == "error" and "no memory with id 'nope'" in out.content
    out = recall.invoke({"type": "tool_call", "name": "recall", "id": "e3", "args": {"query": "x", "k": 0}})
    assert out.status == "error" and "k" in out.content
    rec = mem.remember("temporary note")
    out = forget.invoke({"type": "tool_call", "name": "forget", "id": "e4", "args": {"id": rec.id}})
    assert out.content == "forgot 1 memory" and mem.list() == []


def test_open_memory_chooses_by_config(nuonuo_home, encoder, monkeypatch):
    from nuonuo import Memory

    with open_memory() as m:  # no daemon: the store in-process
        assert isinstance(m, Memory)
    monkeypatch.setenv("NUONUO_PLUGINS_BACKEND", "shared")
    with open_memory() as m:
        assert isinstance(m, SharedMemory)
        rec = m.remember("shared-mode note")
        assert m.get(rec.id).text == "shared-mode note"
    with pytest.raises(ConfigError, match="backend must be one of"):
        open_memory(backend="cloud")
    with pytest.raises(TypeError, match="not a nuonuo memory"):
        NuonuoRetriever(memory=object())


async def test_async_interfaces(mem):
    mem.remember_many(FACTS)
    docs = await NuonuoRetriever(memory=mem, k=1).ainvoke("am I allergic to anything?")
    assert docs[0].page_content == FACTS[2]
    history = NuonuoChatMessageHistory("async", memory=mem, window=None)
    await history.aadd_messages([HumanMessage("hello"), AIMessage("hi there")])
    assert [m.content for m in await history.aget_messages()] == ["hello", "hi there"]
    await history.aclear()
    assert await history.aget_messages() == []
