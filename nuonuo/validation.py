"""The rules every way in applies to what it is given: ``Memory``, the daemon client (before it
sends anything) and the CLI. Each check returns the clean value or raises ``InvalidInput`` whose
message says what is wrong and what is allowed.

- namespace: 1-128 letters, digits or ``_ . : @ / -``, starting with a letter or digit;
- k: a whole number in [1, ``MAX_K``];
- text: a non-empty string without NUL bytes, at most ``[store] max_text_chars`` once stripped;
- metadata: a mapping that survives a JSON round trip (no NaN);
- importance: a number in [0, 1];
- key: a string with at least one letter or digit (its canonical form is what lookups compare).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any, Mapping

from nuonuo.canonical import canonical_key
from nuonuo.errors import InvalidInput
from nuonuo.records import MemoryRecord, to_epoch

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]{0,127}$")
MAX_K = 1000
ITEM_FIELDS = frozenset({"text", "key", "namespace", "metadata", "timestamp", "importance", "id"})


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise InvalidInput(
            f"namespace {namespace!r} is not valid: use 1-128 letters, digits or _ . : @ / - "
            "(starting with a letter or digit)")
    return namespace


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidInput(f"k must be a whole number, not {k!r}")
    if k <= 0 or k > MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}")
    return k


def check_text(text: Any, limit: int, what: str = "text") -> str:
    """The text stripped of surrounding white space."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be a string, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(f"{what} is empty")
    if "\x00" in stripped:
        raise InvalidInput(f"{what} contains NUL bytes: binary data is not stored")
    if len(stripped) > limit:
        raise InvalidInput(
            f"{what} is {len(stripped):,} characters, over the limit of {limit:,}; split it into "
            "smaller memories or raise [store] max_text_chars")
    return stripped


def check_metadata(metadata: Any) -> dict[str, Any]:
    """A plain JSON object (a copy)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"metadata must be a mapping of names to values, not {type(metadata).__name__}")
    try:
        return json.loads(json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata must be JSON-serialisable: {exc}") from None


def check_importance(importance: Any) -> float:
    if isinstance(importance, bool) or not isinstance(importance, (int, float)) or not 0 <= importance <= 1:
        raise InvalidInput(f"importance must be a number between 0 and 1, not {importance!r}")
    return float(importance)


def check_key(key: Any) -> str | None:
    """The canonical form of a key (None for no key)."""
    if key is None:
        return None
    if not isinstance(key, str) or not canonical_key(key):
        raise InvalidInput(f"key must be a non-empty string with letters or digits, not {key!r}")
    return canonical_key(key)


def prepare(item: Any, namespace: str, max_text_chars: int) -> MemoryRecord:
    """One item (a string, or a mapping with the fields of ``Memory.remember``) as an unsaved record."""
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, Mapping):
        raise InvalidInput(f"an item must be a string or an object with 'text', not {type(item).__name__}")
    unknown = set(item) - ITEM_FIELDS
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))}")
    text = check_text(item.get("text"), max_text_chars)
    ns = check_namespace(item.get("namespace") or namespace)
    key = item.get("key")
    canon = check_key(key)
    importance = check_importance(item.get("importance", 0.5))
    now = time.time()
    created = to_epoch(item.get("timestamp")) or now
    return MemoryRecord(
        id=item.get("id") or uuid.uuid4().hex, text=text, namespace=ns, key=key,
        metadata=check_metadata(item.get("metadata")), created_at=created, updated_at=now,
        last_access=0.0, importance=importance, access_count=0, sha256=content_hash(text),
        key_canonical=canon)
