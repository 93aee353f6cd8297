"""Canonical form of keys and text tokens.

``canonical_key(s)``: Unicode NFKC → casefold → every run of punctuation, symbols or whitespace
becomes one space → strip. So ``User Timezone``, ``user.timezone`` and ``user  timezone`` are the
same key (``"user timezone"``). Idempotent: ``canonical_key(canonical_key(s)) == canonical_key(s)``.

``tokens(s)``: the canonical form split on spaces.
"""

from __future__ import annotations

import unicodedata


def _is_separator(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch.isspace() or cat[0] in ("P", "S", "Z", "C")


def canonical_key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    # casefold can produce sequences that NFKC would compose differently: normalise once more
    folded = unicodedata.normalize("NFKC", folded)
    out: list[str] = []
    pending_space = False
    for ch in folded:
        if _is_separator(ch):
            pending_space = bool(out)
        else:
            if pending_space:
                out.append(" ")
                pending_space = False
            out.append(ch)
    return "".join(out)


def tokens(text: str) -> list[str]:
    canon = canonical_key(text)
    return canon.split(" ") if canon else []
