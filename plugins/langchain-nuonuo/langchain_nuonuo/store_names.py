"""How ``NuonuoStore`` names things in nuonuo, and the store's filter and match rules.

Namespaces. A LangGraph namespace is a tuple of labels, a nuonuo namespace one string matching
``[A-Za-z0-9][A-Za-z0-9_.:@/\\-]{0,127}``. A tuple becomes

    <root> "." escape(label_1) "." … "." escape(label_n)         e.g. ("memories", "Ana B") → langgraph.memories.Ana@20B

where ``escape`` keeps ``A-Z a-z 0-9 _ : / -`` and writes every other character as ``@XX`` per
UTF-8 byte (``@`` itself → ``@40``, ``.`` → ``@2E``). The escaped labels contain no ``.``, so the
separators are unambiguous and ``unescape`` inverts ``escape``: distinct tuples get distinct names.
A tuple whose name would pass 128 characters, or with an empty or non-string label, is refused
with ``InvalidNamespaceError``.

Keys. nuonuo's exact keys are canonicalised (case folded, punctuation collapsed: ``User.Name`` and
``user name`` are one key), so a store key is written in letters and digits only, which the
canonical form leaves alone: ``"k"`` + the key with ``a-w y z 0-9`` kept and every other character
as ``x`` + two lowercase hex digits per UTF-8 byte (``"User.Name"`` → ``kx55serx2ename``). Every
key, the empty one included, maps to a distinct, valid, canonical-stable nuonuo key.
"""

from __future__ import annotations

import re
import string
from typing import Any, Iterable

from langgraph.store.base import InvalidNamespaceError

MAX_NAMESPACE = 128
_LABEL_SAFE = frozenset(string.ascii_letters + string.digits + "_:/-")
_KEY_SAFE = frozenset("abcdefghijklmnopqrstuvwyz0123456789")  # no "x": it starts an escape
_ROOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:/\-]{0,63}$")
_ESCAPE_RE = re.compile(r"@([0-9A-F]{2})")


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidNamespaceError(f"{what} {text!r} is not valid Unicode (a lone surrogate)") from None


def check_root(root: Any) -> str:
    if not isinstance(root, str) or not _ROOT_RE.match(root):
        raise ValueError(f"root must be 1-64 letters, digits or _ : / - (starting with a letter or digit), "
                         f"not {root!r}")
    return root


def escape_label(label: str) -> str:
    return "".join(ch if ch in _LABEL_SAFE else "".join(f"@{b:02X}" for b in _utf8(ch, "namespace label"))
                   for ch in label)


def unescape_label(text: str) -> str:
    """Inverse of ``escape_label``; ``ValueError`` for text ``escape_label`` cannot produce."""
    if any(ch not in _LABEL_SAFE and ch != "@" for ch in text):
        raise ValueError(f"not an escaped label: {text!r}")
    pieces = _ESCAPE_RE.split(text)  # [plain, hex, plain, hex, …]
    if "@" in "".join(pieces[0::2]):
        raise ValueError(f"stray @ in {text!r}")
    raw = bytearray()
    for i, piece in enumerate(pieces):
        raw.extend(bytes([int(piece, 16)]) if i % 2 else piece.encode("ascii"))
    label = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if not label or escape_label(label) != text:  # a safe character written escaped: not ours
        raise ValueError(f"not a canonical escape: {text!r}")
    return label


def check_labels(namespace: Any, *, for_write: bool = False) -> tuple[str, ...]:
    """LangGraph's own rules: a tuple of non-empty strings without "." or NUL; a write needs at
    least one label and a root label other than "langgraph"."""
    if not isinstance(namespace, tuple):
        raise InvalidNamespaceError(f"a namespace is a tuple of strings, not {type(namespace).__name__}")
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(f"namespace labels must be strings, not {type(label).__name__} "
                                        f"({label!r} in {namespace})")
        if not label:
            raise InvalidNamespaceError(f"namespace labels cannot be empty strings ({namespace})")
        if "." in label or "\x00" in label:
            raise InvalidNamespaceError(f"namespace label {label!r} contains a period or a NUL byte ({namespace})")
    if for_write and not namespace:
        raise InvalidNamespaceError("namespace cannot be empty")
    if for_write and namespace[0] == "langgraph":
        raise InvalidNamespaceError(f'the root label of a namespace cannot be "langgraph" ({namespace})')
    return namespace


def to_nuonuo(root: str, namespace: tuple[str, ...], *, for_write: bool = False) -> str:
    """The nuonuo namespace of a LangGraph namespace (a write's must be non-empty, not "langgraph" at the root)."""
    name = ".".join([root, *(escape_label(label) for label in check_labels(namespace, for_write=for_write))])
    if len(name) > MAX_NAMESPACE:
        raise InvalidNamespaceError(
            f"namespace {namespace} is {len(name)} characters as a nuonuo namespace ({name[:40]}…), over "
            f"nuonuo's {MAX_NAMESPACE}; use shorter labels (characters other than letters, digits and "
            "_ : / - take 3 per UTF-8 byte)")
    return name


def from_nuonuo(root: str, name: str) -> tuple[str, ...] | None:
    """The LangGraph namespace of a nuonuo namespace, or None if the store did not name it."""
    if not name.startswith(root + "."):
        return None
    try:
        return tuple(unescape_label(part) for part in name[len(root) + 1:].split("."))
    except ValueError:
        return None


def encode_key(key: Any) -> str:
    if not isinstance(key, str):
        raise ValueError(f"a store key must be a string, not {type(key).__name__}")
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"key {key!r} is not valid Unicode (a lone surrogate)") from None
    out = ["k"]
    for ch, b in ((chr(b), b) for b in raw):
        out.append(ch if ch in _KEY_SAFE else f"x{b:02x}")
    return "".join(out)


# --- namespace conditions (ListNamespacesOp) ----------------------------------------------------------
def matches(namespace: tuple[str, ...], match_type: str, path: tuple[str, ...]) -> bool:
    """A prefix or suffix condition; "*" matches any one label."""
    if len(namespace) < len(path):
        return False
    if match_type == "prefix":
        pairs: Iterable[tuple[str, str]] = zip(namespace, path)
    elif match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path))
    else:
        raise ValueError(f"unsupported match type {match_type!r}: use 'prefix' or 'suffix'")
    return all(p == "*" or n == p for n, p in pairs)


# --- value filters (SearchOp.filter), as LangGraph's stores read them -----------------------------
_OPERATORS = {
    "$eq": lambda v, x: v == x,
    "$ne": lambda v, x: v != x,
    "$gt": lambda v, x: float(v) > float(x),
    "$gte": lambda v, x: float(v) >= float(x),
    "$lt": lambda v, x: float(v) < float(x),
    "$lte": lambda v, x: float(v) <= float(x),
}


def check_filter(flt: Any) -> None:
    """Refuse an unknown operator before anything runs."""
    if flt is None:
        return
    if not isinstance(flt, dict):
        raise ValueError(f"a search filter is a dict of field → value, not {type(flt).__name__}")
    for value in flt.values():
        if isinstance(value, dict):
            for op in value:
                if op.startswith("$") and op not in _OPERATORS:
                    raise ValueError(f"unsupported filter operator {op!r}: use {', '.join(_OPERATORS)}")
            check_filter({k: v for k, v in value.items() if not k.startswith("$")})


def passes(value: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    """Every field condition holds: a plain value matches by equality (dicts field by field, lists
    element by element); ``{"$gt": 3}`` and the like compare with the operator."""
    return not flt or all(_compare(value.get(field), cond) for field, cond in flt.items())


def _compare(value: Any, cond: Any) -> bool:
    if isinstance(cond, dict):
        if any(k.startswith("$") for k in cond):
            try:
                return all(_OPERATORS[op](value, arg) for op, arg in cond.items())
            except (TypeError, ValueError):  # e.g. None > 3: the item does not match
                return False
        return isinstance(value, dict) and all(_compare(value.get(k), v) for k, v in cond.items())
    if isinstance(cond, (list, tuple)):
        return (isinstance(value, (list, tuple)) and len(value) == len(cond)
                and all(_compare(v, c) for v, c in zip(value, cond)))
    return value == cond
