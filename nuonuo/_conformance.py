"""Static conformance to ``nuonuo.api``, for the type checker only (nothing imports this module).

mypy checks each assignment below: an implementation whose method drifts from ``MemoryAPI`` (a
renamed argument, another default's type, a missing method, another return type) fails
``tests/test_typecheck.py``, and so ``make test``.
"""

from __future__ import annotations

from nuonuo.api import ChatSessions, MemoryAPI
from nuonuo.chat.sessions import SessionStore
from nuonuo.daemon.client import Client, RemoteSessions
from nuonuo.memory import Memory
from nuonuo.shared_memory import SharedMemory, SharedSessions


def embedded(memory: Memory) -> MemoryAPI:
    return memory


def daemon_client(client: Client) -> MemoryAPI:
    return client


def shared(shared: SharedMemory) -> MemoryAPI:
    return shared


def sessions(embedded: SessionStore, remote: RemoteSessions, shared: SharedSessions) -> list[ChatSessions]:
    return [embedded, remote, shared]
