"""The input rules of the memory API, in one place: ``Memory``, the daemon client, the daemon's
request bodies (and so its OpenAPI document) and the CLI all check with these functions.

Rules (``InvalidInput`` with a message that says which one failed):

- **namespace**: 1-128 characters, ASCII letters, digits and ``_ . : @ / -``, starting with a
  letter or digit (``NAMESPACE_PATTERN``);
- **k** (hits to return): a whole number from 1 to ``MAX_K`` (1000);
- **text** (a memory, a query): a string of at most ``[store] max_text_chars`` characters with at
  least one that is not white space (``str.isspace``) and no NUL; what is stored is the text
  without the white space around it. ``TEXT_PATTERN`` says the last two as a regular expression;
- **key**: a string with at least one letter or digit, of any script (its canonical form,
  ``nuonuo.canonical.canonical_key``, is not empty; ``KEY_PATTERN``);
- **importance**: a number from 0 to 1;
- **metadata**: a mapping of names to JSON values (no NaN or infinity), or nothing;
- **an item** of ``remember_many``: a string, or a mapping with ``text`` and any of ``key``,
  ``namespace``, ``metadata``, ``timestamp``, ``importance``, ``id`` (nothing else).

This module is light on purpose (no numpy, no store): a client process checks a batch before it
sends anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import numpy as np

from nuonuo.canonical import canonical_key
from nuonuo.errors import InvalidInput
from nuonuo.records import MemoryRecord, to_epoch

MAX_K = 1000
DEFAULT_MAX_TEXT_CHARS = 100_000  # [store] max_text_chars
NAMESPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]{0,127}$"
NAMESPACE_RE = re.compile(NAMESPACE_PATTERN)
ITEM_FIELDS = frozenset({"text", "key", "namespace", "metadata", "timestamp", "importance", "id"})

# str.strip() removes exactly the characters for which str.isspace() is true: spell them out, so
# that the pattern means the same to Python's re, to the daemon's request validation and to a
# JSON Schema reader (``\s`` differs between regex engines: \x1c-\x1f, \x85, \ufeff).
# (tests/test_validate.py checks this list against every code point of this Python build).
SPACE_CHARS = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
               "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _char_class(chars: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in chars)


# leading white space, then one character that is neither white space nor NUL, then no NUL: one way
# to match only (linear time in a backtracking engine too)
TEXT_PATTERN = f"^[{_char_class(SPACE_CHARS)}]*[^\\u0000{_char_class(SPACE_CHARS)}][^\\u0000]*$"
KEY_PATTERN = r"[^\W_]"  # a letter or digit somewhere (Unicode in Python; ASCII to an ECMA-262 reader)


def check_namespace(namespace: Any) -> str:
    """A valid namespace, or ``InvalidInput``. The whole string must match (a trailing newline too)."""
    if not isinstance(namespace, str) or not NAMESPACE_RE.fullmatch(namespace):
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


def check_text(text: Any, what: str = "text", limit: int = DEFAULT_MAX_TEXT_CHARS) -> str:
    """The text stripped of the white space around it, or ``InvalidInput``."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > limit:
        raise InvalidInput(
            f"{what} is {len(text):,} characters, over the limit of {limit:,}; split it into "
            "smaller memories or raise [store] max_text_chars")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(f"{what} is empty")
    if "\x00" in stripped:
        raise InvalidInput(f"{what} contains NUL bytes: binary data is not stored")
    return stripped


def check_key(key: Any) -> str:
    """The key's canonical form (never empty), or ``InvalidInput``."""
    canon = canonical_key(key) if isinstance(key, str) else ""
    if not canon:
        raise InvalidInput(f"key must be a non-empty string with letters or digits, not {key!r}")
    return canon


def check_importance(importance: Any) -> float:
    if isinstance(importance, bool) or not isinstance(importance, (int, float)) or not 0 <= importance <= 1:
        raise InvalidInput(f"importance must be a number between 0 and 1, not {importance!r}")
    return float(importance)


def check_metadata(metadata: Any) -> dict[str, Any]:
    """A JSON-clean copy of the metadata (``{}`` for None), or ``InvalidInput``."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"metadata must be a mapping of names to values, not {type(metadata).__name__}")
    try:
        return json.loads(json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata must be JSON-serialisable: {exc}") from None


@dataclass
class Item:
    """One checked item of ``remember``/``remember_many``: what the store will hold."""

    text: str
    namespace: str
    key: str | None
    key_canonical: str | None
    metadata: dict[str, Any]
    timestamp: float | None  # epoch seconds; None = now
    importance: float
    id: str | None


def check_item(item: Any, namespace: str = "default", limit: int = DEFAULT_MAX_TEXT_CHARS) -> Item:
    """Check one item (a string or a mapping; see the module doc); ``namespace`` is used when the
    item names none."""
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, Mapping):
        raise InvalidInput(f"an item must be a string or an object with 'text', not {type(item).__name__}")
    unknown = set(item) - ITEM_FIELDS
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    text = check_text(item.get("text"), limit=limit)
    ns = check_namespace(item.get("namespace") or namespace)
    key = item.get("key")
    canon = check_key(key) if key is not None else None
    importance = check_importance(item.get("importance", 0.5))
    mid = item.get("id") or None
    if mid is not None and not isinstance(mid, str):
        raise InvalidInput(f"id must be a non-empty string, not {mid!r}")
    return Item(text=text, namespace=ns, key=key, key_canonical=canon, metadata=check_metadata(item.get("metadata")),
                timestamp=to_epoch(item.get("timestamp")), importance=importance, id=mid)


def check_items(items: Any, namespace: str = "default", limit: int = DEFAULT_MAX_TEXT_CHARS) -> list[Item]:
    """Every item checked; the first bad one raises ``InvalidInput`` naming its position."""
    out: list[Item] = []
    for pos, item in enumerate(items):
        try:
            out.append(check_item(item, namespace, limit))
        except InvalidInput as exc:
            raise InvalidInput(f"item {pos}: {exc.message}") from None
    return out


__all__ = ["MAX_K", "NAMESPACE_PATTERN", "TEXT_PATTERN", "KEY_PATTERN", "Item", "check_namespace", "check_k", "check_text",
           "check_key", "check_importance", "check_metadata", "check_item", "check_items"]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prepare(item: Any, namespace: str = "default", limit: int = DEFAULT_MAX_TEXT_CHARS) -> MemoryRecord:
    """One item (a string, or a mapping with the fields of ``remember``) as the unsaved record it
    would become; ``InvalidInput`` says what is wrong."""
    it = check_item(item, namespace, limit)
    now = time.time()
    return MemoryRecord(
        id=it.id or uuid.uuid4().hex, text=it.text, namespace=it.namespace, key=it.key,
        metadata=it.metadata, created_at=it.timestamp or now, updated_at=now, last_access=0.0,
        importance=it.importance, access_count=0, sha256=content_hash(it.text), key_canonical=it.key_canonical)


def check_vectors(vectors: Any, n: int, dim: int) -> "np.ndarray":
    """``n`` embeddings of size ``dim`` made beforehand (``remember_many(vectors=…)``), rows
    L2-normalised, or ``InvalidInput``."""
    import numpy as np

    arr = np.asarray(vectors, dtype=np.float32)
    if arr.shape != (n, dim):
        raise InvalidInput(f"vectors must be {n} rows of {dim} numbers (one per item), not an array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidInput("vectors hold NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InvalidInput("vectors hold an all-zero row")
    return arr / norms
