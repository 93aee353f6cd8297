"""Canonical keys: documented examples, and properties (hypothesis): idempotent, no separators or
stray spaces, and the same result in a fresh Python process with another PYTHONHASHSEED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from nuonuo.canonical import canonical_key, tokens

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


def test_documented_variants_are_one_key():
    variants = ["User Timezone", "user.timezone", "user  timezone", "  USER_TIMEZONE ", "user-timezone!",
                "ＵＳＥＲ　ＴＩＭＥＺＯＮＥ", "user\ttimezone\n", "User/Timezone"]
    assert {canonical_key(v) for v in variants} == {"user timezone"}
    assert canonical_key("Straße") == canonical_key("STRASSE") == "strasse"
    assert canonical_key("ﬁle №5") == "file no5"  # NFKC: ﬁ → fi, № → No
    assert canonical_key("...!!!") == ""
    assert tokens("Q937: Albert-Einstein") == ["q937", "albert", "einstein"]


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_idempotent(text):
    once = canonical_key(text)
    assert canonical_key(once) == once


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_output_shape(text):
    out = canonical_key(text)
    assert out == out.strip()
    assert "  " not in out
    for ch in out.replace(" ", ""):
        assert unicodedata.category(ch)[0] not in "PSZC" and not ch.isspace()


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_separator_runs_do_not_matter(a, b):
    assert canonical_key(f"{a} .,_ {b}") == canonical_key(f"{a} {b}")


@settings(max_examples=3, deadline=None)
@given(st.lists(TEXT, min_size=150, max_size=300))
def test_stable_across_processes(texts):
    here = [canonical_key(t) for t in texts]
    code = ("import json, sys; from nuonuo.canonical import canonical_key; "
            "print(json.dumps([canonical_key(t) for t in json.load(sys.stdin)]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True,
                         text=True, env=env, check=True)
    assert json.loads(out.stdout) == here
