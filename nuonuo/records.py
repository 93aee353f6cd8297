"""The values the public API hands out: ``MemoryRecord`` (a stored memory) and ``Hit`` (a recall result).

Score contract for ``Hit.score``: higher is more relevant, in [0, 1]. It is the fused relevance the
ranking used; ``Hit.scores`` keeps each channel's own figure (``cosine``: query·memory cosine;
``hopfield``: the settled-state score; ``ngram``, ``exact``, ``hebbian`` where those channels
contributed), so a person can see why a memory surfaced.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from nuonuo.errors import InvalidInput


def to_epoch(value: Any, what: str = "timestamp") -> float | None:
    """A datetime, an ISO-8601 string, a LongMemEval date ("2023/05/20 (Sat) 02:21") or epoch seconds
    → UTC epoch seconds. Naive datetimes are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a datetime or an ISO-8601 string, not {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidInput(f"{what} must be finite, not {value!r}")
        return float(value)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:  # LongMemEval's "2023/05/20 (Sat) 02:21"
                parts = text.split()
                dt = datetime.strptime(f"{parts[0]} {parts[-1]}", "%Y/%m/%d %H:%M")
            except (ValueError, IndexError):
                raise InvalidInput(f"{what} {value!r} is not an ISO-8601 date (e.g. 2024-05-01T10:00:00)") from None
    else:
        raise InvalidInput(f"{what} must be a datetime or an ISO-8601 string, not {type(value).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def to_iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat()


@dataclass
class MemoryRecord:
    """One stored memory. Times are UTC epoch seconds (``*_iso`` properties give ISO-8601)."""

    id: str
    text: str
    namespace: str = "default"
    key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    last_access: float = 0.0
    importance: float = 0.5
    access_count: int = 0
    sha256: str = ""
    status: str = "active"  # active | superseded (an older value of a key) | merged
    # ``nuonuo.canonical.canonical_key(key)``, what lookups compare: bookkeeping, left out of to_dict,
    # equality and repr (a daemon client's copy of a record has None)
    key_canonical: str | None = field(default=None, compare=False, repr=False)

    @property
    def timestamp(self) -> str | None:
        return to_iso(self.created_at)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["key_canonical"]  # bookkeeping of the key index, not part of the public record
        d["timestamp"] = self.timestamp
        d["updated"] = to_iso(self.updated_at)
        d["last_accessed"] = to_iso(self.last_access) if self.last_access else None
        return d


@dataclass
class Hit:
    """One recall result. ``source`` is the channel that found it: ``hopfield``, ``ngram``, ``exact``
    or ``hebbian``; ``hops`` is 0 for direct hits and the chain length for Hebbian ones, whose
    ``path`` lists the ids from the direct hit to this one."""

    id: str
    text: str
    score: float
    source: str
    hops: int = 0
    key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: str | None = None
    namespace: str = "default"
    scores: dict[str, float] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def export_line(r: "MemoryRecord") -> str:
    """One memory as a JSON line of ``Memory.export`` (what ``nuonuo import`` reads back)."""
    return json.dumps({"id": r.id, "text": r.text, "key": r.key, "namespace": r.namespace, "metadata": r.metadata,
                       "timestamp": r.timestamp, "importance": r.importance}, ensure_ascii=False) + "\n"
