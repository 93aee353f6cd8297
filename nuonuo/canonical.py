"""Canonical form of keys and text tokens.

``canonical_key(s)``: Unicode NFKC → casefold → NFKC → every run of separators becomes one space →
strip. A *separator* is any character whose Unicode general category is punctuation (P*),
symbol (S*), separator (Z*) or other (C*: control, format, unassigned, private use), or that
``str.isspace``. Letters, digits and combining marks are kept. So ``User Timezone``,
``user.timezone``, ``user  timezone`` and ``ＵＳＥＲ＿ＴＩＭＥＺＯＮＥ`` are the same key
(``"user timezone"``).

Properties (tested with hypothesis in ``tests/test_engram_canonical.py``):

- idempotent: ``canonical_key(canonical_key(s)) == canonical_key(s)`` (the fold is iterated to a
  fixed point, because NFKC∘casefold is not always stable after one pass);
- deterministic across processes and runs: it depends only on the Unicode tables of the Python
  build (``unicodedata.unidata_version``), never on ``PYTHONHASHSEED``;
- no leading, trailing or doubled spaces; no separator characters in the output.

``tokens(s)``: the canonical form split on spaces.
"""

from __future__ import annotations

import unicodedata

_MAX_FOLDS = 4


def _is_separator(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch.isspace() or cat[0] in ("P", "S", "Z", "C")


class _SeparatorTable(dict):
    """A ``str.translate`` table that maps every separator code point to a space, filled lazily:
    the first time a code point is seen it is classified once, then the lookup runs in C."""

    def __missing__(self, code: int):
        value = " " if _is_separator(chr(code)) else None
        self[code] = value if value is not None else code
        return self[code]


_SEPARATORS = _SeparatorTable()


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.translate(_SEPARATORS).split())


def canonical_key(text: str) -> str:
    """The canonical form of ``text`` (see the module docstring)."""
    out = _fold(text)
    for _ in range(_MAX_FOLDS):
        again = _fold(out)
        if again == out:
            return out
        out = again
    return out


def tokens(text: str) -> list[str]:
    canon = canonical_key(text)
    return canon.split(" ") if canon else []
