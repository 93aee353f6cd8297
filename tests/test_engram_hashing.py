"""Hashing: determinism across processes, n-gram fingerprints, multi-head tables whose collisions
are verified away (tiny tables force them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nuonuo.engram.hashing import (MultiHeadTable, TokenHasher, head_sizes, is_prime, mix64,
                                   ngram_fingerprints)
from nuonuo.engram.keys import KeyTable


def test_head_sizes_are_distinct_primes():
    sizes = head_sizes(1000, 4, 0.5)
    assert len(set(sizes)) == 4 and all(is_prime(p) for p in sizes)
    assert sum(sizes) >= 1000 / 0.5
    assert [p for p in range(2, 60) if is_prime(p)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]


def test_mix64_is_a_bijection_on_a_sample():
    x = np.arange(100_000, dtype=np.uint64) * np.uint64(7919)
    assert len(np.unique(mix64(x))) == len(x)


def test_fingerprints_do_not_depend_on_python_hash_seed():
    toks = ["user", "timezone", "ALPHA7", "Zürich", "東京"]
    h = TokenHasher()
    fps, orders = ngram_fingerprints(h.tokens(toks), 3)
    here = {"tok": [str(int(v)) for v in h.tokens(toks)], "grams": [str(int(v)) for v in fps],
            "orders": orders.tolist()}
    code = ("import json; from nuonuo.engram.hashing import TokenHasher, ngram_fingerprints; "
            f"toks = {toks!r}; h = TokenHasher(); fps, o = ngram_fingerprints(h.tokens(toks), 3); "
            "print(json.dumps({'tok': [str(int(v)) for v in h.tokens(toks)], 'grams': [str(int(v)) for v in fps], "
            "'orders': o.tolist()}))")
    for seed in ("1", "999"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert json.loads(out.stdout) == here


def test_suffix_ngrams_count_and_order_distinct():
    h = TokenHasher()
    fps, orders = ngram_fingerprints(h.tokens(["a", "b", "c", "d"]), 3)
    assert orders.tolist() == [1, 1, 1, 1, 2, 2, 2, 3, 3]
    assert len(set(fps.tolist())) == 9
    # the same bigram anywhere gets the same fingerprint; order matters
    f2, _ = ngram_fingerprints(h.tokens(["x", "b", "c"]), 2)
    f3, _ = ngram_fingerprints(h.tokens(["c", "b"]), 2)
    assert int(f2[-1]) == int(fps[5])  # "b c"
    assert int(f3[-1]) != int(fps[5])  # "c b"
    assert TokenHasher(seed=1).token("a") != TokenHasher(seed=2).token("a")


@pytest.mark.parametrize("n", [10, 1000, 20_000])
def test_multihead_table_finds_every_item_and_rejects_absent(n):
    rng = np.random.default_rng(n)
    fps = np.unique(rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64))
    table = MultiHeadTable(heads=4, load=0.5, seed=3)
    table.build(fps[: len(fps) // 2])
    for fp in fps[len(fps) // 2:]:
        table.insert(int(fp))
    assert (table.find(fps) == np.arange(len(fps))).all()
    assert [table.find_one(int(f)) for f in fps[:200]] == list(range(min(200, len(fps))))
    absent = rng.integers(0, 2**63, size=500, dtype=np.int64).astype(np.uint64)
    absent = absent[~np.isin(absent, fps)]
    assert (table.find(absent) == -1).all()
    assert all(table.find_one(int(f)) == -1 for f in absent[:200])
    st = table.stats()
    assert st["items"] == len(fps) and 0 < st["load_factor"] <= 0.5 + 1e-9


def test_tiny_tables_collide_but_never_return_a_wrong_value():
    table = MultiHeadTable(heads=2, load=50.0)  # far more items than buckets: collisions everywhere
    fps = np.arange(1, 300, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    table.build(fps)
    assert table.stats()["collisions"] > 0 and table.stats()["overflow"] > 0
    assert (table.find(fps) == np.arange(len(fps))).all()


def test_key_table_verifies_the_canonical_string():
    keys = KeyTable(heads=2, load=20.0)  # tiny: most keys share buckets
    keys.build([("default", f"key {i}", f"id{i}") for i in range(200)])
    assert keys.stats()["collisions"] > 0
    assert all(keys.get("default", f"key {i}") == f"id{i}" for i in range(200))
    assert keys.get("default", "key 200") is None
    assert keys.get("other", "key 1") is None
    keys.put("default", "key 1", "new")
    keys.drop("default", "key 2", "id2")
    assert keys.get("default", "key 1") == "new" and keys.get("default", "key 2") is None
    assert len(keys) == 199


def test_an_ngram_index_restored_from_its_state_searches_and_grows_as_the_original():
    """``NgramIndex.state`` / ``restore`` (a snapshot reader's cache): the restored index answers
    every search as the one it came from, keeps its token fingerprints as one array until a write
    needs them per row, and then takes additions and removals as the original does."""
    from nuonuo.engram.ngram import NgramIndex, NgramParams

    texts = [f"note {i}: the {w} meeting about project {i % 7} moved to room {i % 5}"
             for i, w in enumerate(["budget", "hiring", "roadmap", "launch", "offsite"] * 30)]
    params, hasher = NgramParams(stem="english"), TokenHasher()
    original = NgramIndex(params, hasher)
    original.add([f"m{i}" for i in range(len(texts))], texts, [float(i) for i in range(len(texts))])
    original.build()
    state = {k: np.array(v) for k, v in original.state().items()}
    restored = NgramIndex.restore(params, hasher, state)

    def same(q: str) -> bool:
        (ids_a, raw_a, _, _), (ids_b, raw_b, _, _) = restored.search(q, 10), original.search(q, 10)
        return ids_a == ids_b and np.allclose(raw_a, raw_b)

    assert all(same(q) for q in ("budget meeting project 3", "room 4 launch", "offsite"))
    again = restored.state()  # read back without splitting the tokens per row
    assert all(np.array_equal(again[k], state[k]) for k in state)
    assert restored.nbytes() == original.nbytes()  # per row from here on
    for index in (original, restored):
        index.add(["new"], ["the budget meeting moved to the roof garden"], [999.0])
        index.remove(["m3"])
    assert same("roof garden budget") and restored.search("roof garden budget", 3)[0][0] == "new"
    assert same("budget meeting project 3") and "m3" not in restored.search("budget meeting project 3", 200)[0]
    with pytest.raises(ValueError):
        NgramIndex.restore(params, hasher, dict(state, tokens=state["tokens"][:-1]))
