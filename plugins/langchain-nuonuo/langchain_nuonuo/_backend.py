"""Which nuonuo the integration talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_memory(home: str | Path | None = None, backend: str | None = None) -> Any:
    """The nuonuo memory for this process, chosen by ``[plugins] backend`` in nuonuo's config:
    ``auto`` (default): the daemon's client when a daemon serves ``home``, else ``Memory.open()``;
    ``daemon``, ``embedded`` or ``shared`` (the store lock per call, for several processes).

    Every class here accepts any object with ``Memory``'s methods; close it when done."""
    from nuonuo.shared_memory import open_backend

    return open_backend(home, backend)


def check_memory(memory: Any, needs: tuple[str, ...]) -> Any:
    """Refuse, with a clear message, an object that lacks the methods the caller needs."""
    missing = [name for name in needs if not callable(getattr(memory, name, None))]
    if missing:
        raise TypeError(f"{type(memory).__name__} is not a nuonuo memory: it has no {', '.join(missing)}; "
                        "pass nuonuo.Memory.open(), a daemon client, or langchain_nuonuo.open_memory()")
    return memory
