"""nuonuo as an MCP server: any MCP client (Claude Desktop, Cursor, oterm, …) gets a long-term memory.

Tools: ``remember``, ``recall``, ``forget``, ``consolidate``, ``stats``, each with a JSON schema
built from typed arguments and a description written for the model that will call it.

Transport: stdio by default (the client starts ``nuonuo mcp`` itself); ``--http`` serves streamable
HTTP on 127.0.0.1 only. Run it as ``nuonuo mcp`` or ``python -m nuonuo.mcp_server``.

Every client starts its own server process, so several may share one home. A server never holds
the store between calls: it goes through the daemon when one runs, else through
``SharedMemory`` (the store lock per call, the caches rebuilt when another process wrote), so
concurrent clients queue for milliseconds and no acknowledged write is ever lost.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Callable, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from nuonuo.api import MemoryAPI
from nuonuo.config import Config, load_config
from nuonuo.errors import ConfigError, NuonuoError, StoreError
from nuonuo.shared_memory import BACKENDS, SharedMemory, daemon_client
from nuonuo.validate import NAMESPACE_PATTERN

logger = logging.getLogger("nuonuo.mcp")

INSTRUCTIONS = """nuonuo is the user's long-term memory, kept on their own machine.
- Call `recall` before answering anything that may depend on what the user said or did before
  (their preferences, people, projects, decisions, past conversations).
- Call `remember` for durable facts worth keeping: one self-contained fact per call, written so it
  makes sense without the conversation (names, not pronouns). Use `key` for a value that changes
  over time (e.g. "user.timezone"): a new value replaces the old one, which stays as history.
- Each recall hit says where it came from (`source`) and how relevant it is (`score`, 0 to 1)."""

Namespace = Annotated[
    str | None,
    Field(description="Memory namespace (a separate collection, e.g. a project name). "
                      "Leave empty for the default namespace.",
          pattern=NAMESPACE_PATTERN),
]
MetaValue = str | int | float | bool | None
T = TypeVar("T")


class Remembered(BaseModel):
    id: str = Field(description="The memory's id (pass it to `forget`)")
    namespace: str
    key: str | None = None
    timestamp: str | None = Field(None, description="When it was stored (ISO-8601, UTC)")
    text: str


class RecallHit(BaseModel):
    id: str
    text: str
    score: float = Field(description="Relevance in [0, 1]; higher is more relevant")
    source: str = Field(description="Channel that found it: hopfield, ngram, exact or hebbian")
    hops: int = Field(0, description="0 for direct hits; the association-chain length for hebbian ones")
    key: str | None = None
    namespace: str = "default"
    timestamp: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Recalled(BaseModel):
    query: str
    hits: list[RecallHit]


class Forgotten(BaseModel):
    deleted: int = Field(description="How many memories were deleted")


class MemoryBackend:
    """Where the tools send their calls: the daemon, or the store per call (``SharedMemory``)."""

    def __init__(self, config: Config, backend: str | None = None):
        self.config = config
        self.backend = backend or config.plugins.backend
        if self.backend not in BACKENDS:
            raise ConfigError(f"[plugins] backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        self.shared = SharedMemory(config=config, use_daemon=self.backend != "embedded")

    def run(self, fn: Callable[[MemoryAPI], T]) -> T:
        """``fn(memory)`` through the daemon, or on the store with its lock held for this call only."""
        if self.backend == "daemon" and daemon_client(self.config.home) is None:
            raise StoreError(f"no nuonuo daemon serves {self.config.home}; start one with `nuonuo daemon start`")
        return self.shared.run(fn)

    def warm_up(self) -> None:
        """Load the encoder ahead of the first call (in a background thread at start-up)."""
        try:
            self.shared.preload()
        except Exception:  # the first call reports the problem with its own message
            pass

    def close(self) -> None:
        self.shared.close()


def _tool_error(exc: Exception) -> ToolError:
    if isinstance(exc, NuonuoError):
        return ToolError(f"{exc.kind}: {exc.message}")
    return ToolError(f"nuonuo failed: {type(exc).__name__}: {exc}")


def build_server(home: str | Path | None = None, backend: str | None = None,
                 config: Config | None = None) -> tuple[MCPServer, MemoryBackend]:
    """The MCP server and the backend its tools call (close the backend when done)."""
    cfg = config or load_config(home)
    memory = MemoryBackend(cfg, backend)
    server = MCPServer("nuonuo", title="nuonuo memory", instructions=INSTRUCTIONS,
                       version=_version(), log_level="WARNING")
    tools = _Tools(server, memory, cfg.plugins.mcp_namespace)
    # registered in this order, which is the order of the server's tool list
    _memory_tools(tools)
    _maintenance_tools(tools)
    return server, memory


class _Tools:
    """What every tool needs: the server it is registered on, the backend it calls, the namespace
    it uses when the client names none."""

    def __init__(self, server: MCPServer, memory: MemoryBackend, default_ns: str):
        self.server, self.memory, self.default_ns = server, memory, default_ns

    def tool(self, annotations: ToolAnnotations):
        """Decorator: register ``fn`` as a tool, described by its docstring."""
        def register(fn):
            self.server.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
            return fn
        return register

    def run(self, name: str, fn: Callable[[MemoryAPI], T]) -> T:
        """``fn(memory)`` on the backend; any failure becomes a ``ToolError`` the client reads."""
        try:
            return self.memory.run(fn)
        except NuonuoError as exc:
            raise _tool_error(exc) from None
        except Exception as exc:  # a local server: say what broke rather than a bare "Error executing tool"
            logger.exception("nuonuo %s failed", name)
            raise _tool_error(exc) from None


def _memory_tools(t: _Tools) -> None:
    """remember, recall, forget."""
    tool, run, default_ns = t.tool, t.run, t.default_ns

    @tool(ToolAnnotations(title="Remember a fact", read_only_hint=False,
                          destructive_hint=False, idempotent_hint=True))
    def remember(
        text: Annotated[str, Field(min_length=1, description="The fact to remember, self-contained "
                                                             "(e.g. 'Lena, the user's sister, lives in Porto')")],
        key: Annotated[str | None, Field(description="Optional exact key for a value that changes over time "
                                                     "(e.g. 'user.timezone'); a new value replaces the old one, "
                                                     "which is kept as history")] = None,
        namespace: Namespace = None,
        metadata: Annotated[dict[str, MetaValue] | None,
                            Field(description="Optional labels stored with the memory, e.g. {\"topic\": \"family\"}")] = None,
    ) -> Remembered:
        """Store one memory in the user's long-term memory. Storing the same text again returns the
        existing memory instead of a duplicate. Durable once this returns."""
        rec = run("remember", lambda m: m.remember(text, key=key, namespace=namespace or default_ns,
                                                   metadata=metadata))
        return Remembered(id=rec.id, namespace=rec.namespace, key=rec.key, timestamp=rec.timestamp, text=rec.text)

    @tool(ToolAnnotations(title="Recall memories", read_only_hint=True))
    def recall(
        query: Annotated[str, Field(min_length=1, description="What to remember, as a question or keywords "
                                                              "(e.g. 'where does Lena live?')")],
        k: Annotated[int, Field(ge=1, le=50, description="How many memories to return")] = 5,
        namespace: Namespace = None,
        key: Annotated[str | None, Field(description="Look up the current value of this exact key "
                                                     "instead of searching")] = None,
    ) -> Recalled:
        """Find the memories most relevant to a query, best first. Each hit has its text, a relevance
        score in [0, 1], the channel that found it and its id."""
        hits = run("recall", lambda m: m.recall(query, k=k, namespace=namespace or default_ns, key=key))
        return Recalled(query=query, hits=[
            RecallHit(id=h.id, text=h.text, score=round(float(h.score), 4), source=h.source, hops=h.hops,
                      key=h.key, namespace=h.namespace, timestamp=h.timestamp, metadata=h.metadata or {})
            for h in hits])

    @tool(ToolAnnotations(title="Forget memories", read_only_hint=False,
                          destructive_hint=True, idempotent_hint=True))
    def forget(
        id: Annotated[str | None, Field(description="Id of the memory to delete (from remember or recall)")] = None,
        key: Annotated[str | None, Field(description="Delete every value this key has had")] = None,
        namespace: Namespace = None,
        everything_in_namespace: Annotated[bool, Field(description="With `namespace` and no id or key: delete "
                                                                   "the whole namespace. Only when the user asks")] = False,
    ) -> Forgotten:
        """Delete memories the user wants gone: one by id, every value of a key, or (only when the user
        explicitly asks) a whole namespace."""
        if id is not None:
            return Forgotten(deleted=run("forget", lambda m: m.forget(id)))
        if key is not None:
            return Forgotten(deleted=run("forget", lambda m: m.forget(key=key, namespace=namespace or default_ns)))
        if everything_in_namespace:
            if namespace is None:
                raise ToolError("everything_in_namespace needs the namespace to delete, named explicitly")
            return Forgotten(deleted=run("forget", lambda m: m.forget(namespace=namespace)))
        raise ToolError("forget needs an id, or a key, or a namespace with everything_in_namespace=true")


def _maintenance_tools(t: _Tools) -> None:
    """consolidate, stats."""
    tool, run = t.tool, t.run

    @tool(ToolAnnotations(title="Consolidate memory", read_only_hint=False,
                          destructive_hint=False))
    def consolidate() -> dict[str, Any]:
        """Run a sleep-consolidation pass now (replay associations, merge near-duplicates, decay unused
        memories, compact the store) and return its report. It also runs on its own on a schedule;
        call it only when the user asks."""
        return _plain(run("consolidate", lambda m: m.consolidate()))

    @tool(ToolAnnotations(title="Memory statistics", read_only_hint=True))
    def stats() -> dict[str, Any]:
        """How many memories are stored, per namespace, and what the memory is made of."""
        return _plain(run("stats", lambda m: m.stats()))


def _plain(value: Any) -> dict[str, Any]:
    """A report (dict or dataclass) as JSON-safe data."""
    import dataclasses
    import json

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, dict):
        value = {"result": value}
    return json.loads(json.dumps(value, default=str))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nuonuo")
    except PackageNotFoundError:
        return "0"


LOOPBACK = "127.0.0.1"


def http_server(server: MCPServer, port: int) -> Any:
    """A uvicorn server for streamable HTTP at ``http://127.0.0.1:<port>/mcp``: loopback only, never
    public (the SDK's DNS-rebinding protection checks Host/Origin against it). Port 0 picks a free one."""
    import uvicorn

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"port must be between 1 and 65535, not {port!r}")
    app = server.streamable_http_app(host=LOOPBACK)
    return uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))


def serve(home: str | Path | None = None, http: bool = False, port: int | None = None,
          backend: str | None = None) -> None:
    """Run the server until the client disconnects (stdio) or it is interrupted (HTTP)."""
    cfg = load_config(home)
    server, memory = build_server(config=cfg, backend=backend)
    threading.Thread(target=memory.warm_up, name="nuonuo-warm-up", daemon=True).start()
    try:
        if http:
            http_server(server, cfg.plugins.mcp_port if port is None else port).run()
        else:
            if sys.stdin.isatty():
                print("nuonuo MCP server on stdio: an MCP client starts this command itself "
                      "(see docs/plugins.md); Ctrl-C to quit", file=sys.stderr)
            server.run("stdio")
    finally:
        memory.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nuonuo.mcp_server", description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="data folder (default: $NUONUO_HOME)")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP on 127.0.0.1 instead of stdio")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: [plugins] mcp_port)")
    args = parser.parse_args(argv)
    try:
        serve(args.home, http=args.http, port=args.port)
    except NuonuoError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
