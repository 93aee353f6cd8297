"""The daemon's HTTP API: one endpoint per ``Memory`` method, plus health, status and consolidation.

The OpenAPI document is served at ``/openapi.json`` (and ``/docs``). Every error is a JSON body
``{"error": kind, "detail": message}``: a ``NuonuoError`` keeps its own status (422 bad input,
404 unknown id, 409 store locked, 507 disk full, 500 a damaged store file, …), a malformed or mistyped body is 422, a body over
``[daemon] max_body_bytes`` is 413, a TCP request without the bearer token is 401. Bad input never
reaches the store half-checked: the request is validated whole before anything is written.
A store fault fails only the request that met it (one line in the log, no traceback): reads go on
while writes fail on a full disk, and writes work again once space is freed, without a restart.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nuonuo import __version__
from nuonuo.config import Config
from nuonuo.daemon.schemas import (AssociateBody, ConsolidateBody, ERRORS, ErrorBody, ForgetBody, KeyBody,
                                   RecallBody, RememberBody, RememberManyBody, SaveSessionBody, UpdateBody,
                                   check_time)
from nuonuo.daemon.group_commit import GroupCommitter
from nuonuo.daemon.service import Service
from nuonuo.errors import InvalidInput, NuonuoError, PayloadTooLarge, StoreError, Unauthorized
from nuonuo.validate import TEXT_PATTERN, check_namespace

log = logging.getLogger("nuonuo.daemon")

def error_response(status: int, kind: str, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers or None)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        if err.get("type") == "json_invalid":
            return f"the request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts) or "the request is not valid"


# --- transport guard: token, body size, body timeout, activity ------------------------------------
class Guard:
    """Pure ASGI middleware in front of the app.

    - Anything but the Unix socket (whose ``scope["server"]`` is ``(path, None)``; TCP has a port)
      must carry ``Authorization: Bearer <token>``; the socket is protected by its file mode.
    - The body is read whole (at most ``max_body_bytes``, within ``timeout_s``) before the app sees
      it, so an oversized or stalled upload is refused before any work starts.
    """

    def __init__(self, app, service: Service, token: str | None, max_body: int, timeout_s: float):
        self.app, self.service, self.token = app, service, token
        self.max_body, self.timeout_s = max_body, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        server = scope.get("server")
        on_unix_socket = isinstance(server, (tuple, list)) and len(server) == 2 and server[1] is None
        if not on_unix_socket and not self._authorised(scope):
            resp = error_response(401, Unauthorized.kind, "this TCP listener needs the bearer token "
                                  "from the daemon's token file (Authorization: Bearer …)",
                                  **{"WWW-Authenticate": "Bearer"})
            return await resp(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await self._too_large(scope, receive, send)
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.timeout_s)
        except asyncio.TimeoutError:
            return await error_response(408, "timeout", f"the request body did not arrive within "
                                        f"{self.timeout_s:g} s")(scope, receive, send)
        except _TooLarge:
            return await self._too_large(scope, receive, send)
        if body is None:  # the client went away
            return
        if not scope.get("path", "").endswith(("/health", "/status")):
            self.service.touch()
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authorised(self, scope) -> bool:
        if not self.token:
            return False
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                given = value.decode("latin-1")
                return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), self.token)
        return False

    async def _read_body(self, receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _too_large(self, scope, receive, send):
        resp = error_response(413, PayloadTooLarge.kind,
                              f"the request body is over the limit of {self.max_body:,} bytes "
                              "([daemon] max_body_bytes); send it in smaller batches")
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


# --- the app ------------------------------------------------------------------------------------------
def create_app(service: Service, config: Config, token: str | None = None) -> Any:
    """The FastAPI app, wrapped in ``Guard``. ``token`` is what TCP clients must send."""
    app = FastAPI(title="nuonuo memory daemon", version=__version__, responses=ERRORS,
                  description="A local memory for LLM agents. Errors are {error, detail} JSON bodies.")
    app.state.service = service
    group = GroupCommitter(service.writer)  # concurrent remembers: one encoder batch, one commit

    def openapi() -> dict[str, Any]:
        """The generated document, with the text limit of this daemon's config."""
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = FastAPI.openapi(app)  # generated once, then kept as app.openapi_schema
        _state_text_limit(schema, config.store.max_text_chars)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to adapt the document

    # registered in this order, which is the order of the OpenAPI document's paths
    _error_handlers(app)
    _status_routes(app, service, config, group)
    _write_routes(app, service, group)
    _session_routes(app, service)
    _read_routes(app, service)
    return Guard(app, service, token, config.daemon.max_body_bytes, config.daemon.request_timeout_s)


def _record(rec) -> dict[str, Any]:
    return rec.to_dict()


def _error_handlers(app: FastAPI) -> None:
    """Every error as an ``{error, detail}`` body with its status."""

    @app.exception_handler(NuonuoError)
    async def _nuonuo(request: Request, exc: NuonuoError):
        status = exc.http_status if 400 <= exc.http_status < 600 else 400
        if isinstance(exc, StoreError):
            log.error("%s %s: %s", request.method, request.url.path, exc.message)
        return JSONResponse(exc.to_dict(), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return error_response(422, InvalidInput.kind, _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = {400: InvalidInput.kind, 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(RecursionError)
    async def _deep(request: Request, exc: RecursionError):
        return error_response(422, InvalidInput.kind, "the request body is nested too deeply")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", f"{type(exc).__name__}: {exc} (see the daemon log)")


def _status_routes(app: FastAPI, service: Service, config: Config, group: GroupCommitter) -> None:
    """Health and status."""

    @app.get("/v1/health", summary="Is the daemon up")
    def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid(), "version": __version__}

    @app.get("/v1/status", summary="Pid, uptime, counts, listeners, the sleep job")
    def status() -> dict[str, Any]:
        mem = service.reader()
        stats = mem.stats()
        sleep = service.sleep.describe() if service.sleep is not None else None
        return {"pid": os.getpid(), "version": __version__, "uptime_s": round(time.time() - service.started, 1),
                "idle_s": round(service.idle_seconds(), 1), "memories": stats.get("memories"),
                "store": stats.get("store"), "home": str(config.home), "reloads": service.reloads,
                "sleep": sleep, "remember_batches": {"batches": group.batches, "calls": group.calls}}


def _write_routes(app: FastAPI, service: Service, group: GroupCommitter) -> None:
    """Writing: remember, update, forget, associate, consolidate."""

    @app.post("/v1/memories", summary="Remember one memory")
    def remember(body: RememberBody) -> dict[str, Any]:
        ts = check_time(body.timestamp, "timestamp")
        rec = group.remember(body.text, key=body.key, namespace=body.namespace,
                             metadata=body.metadata, timestamp=ts, importance=body.importance)
        return _record(rec)

    @app.post("/v1/memories/batch", summary="Remember many memories (all validated before any is stored)")
    def remember_many(body: RememberManyBody) -> dict[str, Any]:
        items: list[Any] = []
        for pos, item in enumerate(body.items):
            if isinstance(item, str):
                items.append(item)
                continue
            d = item.model_dump(exclude_none=True)
            try:
                if "timestamp" in d:
                    d["timestamp"] = check_time(d["timestamp"], "timestamp")
            except InvalidInput as exc:
                raise InvalidInput(f"item {pos}: {exc.message}") from None
            items.append(d)
        with service.writer() as mem:
            ids = mem.remember_many(items, namespace=body.namespace)
        return {"ids": ids}

    @app.patch("/v1/memories/{id}", summary="Change a memory's text, metadata or importance")
    def update(id: str, body: UpdateBody) -> dict[str, Any]:
        with service.writer() as mem:
            return _record(mem.update(id, text=body.text, metadata=body.metadata, importance=body.importance))

    @app.delete("/v1/memories/{id}", summary="Forget one memory")
    def forget_one(id: str) -> dict[str, Any]:
        with service.writer() as mem:
            return {"forgotten": mem.forget(id)}

    @app.post("/v1/forget", summary="Forget by id, by key (in a namespace) or a whole namespace")
    def forget(body: ForgetBody) -> dict[str, Any]:
        with service.writer() as mem:
            return {"forgotten": mem.forget(body.id, key=body.key, namespace=body.namespace)}

    @app.post("/v1/associate", summary="Link two memories (a Hebbian association cue → target)")
    def associate(body: AssociateBody) -> dict[str, Any]:
        with service.writer() as mem:
            mem.get(body.cue_id), mem.get(body.target_id)  # unknown ids → 404
            mem.associate(body.cue_id, body.target_id, weight=body.weight, kind=body.kind)
        return {"associated": [body.cue_id, body.target_id]}

    @app.get("/v1/memories/{id}/associations", summary="A memory's links, in and out")
    def associations(id: str) -> dict[str, Any]:
        mem = service.reader()
        mem.get(id)
        return {"associations": _plain(mem.associations(id))}

    @app.post("/v1/consolidate", summary="Run the sleep consolidation now; returns its report")
    def consolidate(body: ConsolidateBody | None = None) -> dict[str, Any]:
        options = body.model_dump(exclude_none=True) if body is not None else {}
        if service.sleep is not None:
            report = service.sleep.run_now(options)
        else:
            report = service.reader().consolidate(**options)
        return {"report": _plain(report)}


def _session_routes(app: FastAPI, service: Service) -> None:
    """Chat sessions (nuonuo.api.ChatSessions: a chat runs while the daemon holds the store)."""

    @app.get("/v1/sessions", summary="Every chat session, most recently used first")
    def sessions() -> dict[str, Any]:
        return {"sessions": _plain(service.reader().sessions.list())}

    @app.get("/v1/sessions/{id}", summary="A chat session and its turns")
    def load_session(id: str) -> dict[str, Any]:
        row, turns = service.reader().sessions.load(id)
        return {"session": _plain(row), "turns": [{"role": t.role, "text": t.text, "index": t.index,
                                                   "memory_id": t.memory_id} for t in turns]}

    @app.put("/v1/sessions/{id}", summary="Append a chat session's new turns and write its row")
    def save_session(id: str, body: SaveSessionBody) -> dict[str, Any]:
        from nuonuo.chat.events import Turn

        if body.session.id != id:
            raise InvalidInput(f"the session in the body is {body.session.id!r}, not {id!r}")
        check_namespace(body.session.namespace)
        turns = [Turn(role=t.role, text=t.text, index=t.index) for t in body.new_turns]
        with service.writer() as mem:
            mem.sessions.save(body.session.model_dump(), turns)
        return {"saved": id, "turns": len(turns)}

    @app.delete("/v1/sessions/{id}", summary="Delete a chat session and its turns (its memories stay)")
    def delete_session(id: str) -> dict[str, Any]:
        with service.writer() as mem:
            mem.sessions.load(id)  # unknown id → 404
            mem.sessions.delete(id)
        return {"deleted": id}


def _read_routes(app: FastAPI, service: Service) -> None:
    """Reading: recall, get, list, lookup, history, namespaces, stats, export."""

    @app.post("/v1/recall", summary="Recall the memories most relevant to a query (or a key's value)")
    def recall(body: RecallBody) -> dict[str, Any]:
        at = check_time(body.at, "at")
        hits = service.reader().recall(body.query, k=body.k, namespace=body.namespace, at=at, key=body.key)
        return {"hits": [h.to_dict() for h in hits]}

    @app.get("/v1/memories/{id}", summary="One memory by id")
    def get(id: str) -> dict[str, Any]:
        return _record(service.reader().get(id))

    @app.get("/v1/memories", summary="Memories of a namespace (or all), newest first")
    def list_(namespace: str = "default", all_namespaces: bool = False,
              limit: int = Query(50, ge=1, le=10**9), offset: int = Query(0, ge=0, le=10**9),
              include_history: bool = False) -> dict[str, Any]:
        recs = service.reader().list(None if all_namespaces else namespace, limit=limit, offset=offset,
                                     include_history=include_history)
        return {"memories": [_record(r) for r in recs]}

    @app.post("/v1/lookup", summary="The current value of an exact key (null if none)")
    def lookup(body: KeyBody) -> dict[str, Any]:
        rec = service.reader().lookup(body.key, body.namespace)
        return {"memory": _record(rec) if rec is not None else None}

    @app.post("/v1/history", summary="Every value a key has had, newest first")
    def history(body: KeyBody) -> dict[str, Any]:
        return {"memories": [_record(r) for r in service.reader().history(body.key, body.namespace)]}

    @app.get("/v1/namespaces", summary="Namespace → number of active memories")
    def namespaces() -> dict[str, int]:
        return service.reader().namespaces()

    @app.get("/v1/stats", summary="Counts, namespaces, store and index figures")
    def stats() -> dict[str, Any]:
        return _plain(service.reader().stats())

    @app.get("/v1/export", summary="Every memory as JSON lines (history included)",
             response_class=StreamingResponse,
             responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}})
    def export(namespace: str | None = None) -> StreamingResponse:
        import json

        mem = service.reader()
        recs = sorted(mem.list(namespace, limit=10**12, include_history=True), key=lambda r: r.created_at)

        def lines():
            for r in recs:
                yield json.dumps({"id": r.id, "text": r.text, "key": r.key, "namespace": r.namespace,
                                  "metadata": r.metadata, "timestamp": r.timestamp,
                                  "importance": r.importance}, ensure_ascii=False) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")


def _state_text_limit(node: Any, limit: int) -> None:
    """Every text field of the document (those with ``TEXT_PATTERN``) gets ``maxLength: limit``."""
    if isinstance(node, dict):
        if node.get("pattern") == TEXT_PATTERN:
            node["maxLength"] = limit
        for value in node.values():
            _state_text_limit(value, limit)
    elif isinstance(node, list):
        for value in node:
            _state_text_limit(value, limit)


def _plain(value: Any) -> Any:
    """A report or result → JSON-able values (dataclasses, numpy scalars, paths)."""
    import dataclasses
    import json

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


__all__ = ["create_app", "check_time", "ErrorBody"]
