"""``Client``: the ``Memory`` API over the daemon's HTTP API (Unix socket, or TCP with a token).

    from nuonuo.daemon import connect
    mem = connect() or Memory.open()      # the daemon when one runs, else embedded
    mem.remember("My sister Lena lives in Porto")

``Client`` satisfies ``nuonuo.api.MemoryAPI``: methods take and return what ``Memory``'s do
(``MemoryRecord``, ``Hit``), batches are checked with the same rules before anything is sent
(``nuonuo.validate``), and an error body from the daemon is raised again as the same
``NuonuoError`` subclass, so callers (the CLI) print the same message either way. Chat sessions
go through ``/v1/sessions``, so a chat can run while the daemon holds the store. This module
imports no model code: a client process stays small and fast.
"""

from __future__ import annotations

import builtins
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from nuonuo import errors
import nuonuo.daemon.uds as uds
from nuonuo.config import Config, load_config
from nuonuo.daemon.paths import DaemonPaths, read_token
from nuonuo.errors import DaemonError, InvalidInput, NuonuoError
from nuonuo.records import Hit, MemoryRecord
from nuonuo.validate import check_items, check_metadata

if TYPE_CHECKING:
    from nuonuo.api import Progress
    from nuonuo.chat.events import Turn


def _error_classes() -> dict[str, type[NuonuoError]]:
    found: dict[str, type[NuonuoError]] = {}
    for obj in vars(errors).values():
        if isinstance(obj, type) and issubclass(obj, NuonuoError):
            found[obj.kind] = obj
    return found


ERROR_CLASSES = _error_classes()


def _record(d: Mapping[str, Any]) -> MemoryRecord:
    fields = MemoryRecord.__dataclass_fields__
    return MemoryRecord(**{k: v for k, v in d.items() if k in fields})


def _hit(d: Mapping[str, Any]) -> Hit:
    fields = Hit.__dataclass_fields__
    return Hit(**{k: v for k, v in d.items() if k in fields})


def _metadata(metadata: Any) -> dict[str, Any] | None:
    """Metadata as JSON (``nuonuo.validate.check_metadata``: a set or a NaN is ``InvalidInput`` here,
    as it is in ``Memory``, not a ``TypeError`` of the JSON encoder)."""
    return None if metadata is None else check_metadata(metadata)


def _epoch_or_value(value: Any) -> Any:
    """datetimes are sent as ISO-8601 strings; strings and numbers as they are."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class Client:
    """The daemon's API with ``Memory``'s methods (``nuonuo.api.MemoryAPI``). Thread-safe (one pooled
    HTTP connection set). ``config``: the local home's configuration (the chat model, the plugins'
    settings, the text limit checked before sending); default: ``load_config()``."""

    def __init__(self, socket_path: str | Path | None = None, url: str | None = None,
                 token: str | None = None, timeout: float = 120.0, config: Config | None = None):
        if (socket_path is None) == (url is None):
            raise InvalidInput("give a Unix socket path or a URL (not both)")
        self.config = config or load_config()
        self.where = str(socket_path) if socket_path is not None else str(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http: Any
        if socket_path is not None:  # the standard library: a CLI call does not import httpx (~0.1 s)
            self._http = uds.UnixHTTP(str(socket_path), timeout, headers)
            self._timeout_errors, self._transport_errors = uds.TIMEOUT_ERRORS, uds.TRANSPORT_ERRORS
        else:
            import httpx

            self._http = httpx.Client(base_url=str(url).rstrip("/"), timeout=timeout, headers=headers)
            self._timeout_errors, self._transport_errors = (httpx.TimeoutException,), (httpx.TransportError,)
        self.sessions = RemoteSessions(self)

    # --- plumbing -------------------------------------------------------------------------------------
    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One HTTP request to the daemon; its JSON answer (or text), or the error it stands for."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except self._timeout_errors:
            raise DaemonError(f"the daemon at {self.where} did not answer in time; the request may or may "
                              "not have been applied") from None
        except self._transport_errors as exc:
            raise DaemonError(f"cannot talk to the daemon at {self.where} ({exc}); is it running? "
                              "`nuonuo daemon status`") from None
        if resp.status_code >= 400:
            raise self._error(resp)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    @staticmethod
    def _error(resp: Any) -> NuonuoError:  # an httpx.Response or a uds.Response
        try:
            body = resp.json()
            kind, detail = str(body["error"]), str(body["detail"])
        except (ValueError, KeyError, TypeError):
            kind, detail = "", f"the daemon answered {resp.status_code}: {resp.text[:200]}"
        cls = ERROR_CLASSES.get(kind)
        if cls is None:
            cls = InvalidInput if 400 <= resp.status_code < 500 else DaemonError
        err = cls(detail)
        return err

    # --- daemon -----------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.request("GET", "/v1/health")

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/v1/status")

    # --- writing ----------------------------------------------------------------------------------------
    def remember(self, text: str, key: str | None = None, namespace: str = "default",
                 metadata: Mapping[str, Any] | None = None, timestamp: Any = None,
                 importance: float = 0.5) -> MemoryRecord:
        body = {"text": text, "key": key, "namespace": namespace, "metadata": _metadata(metadata),
                "timestamp": _epoch_or_value(timestamp), "importance": importance}
        return _record(self.request("POST", "/v1/memories", json=body))

    def remember_many(self, items: Iterable[Any], namespace: str = "default", batch_size: int | None = None,
                      progress: Progress | None = None) -> builtins.list[str]:
        """Like ``Memory.remember_many``: every item is validated first (one bad item sends nothing),
        then batches go to the daemon; each acknowledged batch is durable."""
        items = [self._wire_item(it) for it in items]
        check_items(items, namespace, self.config.store.max_text_chars)  # the daemon checks again
        ids: builtins.list[str] = []
        for chunk in self._chunks(items, batch_size or 256):
            ids.extend(self.request("POST", "/v1/memories/batch",
                                    json={"items": chunk, "namespace": namespace})["ids"])
            if progress:
                progress(len(chunk))
        return ids

    def _chunks(self, items: builtins.list[Any], count: int) -> Iterable[builtins.list[Any]]:
        """Batches of at most ``count`` items and at most half the daemon's body limit in bytes."""
        budget = self.config.daemon.max_body_bytes // 2
        chunk: builtins.list[Any] = []
        size = 0
        for item in items:
            n = len(json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogatepass"))
            if chunk and (len(chunk) >= count or size + n > budget):
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += n
        if chunk:
            yield chunk

    @staticmethod
    def _wire_item(item: Any) -> Any:
        if isinstance(item, Mapping):
            d = {k: v for k, v in item.items() if v is not None}
            if "timestamp" in d:
                d["timestamp"] = _epoch_or_value(d["timestamp"])
            return d
        return item

    def update(self, id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None,
               importance: float | None = None) -> MemoryRecord:
        body = {"text": text, "metadata": _metadata(metadata), "importance": importance}
        return _record(self.request("PATCH", f"/v1/memories/{_path(id)}", json=body))

    def forget(self, id: str | None = None, *, key: str | None = None, namespace: str | None = None) -> int:
        return self.request("POST", "/v1/forget", json={"id": id, "key": key, "namespace": namespace})["forgotten"]

    def associate(self, cue_id: str, target_id: str, weight: float = 1.0, kind: str = "link") -> None:
        self.request("POST", "/v1/associate",
                     json={"cue_id": cue_id, "target_id": target_id, "weight": weight, "kind": kind})

    def associations(self, id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/v1/memories/{_path(id)}/associations")["associations"]

    def consolidate(self, **options: Any) -> dict[str, Any]:
        """Run sleep now on the daemon (``epochs``, ``noise``, ``paraphrase`` as ``Memory.consolidate``)."""
        return self.request("POST", "/v1/consolidate", json=options or None)["report"]

    def flush(self) -> None:
        """Nothing to do: the daemon flushes its own access counts."""

    # --- reading ----------------------------------------------------------------------------------------
    def recall(self, query: str | None = None, k: int | None = None, namespace: str = "default",
               at: Any = None, key: str | None = None) -> list[Hit]:
        body = {"query": query, "k": k, "namespace": namespace, "at": _epoch_or_value(at), "key": key}
        return [_hit(h) for h in self.request("POST", "/v1/recall", json=body)["hits"]]

    def get(self, id: str) -> MemoryRecord:
        if not isinstance(id, str) or not id:
            raise errors.NotFound(f"no memory with id {id!r}")
        return _record(self.request("GET", f"/v1/memories/{_path(id)}"))

    def list(self, namespace: str | None = "default", limit: int = 50, offset: int = 0,
             include_history: bool = False) -> list[MemoryRecord]:
        params: dict[str, Any] = {"limit": limit, "offset": offset, "include_history": include_history}
        if namespace is None:
            params["all_namespaces"] = True
        else:
            params["namespace"] = namespace
        return [_record(r) for r in self.request("GET", "/v1/memories", params=params)["memories"]]

    def records(self) -> builtins.list[MemoryRecord]:
        return self.list(None, limit=10**9, include_history=True)

    def lookup(self, key: str, namespace: str = "default") -> MemoryRecord | None:
        rec = self.request("POST", "/v1/lookup", json={"key": key, "namespace": namespace})["memory"]
        return _record(rec) if rec is not None else None

    def history(self, key: str, namespace: str = "default") -> builtins.list[MemoryRecord]:
        return [_record(r) for r in
                self.request("POST", "/v1/history", json={"key": key, "namespace": namespace})["memories"]]

    def namespaces(self) -> dict[str, int]:
        return self.request("GET", "/v1/namespaces")

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/v1/stats")

    def export(self, path: str | Path, namespace: str | None = None) -> int:
        """Write every memory (history included) as JSON lines to a local file; returns the count."""
        params = {"namespace": namespace} if namespace is not None else {}
        n = 0
        try:
            with self._http.stream("GET", "/v1/export", params=params) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                with open(path, "w", encoding="utf-8") as fh:
                    for line in resp.iter_lines():
                        if line:
                            fh.write(line + "\n")
                            n += 1
        except self._transport_errors as exc:
            raise DaemonError(f"lost the daemon at {self.where} during export ({exc})") from None
        return n


def _path(id: str) -> str:
    from urllib.parse import quote

    return quote(str(id), safe="")


class RemoteSessions:
    """The daemon's chat sessions (``nuonuo.api.ChatSessions``) through ``/v1/sessions``."""

    def __init__(self, client: Client):
        self.client = client

    def save(self, session: Mapping[str, Any], new_turns: Sequence[Turn]) -> None:
        body = {"session": dict(session),
                "new_turns": [{"role": t.role, "text": t.text, "index": t.index} for t in new_turns]}
        self.client.request("PUT", f"/v1/sessions/{_path(str(session['id']))}", json=body)

    def load(self, session_id: str) -> tuple[dict[str, Any], builtins.list[Turn]]:
        from nuonuo.chat.events import Turn

        data = self.client.request("GET", f"/v1/sessions/{_path(session_id)}")
        turns = [Turn(role=t["role"], text=t["text"], index=int(t["index"]), memory_id=t.get("memory_id"))
                 for t in data["turns"]]
        return data["session"], turns

    def list(self) -> builtins.list[dict[str, Any]]:
        return self.client.request("GET", "/v1/sessions")["sessions"]

    def delete(self, session_id: str) -> None:
        self.client.request("DELETE", f"/v1/sessions/{_path(session_id)}")


def connect(home: str | Path | None = None, config: Config | None = None, wait_s: float = 60.0) -> Client | None:
    """A ``Client`` of the daemon serving ``home`` if one is running, else None.

    Cheap when none runs (a lock probe, no network). If one holds the daemon lock but is still
    starting (loading the model), waits up to ``wait_s`` for its socket to answer."""
    cfg = config or load_config(home)
    paths = DaemonPaths.of(cfg)
    if not paths.running():
        return None
    deadline = time.monotonic() + wait_s
    last: DaemonError | None = None
    while True:
        if paths.socket.exists():
            client = Client(socket_path=paths.socket, timeout=cfg.daemon.request_timeout_s, config=cfg)
            try:
                client.health()
                return client
            except DaemonError as exc:
                last = exc
                client.close()
        if not paths.running():
            return None
        if time.monotonic() > deadline:
            raise DaemonError(f"a nuonuo daemon holds {paths.home} but does not answer on {paths.socket}"
                              + (f" ({last.message})" if last else "") + f"; see {paths.log}")
        time.sleep(0.1)


def connect_tcp(url: str, token_file: str | Path, timeout: float = 120.0) -> Client:
    """A ``Client`` of a daemon's TCP listener (``http://127.0.0.1:PORT``) with its token file."""
    token = read_token(Path(token_file))
    if token is None:
        raise InvalidInput(f"no token in {token_file}")
    return Client(url=url, token=token, timeout=timeout)


__all__ = ["Client", "RemoteSessions", "connect", "connect_tcp"]
