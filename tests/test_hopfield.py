"""The Hopfield math on small synthetic patterns (fast, no encoder)."""

import numpy as np

from nuonuo.hopfield import PatternIndex, hopfield_energy, hopfield_settle, softmax


def unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_softmax_is_a_distribution():
    p = softmax(np.array([1000.0, 1.0, -5.0]))
    assert np.isclose(p.sum(), 1.0) and p[0] > 0.99


def test_each_update_lowers_the_energy():
    x = unit_rows(20, 64)
    beta = 8.0
    state = x[3] + 0.3 * unit_rows(1, 64, seed=9)[0]
    energies = [hopfield_energy(state, x, beta)]
    for _ in range(6):
        state = softmax(beta * (x @ state)) @ x
        energies.append(hopfield_energy(state, x, beta))
    assert all(b <= a + 1e-6 for a, b in zip(energies, energies[1:]))


def test_settle_cleans_a_noisy_cue_to_its_pattern():
    x = unit_rows(32, 128, seed=1)
    rng = np.random.default_rng(2)
    recovered = 0
    for i in range(32):
        noisy = x[i] + 0.2 * rng.standard_normal(128).astype(np.float32) / np.sqrt(128) * 4
        settled = hopfield_settle(noisy, x, beta=20.0, max_steps=10)
        cos = x @ (settled.state / np.linalg.norm(settled.state))
        recovered += int(np.argmax(cos) == i and cos[i] > 0.95)
        assert np.isclose(settled.attention.sum(), 1.0)
    assert recovered == 32


def test_settle_stops_at_a_fixed_point():
    x = unit_rows(8, 16, seed=3)
    settled = hopfield_settle(x[0], x, beta=50.0, max_steps=50, eps=1e-6)
    assert settled.steps < 50
    again = hopfield_settle(settled.state, x, beta=50.0, max_steps=1)
    assert np.linalg.norm(again.state - settled.state) < 1e-4


def test_pattern_index_add_remove_and_time_filter():
    x = unit_rows(5, 8, seed=4)
    index = PatternIndex(8, capacity=2)
    index.add(["a", "b", "c", "d", "e"], x, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    pos, sims = index.top_k(x[2], 2)
    assert index.ids[pos[0]] == "c" and np.isclose(sims[0], 1.0)
    index.remove("c")
    assert "c" not in index and len(index) == 4
    pos, _ = index.top_k(x[4], 4, before=3.0)
    assert {index.ids[p] for p in pos} == {"a", "b"}
    assert np.allclose(index.vector("e"), x[4])


def test_ivf_stage_one_finds_what_brute_force_finds(monkeypatch):
    """Above ``ivf_min`` stage 1 scans a few IVF cells; its top-10 must match brute force."""
    rng = np.random.default_rng(7)
    centres = unit_rows(200, 64, seed=8)  # clustered data, like real embeddings
    x = centres[rng.integers(0, 200, 6000)] + 0.35 * rng.standard_normal((6000, 64)).astype(np.float32) / 8
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = PatternIndex(64)
    index.add([f"m{i}" for i in range(5000)], x[:5000], np.arange(5000, dtype=np.float64))
    brute = [set(index.ids[p] for p in index.top_k(q, 10)[0]) for q in x[5000:5100]]
    monkeypatch.setattr(PatternIndex, "ivf_min", 1000)
    approx = [set(index.ids[p] for p in index.top_k(q, 10)[0]) for q in x[5000:5100]]
    overlap = np.mean([len(a & b) / 10 for a, b in zip(brute, approx)])
    assert index._ivf is not None and overlap >= 0.95
    # the rows were reordered cell by cell (the IVF keeps no copy): ids, vectors and times still agree
    for i in (0, 7, 4999):
        assert np.array_equal(index.vector(f"m{i}"), x[i])
    early = [index.ids[p] for p in index.top_k(x[5000], 10, before=2500.0)[0]]
    assert early and all(int(m[1:]) <= 2500 for m in early)
    pos, sims = index.top_k(x[5001], 10)
    assert np.allclose(sims, index.matrix[pos] @ x[5001])  # exact cosines of the rows they name
    # appended patterns are found exactly (the tail), removed ones never come back
    index.add(["new"], x[5100:5101], np.array([1.0]))
    assert index.ids[index.top_k(x[5100], 1)[0][0]] == "new"
    index.remove("new")
    assert "new" not in {index.ids[p] for p in index.top_k(x[5100], 10)[0]}


def test_an_ivf_state_restores_only_onto_the_same_rows(monkeypatch):
    """``ivf_state`` / ``add(…, ivf=…)``: a new index of the same ids, given in another order, takes
    the IVF (rows put in its cell order, the same top-k); one of other ids, or with a row missing,
    does not, and keeps the order it was given."""
    monkeypatch.setattr(PatternIndex, "ivf_min", 100)
    x = unit_rows(400, 32, seed=3)
    ids = [f"m{i}" for i in range(400)]
    built = PatternIndex(32)
    built.add(ids, x, np.arange(400, dtype=np.float64))
    built.top_k(x[0], 5)  # builds the IVF
    state = built.ivf_state()
    assert state is not None
    order = np.random.default_rng(0).permutation(400)
    same = PatternIndex(32)
    same.add([ids[i] for i in order], x, order.astype(np.float64), rows=order, ivf=state)
    assert same.has_ivf and same.ids == built.ids
    for q in x[:20]:
        assert [same.ids[p] for p in same.top_k(q, 5)[0]] == [built.ids[p] for p in built.top_k(q, 5)[0]]
    assert np.array_equal(same.vector("m17"), x[17]) and same.times[same.ids.index("m17")] == 17.0
    for other_ids, rows in ((ids[:399] + ["stranger"], x), (ids[:399], x[:399])):
        other = PatternIndex(32)
        other.add(other_ids, rows, np.zeros(len(other_ids)), ivf=state)
        assert not other.has_ivf and other.ids == other_ids and other.ivf_state() is None
    built.add(["late"], x[:1], np.array([1.0]))
    assert built.ivf_state() is None  # rows added since the build: nothing to keep


def test_prepare_builds_the_ivf_a_first_large_search_would(monkeypatch):
    """``PatternIndex.prepare`` (the daemon calls it before serving): an index of ``ivf_min``
    patterns or more gets its IVF now, and the first search uses it without building; a smaller
    one is left as it is."""
    from nuonuo.ivf import IVF

    monkeypatch.setattr(PatternIndex, "ivf_min", 100)
    x = unit_rows(300, 16, seed=5)
    small, large = PatternIndex(16), PatternIndex(16)
    small.add([f"s{i}" for i in range(50)], x[:50], np.zeros(50))
    large.add([f"m{i}" for i in range(300)], x, np.zeros(300))
    builds: list[int] = []
    build = IVF.build.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(IVF, "build", classmethod(lambda cls, m, **kw: (builds.append(len(m)), build(cls, m, **kw))[1]))
    small.prepare()
    large.prepare()
    assert builds == [300] and small.ivf_state() is None and large.ivf_state() is not None
    assert large.ids[large.top_k(x[7], 1)[0][0]] == "m7" and builds == [300]  # searched, not built again



def test_removals_keep_the_ivf_and_lose_no_row(monkeypatch):
    """A removal no longer drops a large namespace's IVF (the next recall rebuilt it: ~0.8 s at
    100K): the row swapped into the hole is scanned exactly, like the tail. Probing every cell, the
    top-10 is brute force's over the rows that remain, with or without a tail, each row once; every
    remaining row is its own best match; past a fifth of the index displaced, it is rebuilt."""
    from nuonuo.ivf import IVF

    monkeypatch.setattr(PatternIndex, "ivf_min", 100)
    rng = np.random.default_rng(2)
    x = unit_rows(2400, 32, seed=9)
    index = PatternIndex(32)
    index.add([f"m{i}" for i in range(2000)], x[:2000], np.arange(2000, dtype=np.float64))
    builds: list[int] = []
    build = IVF.build.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(IVF, "build", classmethod(lambda cls, m, **kw: (builds.append(len(m)), build(cls, m, **kw))[1]))
    index.top_k(x[0], 5)
    assert builds == [2000]
    gone: set[str] = set()
    for step in range(2):
        if step:  # the second round with a tail of rows added since the build
            index.add([f"t{i}" for i in range(100)], x[2000:2100], np.zeros(100))
        for mid in rng.choice([m for m in index.ids if m not in gone], 150, replace=False).tolist():
            index.remove(mid)
            gone.add(mid)
        assert builds == [2000] and index.has_ivf and len(index) == 2000 - 150 * (step + 1) + 100 * step
        assert index.ivf_state() is None  # a layout with displaced rows is not kept beside a snapshot
        exact = PatternIndex.ivf_nprobe
        monkeypatch.setattr(PatternIndex, "ivf_nprobe", 10 ** 6)  # every cell: the search is exact
        for q in x[2100:2140]:
            pos, sims = index.top_k(q, 10)
            brute = np.argsort(-(index.matrix @ q))[:10]
            assert len(set(pos.tolist())) == 10 and set(pos.tolist()) == set(brute.tolist())
        monkeypatch.setattr(PatternIndex, "ivf_nprobe", exact)
        for mid in list(index.ids):  # no stale slot past the end, no row twice
            pos, _ = index.top_k(index.vector(mid), 3)
            assert pos.max() < len(index) and len(set(pos.tolist())) == 3 and index.ids[pos[0]] == mid
        assert not gone & set(index.ids)
    for mid in list(index.ids[:200]):  # past a fifth of the index: the next search rebuilds it
        index.remove(mid)
    index.top_k(x[0], 5)
    assert len(builds) == 2 and index.ivf_state() is not None
