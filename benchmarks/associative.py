"""Associative memory benchmark: seed 002's experiment set on CPU, with the seed's figures beside ours.

    python -m benchmarks.associative [--quick]

Synthetic unit vectors (d = 384, the encoder's size) as cues and targets, stored with
``benchmarks.pair_memory.PairMemory`` (over ``nuonuo.hebbian``) (N = 16384 units, k = 16 winners, sparse W). Experiments:
noise tolerance (cue noise σ = 0, .05, .1, .2 as in the seed: ``normalize(c + σ·ε)``), capacity
(1K…100K pairs), 6-hop chains among 20K other pairs, multi-night survival (day-1 pairs after 7
nights of 100 new pairs + consolidation), priority replay, forgetting curve with/without replay,
RSS at 100K pairs, one consolidation at 100K pairs, and peak memory at 1/10/100 replay epochs.

Baseline in the same run: plain dense nearest neighbour (cosine top-1 of the cue among the stored
cues, answering that cue's pair), which is what a user without an association memory would do.
"Two-stage" is the seed's architecture: the noisy cue is first cleaned by a Hopfield settle over
the stored cues (NN top-20 → softmax), then W recalls the target.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc

import numpy as np
import psutil

from benchmarks.pair_memory import PairMemory
from nuonuo.config import SleepConfig
from nuonuo.hopfield import hopfield_settle

D = 384
SEED_FIGURES = {  # from shared/seeds/002 (its summary; "—" where the seed gives no number)
    "noise_0.2_flat": "20%", "noise_0.2_two_stage": "100%", "capacity": "20K+ pairs",
    "hop6": "CosSim 1.0", "day1_after_7_nights": "—", "priority": "—", "forgetting": "—",
}


def unit(n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, D)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def noisy(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    if sigma == 0:
        return x
    y = x + sigma * rng.standard_normal(x.shape).astype(np.float32)
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def nn_top1(stored: np.ndarray, queries: np.ndarray, batch: int = 2048) -> np.ndarray:
    out = np.empty(len(queries), dtype=np.int64)
    for s in range(0, len(queries), batch):
        out[s:s + batch] = np.argmax(queries[s:s + batch] @ stored.T, axis=1)
    return out


def two_stage(m: PairMemory, stored_cues: np.ndarray, queries: np.ndarray, beta: float = 32.0) -> np.ndarray:
    """Hopfield clean-up of each query over its top-20 stored cues, then W recalls the target."""
    cleaned = np.empty_like(queries)
    for i, q in enumerate(queries):
        sims = stored_cues @ q
        top = np.argpartition(-sims, min(20, len(sims) - 1))[:20]
        settled = hopfield_settle(q, stored_cues[top], beta, 5, 1e-4)
        cleaned[i] = stored_cues[top[int(np.argmax(settled.attention))]]
    return m.recall(cleaned)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def row(name: str, ours: str, base: str, seed: str) -> None:
    print(f"{name:<44} {ours:>12} {base:>12} {seed:>14}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (capacity up to 10K, 2K distractors)")
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    out: dict[str, float] = {}
    t_all = time.perf_counter()
    print(f"{'experiment':<44} {'nuonuo':>12} {'dense NN':>12} {'seed 002':>14}")

    # 1. noise tolerance (the seed's 100 pairs) --------------------------------------------------------
    n = 100
    m = PairMemory(D, seed=1)
    c, t = unit(n, rng), unit(n, rng)
    ids = m.learn(c, t)
    for sigma in (0.0, 0.05, 0.1, 0.2):
        q = noisy(c, sigma, rng)
        flat = float((m.recall(q) == ids).mean())
        two = float((two_stage(m, c, q) == ids).mean())
        base = float((nn_top1(c, q) == np.arange(n)).mean())
        out[f"noise_{sigma:g}_recall"] = two
        out[f"noise_{sigma:g}_flat"] = flat
        out[f"noise_{sigma:g}_baseline"] = base
        seed = SEED_FIGURES["noise_0.2_two_stage"] if sigma == 0.2 else ""
        row(f"noise σ={sigma:g}, {n} pairs: two-stage (flat W)", f"{pct(two)} ({pct(flat)})", pct(base), seed)
    del m
    gc.collect()

    # 2. capacity -------------------------------------------------------------------------------------
    sizes = [1000, 10000] if args.quick else [1000, 10000, 100000]
    proc = psutil.Process()
    for size in sizes:
        gc.collect()
        rss0 = proc.memory_info().rss
        m = PairMemory(D, seed=2)
        c, t = unit(size, rng), unit(size, rng)
        t0 = time.perf_counter()
        for s in range(0, size, 10000):
            m.learn(c[s:s + 10000], t[s:s + 10000], record=False)
        m.W.compact()
        learn_s = time.perf_counter() - t0
        sample = rng.choice(size, min(size, 2000), replace=False)
        rec = float((m.recall(c[sample]) == sample).mean())
        base = float((nn_top1(c, c[sample]) == sample).mean())
        out[f"capacity_{size}_recall"] = rec
        out[f"capacity_{size}_baseline"] = base
        rss = proc.memory_info().rss
        row(f"capacity {size:>6} pairs (learn {learn_s:.0f}s, W {m.W.nbytes() / 2**20:.0f} MB)", pct(rec), pct(base),
            SEED_FIGURES["capacity"] if size == 10000 else "")
        if size == sizes[-1]:
            out[f"rss_mb_{size}"] = rss / 2**20
            out[f"rss_growth_mb_{size}"] = (rss - rss0) / 2**20
            out[f"w_mb_{size}"] = m.W.nbytes() / 2**20
            row(f"RSS at {size} pairs (process / growth)", f"{rss / 2**20:.0f} MB", f"{(rss - rss0) / 2**20:.0f} MB", "~1 GB VRAM")
            # one consolidation at this size: homeostasis + pruning over all of W, then replay
            sl = SleepConfig()  # the [sleep] defaults: replay_sample links, replay_epochs, noise, …
            m.buffer = rng.choice(size, min(size, sl.replay_sample), replace=False).tolist()
            t0 = time.perf_counter()
            m.consolidate(epochs=sl.replay_epochs, homeostasis=sl.homeostasis, prune=sl.prune_threshold,
                          rate=sl.learning_rate, noise=sl.replay_noise, rng=rng)
            cons_s = time.perf_counter() - t0
            rec_after = float((m.recall(c[sample]) == sample).mean())
            out[f"consolidation_s_{size}"] = cons_s
            out[f"capacity_{size}_after_consolidation"] = rec_after
            row(f"one consolidation, {size} pairs (s; recall after)", f"{cons_s:.1f} s", pct(rec_after), "")
        del m, c, t
        gc.collect()

    # 3. 6-hop chains among other pairs ----------------------------------------------------------------
    others = 2000 if args.quick else 20000
    chains, hops = 100, 6
    m = PairMemory(D, seed=3)
    m.learn(unit(others, rng), unit(others, rng), record=False)
    nodes = unit(chains * (hops + 1), rng).reshape(chains, hops + 1, D)
    pair_of = {}
    for h in range(hops):
        got = m.learn(nodes[:, h], nodes[:, h + 1], record=False)
        for ch, pid in enumerate(got):
            pair_of[int(pid)] = (ch, h + 1)
    current = nodes[:, 0]
    ok = np.ones(chains, dtype=bool)
    for h in range(hops):
        got = m.recall(current)
        nxt = np.zeros_like(current)
        for ch, pid in enumerate(got):
            where = pair_of.get(int(pid))
            ok[ch] &= where == (ch, h + 1)
            nxt[ch] = nodes[where] if where else current[ch]
        current = nxt
    hop6 = float(ok.mean())
    all_targets = np.concatenate([nodes[:, 1:].reshape(-1, D)])
    base_reach = float((nn_top1(all_targets, nodes[:, 0]) == np.arange(chains) * hops + hops - 1).mean())
    out["hop6_recall"], out["hop6_baseline"] = hop6, base_reach
    row(f"6-hop chains among {others} pairs", pct(hop6), pct(base_reach), SEED_FIGURES["hop6"])
    del m

    # 4. multi-night survival ---------------------------------------------------------------------------
    m, keep = PairMemory(D, seed=4), np.random.default_rng(5)
    c1, t1 = unit(100, rng), unit(100, rng)
    day1 = m.learn(c1, t1)
    stored_cues = [c1]
    for _night in range(7):
        m.consolidate(epochs=5, homeostasis=0.95, rng=rng)
        m.keep_fraction(0.3, keep)
        cn, tn = unit(100, rng), unit(100, rng)
        latest = m.learn(cn, tn)
        stored_cues.append(cn)
    m.consolidate(epochs=5, homeostasis=0.95, rng=rng)
    surv = float((m.recall(c1) == day1).mean())
    lat = float((m.recall(cn) == latest).mean())
    base = float((nn_top1(np.concatenate(stored_cues), c1) == np.arange(100)).mean())
    out["day1_after_7_nights"], out["latest_after_7_nights"] = surv, lat
    row("day-1 pairs after 7 nights (latest day)", f"{pct(surv)} ({pct(lat)})", pct(base), SEED_FIGURES["day1_after_7_nights"])

    # 5. priority replay ---------------------------------------------------------------------------------
    m = PairMemory(D, seed=5)
    ci, ti, cu, tu = unit(50, rng), unit(50, rng), unit(50, rng), unit(50, rng)
    imp = m.learn(ci, ti, importance=1.0)
    unimp = m.learn(cu, tu, importance=0.5, record=False)
    m.consolidate(epochs=1, homeostasis=0.6, prune=0.7, rng=rng)
    pi, pu = float((m.recall(ci) == imp).mean()), float((m.recall(cu) == unimp).mean())
    out["priority_important"], out["priority_unimportant"] = pi, pu
    row("priority replay: important / other (strong night)", f"{pct(pi)} / {pct(pu)}", "", SEED_FIGURES["priority"])

    # 6. forgetting curve ---------------------------------------------------------------------------------
    c, t = unit(100, rng), unit(100, rng)
    for label, gamma, theta in (("seed settings γ=.95 θ=.001", 0.95, 0.001), ("harsh γ=.8 θ=.3", 0.8, 0.3)):
        plain, repl = PairMemory(D, seed=6), PairMemory(D, seed=6)
        ids = plain.learn(c, t, record=False)
        repl.learn(c, t)
        curve_p, curve_r = [], []
        for _night in range(10):
            plain.consolidate(epochs=0, homeostasis=gamma, prune=theta)
            repl.consolidate(epochs=1, homeostasis=gamma, prune=theta, rng=rng)
            curve_p.append(float((plain.recall(c) == ids).mean()))
            curve_r.append(float((repl.recall(c) == ids).mean()))
        out[f"forget_night10_no_replay_{gamma}"], out[f"forget_night10_replay_{gamma}"] = curve_p[-1], curve_r[-1]
        row(f"forgetting, {label}: night 10 replay / none", f"{pct(curve_r[-1])} / {pct(curve_p[-1])}", "",
            SEED_FIGURES["forgetting"])
        print("   nights 1-10 without replay: " + " ".join(f"{x:.2f}" for x in curve_p))
        print("   nights 1-10 with replay:    " + " ".join(f"{x:.2f}" for x in curve_r))

    # 7. peak memory vs replay epochs (the O(1) claim of the local rule) --------------------------------
    m = PairMemory(D, seed=7)
    m.learn(unit(200, rng), unit(200, rng))
    base_w = m.W.copy()
    for epochs in (1, 10, 100):
        m.W = base_w.copy()
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        m.consolidate(epochs=epochs, homeostasis=0.95, noise=0.05, rng=rng, early_stop=False)  # every epoch runs
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out[f"peak_mb_epochs_{epochs}"] = peak
        row(f"replay 200 pairs × {epochs} epochs: peak (time)", f"{peak:.1f} MB", f"{secs:.1f} s", "O(1) claim")

    out["seconds"] = time.perf_counter() - t_all
    print(json.dumps({k: round(v, 4) for k, v in out.items()}))


if __name__ == "__main__":
    main()
