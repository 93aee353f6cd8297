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
