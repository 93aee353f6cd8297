"""Both agent plugins against a running daemon (a real daemon process on its Unix socket): the MCP
server routes its calls through the daemon (the daemon owns the store lock; an embedded attempt
would fail after lock_timeout_s), and langchain-nuonuo's ``open_memory()`` returns the daemon's
client, which the retriever, the chat history (eviction and links included) and the tools use."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

import daemon_support as ds
from mcp_support import call, mcp_session
from langchain_nuonuo import NuonuoChatMessageHistory, NuonuoRetriever, nuonuo_tools, open_memory
from nuonuo import Memory
from nuonuo.daemon.client import Client



@pytest.fixture
def daemon_home(nuonuo_home):
    ds.start(nuonuo_home)
    yield nuonuo_home
    ds.stop(nuonuo_home)


async def test_plugins_go_through_a_running_daemon(daemon_home):
    memory = open_memory()
    assert isinstance(memory, Client) and not isinstance(memory, Memory)
    try:
        async with mcp_session(daemon_home, lock_timeout_s=0.5) as session:
            stored = await call(session, "remember", text="The garage door code is 4711.")
            found = await call(session, "recall", query="what is the garage door code?", k=1)
            assert found["hits"][0]["id"] == stored["id"]
            assert "sleep" in await call(session, "stats")  # the daemon's own stats (its scheduler)
        assert memory.get(stored["id"]).text == "The garage door code is 4711."

        docs = NuonuoRetriever(memory=memory, k=1).invoke("garage code")
        assert docs[0].metadata["id"] == stored["id"] and docs[0].metadata["updated_at"]

        remember, recall, _ = nuonuo_tools(memory)
        out = remember.invoke({"type": "tool_call", "name": "remember", "id": "t1",
                               "args": {"text": "The plumber's name is Kofi."}})
        assert out.content.startswith("remembered")
        assert "Kofi" in recall.invoke({"query": "who is the plumber?", "k": 1})

        history = NuonuoChatMessageHistory("d-1", memory=memory, window=2)
        history.add_messages([HumanMessage("My locker number is 318."), AIMessage("Locker 318, noted."),
                              HumanMessage("Which locker is mine?"), AIMessage("Number 318.")])
        assert [m.content for m in history.messages] == ["Which locker is mine?", "Number 318."]
        evicted = {r.metadata["turn"]: r for r in memory.list("default", limit=50) if r.metadata.get("session")}
        assert sorted(evicted) == [0, 1] and evicted[0].text == "User: My locker number is 318."
    finally:
        memory.close()
