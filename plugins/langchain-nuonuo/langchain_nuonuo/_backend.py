"""Which nuonuo the integration talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nuonuo.api import MemoryAPI
from nuonuo.api import check_memory as _check


def open_memory(home: str | Path | None = None, backend: str | None = None) -> MemoryAPI:
    """The nuonuo memory for this process, chosen by ``[plugins] backend`` in nuonuo's config:
    ``auto`` (default): the daemon's client when a daemon serves ``home``, else ``Memory.open()``;
    ``daemon``, ``embedded`` or ``shared`` (the store lock per call, for several processes).

    Every class here accepts any ``nuonuo.api.MemoryAPI`` (``Memory``, the daemon's client,
    ``SharedMemory``); close it when done."""
    from nuonuo.shared_memory import open_backend

    return open_backend(home, backend)


def check_memory(memory: Any) -> MemoryAPI:
    """Refuse, with a clear message, an object that is not a nuonuo memory (``nuonuo.api.MemoryAPI``)."""
    return _check(memory)
