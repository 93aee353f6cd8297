"""The MCP server, driven by the official SDK's own client over stdio against real server processes
(``python -m nuonuo.mcp_server`` and ``nuonuo mcp``) on a temp NUONUO_HOME: tools and their
schemas, a remember → recall round trip, clear tool errors, a store the server never holds between
calls, and concurrent clients in separate processes losing no write."""

from __future__ import annotations

import json

import anyio
from mcp_support import call, error_of, mcp_session

from nuonuo import Memory
from nuonuo.config import load_config

TOOLS = {"remember", "recall", "forget", "consolidate", "stats"}


async def test_tools_schemas_round_trip_and_errors(nuonuo_home, encoder):
    async with mcp_session(nuonuo_home) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        assert set(listed) == TOOLS
        recall_schema = listed["recall"].input_schema
        assert recall_schema["required"] == ["query"]
        assert recall_schema["properties"]["k"] == {
            "default": 5, "description": "How many memories to return", "maximum": 50, "minimum": 1,
            "title": "K", "type": "integer"}
        assert listed["remember"].input_schema["required"] == ["text"]
        assert "pattern" in json.dumps(listed["remember"].input_schema["properties"]["namespace"])
        for tool in listed.values():
            assert tool.description and "\n    " not in tool.description
        assert listed["recall"].annotations.read_only_hint is True
        assert listed["forget"].annotations.destructive_hint is True
        assert "hits" in listed["recall"].output_schema["properties"]

        stored = await call(session, "remember", text="Lena, my sister, lives in Porto.",
                            metadata={"topic": "family"})
        await call(session, "remember", text="The staging database listens on port 5433.")
        await call(session, "remember", text="UTC+1", key="user.timezone", namespace="profile")
        found = await call(session, "recall", query="where does my sister live?", k=2)
        assert found["hits"][0]["id"] == stored["id"] and found["hits"][0]["metadata"] == {"topic": "family"}
        assert 0 < found["hits"][0]["score"] <= 1 and found["hits"][0]["source"]
        keyed = await call(session, "recall", query="timezone", namespace="profile", key="user.timezone")
        assert [h["text"] for h in keyed["hits"]] == ["UTC+1"]
        stats = await call(session, "stats")
        assert stats["memories"] == 3 and stats["namespaces"] == {"default": 2, "profile": 1}
        report = await call(session, "consolidate")
        assert isinstance(report, dict)

        # bad arguments: a tool error a person (or model) understands, not a crash
        assert "k" in await error_of(session, "recall", query="x", k=0)
        assert "query" in await error_of(session, "recall", k=3)
        assert "invalid_input: text is empty" in await error_of(session, "remember", text="   ")
        assert "namespace" in await error_of(session, "remember", text="x", namespace="bad name!")
        assert "not_found: no memory with id 'nope'" in await error_of(session, "forget", id="nope")
        assert "needs an id" in await error_of(session, "forget")

        assert (await call(session, "forget", id=stored["id"]))["deleted"] == 1
        again = await call(session, "recall", query="where does my sister live?", k=5)
        assert stored["id"] not in [h["id"] for h in again["hits"]]

        # the server never holds the store between calls: another writer opens it meanwhile
        # (it would wait and fail after lock_timeout_s if the server held the lock)
        with Memory(load_config(nuonuo_home, overrides={"store": {"lock_timeout_s": 5.0}}), encoder) as mem:
            assert sorted(r.text for r in mem.list(None)) == ["The staging database listens on port 5433.", "UTC+1"]
            other = mem.remember("The boiler is serviced every October.")
        found = await call(session, "recall", query="when is the boiler serviced?", k=1)
        assert found["hits"][0]["id"] == other.id  # and the server sees the other process's write


async def test_concurrent_clients_lose_no_update(nuonuo_home, encoder):
    n_clients, per_client = 3, 4
    ids: list[list[str]] = [[] for _ in range(n_clients)]
    ready, go = [], anyio.Event()

    async def client(c: int) -> None:
        async with mcp_session(nuonuo_home, command="cli" if c == 0 else "module") as session:
            await call(session, "stats")  # started and warm: now all write at once
            ready.append(c)
            if len(ready) == n_clients:
                go.set()
            await go.wait()
            for i in range(per_client):
                rec = await call(session, "remember", text=f"client {c} wrote note number {i} about topic {c * 100 + i}")
                ids[c].append(rec["id"])
            seen = await call(session, "recall", query=f"client {c} wrote note number 0", k=1)
            assert seen["hits"][0]["id"] == ids[c][0]

    async with anyio.create_task_group() as tg:
        for c in range(n_clients):
            tg.start_soon(client, c)

    with Memory(load_config(nuonuo_home), encoder) as mem:
        records = mem.list(None, limit=1000)
        assert len(records) == n_clients * per_client
        assert {r.id for r in records} == {i for client_ids in ids for i in client_ids}


async def test_streamable_http_serves_on_loopback_only(nuonuo_home, encoder):
    import httpx
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from nuonuo.mcp_server import build_server, http_server

    server, backend = build_server(nuonuo_home)
    web = http_server(server, 0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(web.serve)
        while not web.started:
            await anyio.sleep(0.05)
        host, port = web.servers[0].sockets[0].getsockname()[:2]
        assert host == "127.0.0.1"
        url = f"http://127.0.0.1:{port}/mcp"
        async with streamable_http_client(url) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                assert {t.name for t in (await session.list_tools()).tools} == TOOLS
                stored = await call(session, "remember", text="The bike lock combination is 0451.")
                found = await call(session, "recall", query="bike lock combination", k=1)
                assert found["hits"][0]["id"] == stored["id"]
        async with httpx.AsyncClient() as raw:  # DNS rebinding: a foreign Host header is refused
            resp = await raw.post(url, headers={"Host": "attacker.example"}, json={})
            assert 400 <= resp.status_code < 500
        web.should_exit = True
    backend.close()
