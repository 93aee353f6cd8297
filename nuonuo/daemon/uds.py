"""HTTP/1.1 over the daemon's Unix socket with the standard library only.

The CLI talks to a local daemon on every call; importing httpx (with httpcore, and rich and click
through ``httpx._main``) took ~0.1 s of the ~0.3 s such a call costs. ``UnixHTTP`` has the few
methods ``Client`` uses (``request``, ``stream``, ``close``) with httpx's names for what they return
(``status_code``, ``headers``, ``json()``, ``text``, ``iter_lines()``). TCP (remote, with a token)
stays on httpx.

Connections are kept alive and pooled (one per concurrent caller): ``http.client`` connections are
not thread-safe, the pool is. A reused connection the daemon has closed meanwhile is retried once
on a fresh one (the request never reached the daemon).
"""

from __future__ import annotations

import http.client
import json as jsonlib
import socket
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Mapping
from urllib.parse import urlencode

TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError,)
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("nuonuo", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Response:
    """The parts of an HTTP response ``Client`` reads (httpx's names)."""

    def __init__(self, raw: http.client.HTTPResponse, body: bytes | None):
        self._raw = raw
        self.status_code = raw.status
        self.headers = {k.lower(): v for k, v in raw.getheaders()}
        self._body = body

    def read(self) -> bytes:
        if self._body is None:
            self._body = self._raw.read()
        return self._body

    @property
    def text(self) -> str:
        return self.read().decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.read())

    def iter_lines(self) -> Iterator[str]:
        while line := self._raw.readline():
            yield line.decode("utf-8").rstrip("\r\n")


class UnixHTTP:
    def __init__(self, socket_path: str, timeout: float, headers: Mapping[str, str] | None = None):
        self.socket_path = socket_path
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def _take(self) -> tuple[_Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return _Connection(self.socket_path, self.timeout), False

    def _give_back(self, conn: _Connection, response: http.client.HTTPResponse) -> None:
        if response.will_close or not response.isclosed():
            conn.close()
            return
        with self._lock:
            self._idle.append(conn)

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None, json: Any,
              ) -> tuple[_Connection, http.client.HTTPResponse]:
        if params:  # as httpx writes them: true/false, None as empty
            flat = {k: ("true" if v is True else "false" if v is False else "" if v is None else v)
                    for k, v in params.items()}
            path = f"{path}?{urlencode(flat)}"
        headers = dict(self.headers)
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn, reused = self._take()
        while True:
            try:
                conn.request(method, path, body=body, headers=headers)
                return conn, conn.getresponse()
            except _STALE:
                conn.close()
                if not reused:
                    raise
                conn, reused = _Connection(self.socket_path, self.timeout), False  # once, on a fresh one
            except BaseException:
                conn.close()
                raise

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None) -> Response:
        conn, raw = self._send(method, path, params, json)
        try:
            body = raw.read()
        except BaseException:
            conn.close()
            raise
        self._give_back(conn, raw)
        return Response(raw, body)

    @contextmanager
    def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
               json: Any = None) -> Iterator[Response]:
        conn, raw = self._send(method, path, params, json)
        try:
            yield Response(raw, None)
        except BaseException:
            conn.close()
            raise
        self._give_back(conn, raw)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
