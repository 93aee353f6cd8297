"""``nuonuo.validate``: the input rules every shell shares, and the regular expressions that state
them in the daemon's OpenAPI document (they must mean what the checks do)."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuonuo.errors import InvalidInput
from nuonuo.validate import (KEY_PATTERN, MAX_K, NAMESPACE_PATTERN, SPACE_CHARS, TEXT_PATTERN, check_item, check_items,
                             check_k, check_key, check_metadata, check_namespace, check_text)

TEXT_RE, NS_RE, KEY_RE = re.compile(TEXT_PATTERN), re.compile(NAMESPACE_PATTERN), re.compile(KEY_PATTERN)


def accepts(check, value) -> bool:
    try:
        check(value)
        return True
    except InvalidInput:
        return False


def test_space_chars_are_exactly_what_strip_removes():
    assert SPACE_CHARS == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


# texts from the characters where the rules differ: white space of every kind, NUL, letters
edgy = st.text(st.sampled_from(list(SPACE_CHARS) + ["\x00", "a", "é", "\ufeff", "\u200b", "_"]), max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.one_of(edgy, st.text(max_size=30)))
def test_the_text_pattern_says_what_check_text_does(text):
    assert bool(TEXT_RE.search(text)) == accepts(lambda t: check_text(t, limit=1000), text)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.from_regex(NAMESPACE_PATTERN), st.text(max_size=10),
                 st.from_regex(NAMESPACE_PATTERN).map(lambda s: s + "\n")))
def test_the_namespace_pattern_says_what_check_namespace_does(ns):
    # JSON Schema and the daemon read `$` as the end of the text (Python's fullmatch), not before a final newline
    assert bool(NS_RE.fullmatch(ns)) == accepts(check_namespace, ns)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=12))
def test_a_key_with_a_letter_or_digit_is_accepted(key):
    if KEY_RE.search(key):
        assert check_key(key)


def test_rules_and_messages():
    assert check_text("  hi \n") == "hi"
    for bad, words in [("", "empty"), (" \x1c\u3000", "empty"), ("a\x00b", "NUL"), (3, "must be a string"),
                       ("x" * 11, "11 characters, over the limit of 10")]:
        with pytest.raises(InvalidInput, match=words):
            check_text(bad, limit=10)
    assert check_k(1) == 1 and check_k(MAX_K) == MAX_K
    for k in (0, MAX_K + 1, True, 2.0, "3"):
        with pytest.raises(InvalidInput, match="k must be"):
            check_k(k)
    for ns in ("a", "project.x:y@z/w-1", "A" * 128):
        assert check_namespace(ns) == ns
    for ns in ("", "-a", "a b", "A" * 129, "a\n", None):
        with pytest.raises(InvalidInput, match="namespace"):
            check_namespace(ns)
    assert check_metadata(None) == {} and check_metadata({"t": (1, 2)}) == {"t": [1, 2]}
    for meta in ([1], {"x": float("nan")}, {"x": {1}}):
        with pytest.raises(InvalidInput, match="metadata"):
            check_metadata(meta)
    item = check_item({"text": " fact ", "key": "User Timezone", "timestamp": "2024-05-01T10:00:00Z",
                       "importance": 1, "id": ""}, "ns")
    assert (item.text, item.namespace, item.key_canonical, item.importance, item.id) == ("fact", "ns",
                                                                                        "user timezone", 1.0, None)
    assert item.timestamp == 1714557600.0
    with pytest.raises(InvalidInput, match="item 2: unknown field"):
        check_items(["a", {"text": "b"}, {"text": "c", "tags": []}])
