"""Recall while a sleep run works: how long a recall waits when it meets a run, beside recall on the
same store when nothing else runs (the baseline, same run).

    python -m benchmarks.sleep_recall [--size 100000]

The store is ``benchmarks.latency``'s (synthetic notes, the first ``--real`` with real encodings
from the embedding cache, the rest noisy copies of them, so near-duplicates are common). One thread
runs ``Memory.consolidate()`` while this one recalls in a loop until the run ends; before it, the
same queries are asked with nothing else running. Figures: the run's duration, how many recalls it
answered meanwhile, their median and longest time, and the idle median. A run that held the memory
lock throughout would answer one recall, after waiting for all of it. Last, the longest of five
recalls each made just after a ``forget`` (a removal used to drop the namespace's IVF index, which
the next search rebuilt). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.embcache import EmbeddingCache
from benchmarks.latency import fill_vectors, query_for, synth_texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--real", type=int, default=10_000, help="memories with real encodings (embedding cache)")
    args = ap.parse_args()

    from nuonuo.config import load_config
    from nuonuo.encoder import load_encoder
    from nuonuo.memory import Memory

    encoder = load_encoder()
    texts = synth_texts(args.size)
    vectors = fill_vectors(texts, EmbeddingCache(encoder), args.real)
    rng = random.Random(1)
    queries = [query_for(texts[rng.randrange(len(texts))]) for _ in range(200)]
    with tempfile.TemporaryDirectory(prefix="nuonuo-sleep-") as tmp:
        mem = Memory(load_config(Path(tmp) / "home", env={}), encoder)
        try:
            mem.remember_many(texts, vectors=vectors, batch_size=20_000)
            del texts, vectors
            mem.recall("warm up", k=10)  # the first search of a large namespace builds its IVF index
            idle = []
            for q in queries:
                t0 = time.perf_counter()
                mem.recall(q, k=10)
                idle.append(time.perf_counter() - t0)
            during: list[float] = []
            run: dict = {}

            def sleep_run() -> None:
                t0 = time.perf_counter()
                run.update(mem.consolidate(seed=0))
                run["wall_s"] = time.perf_counter() - t0

            worker = threading.Thread(target=sleep_run)
            worker.start()
            i = 0
            while worker.is_alive():
                t0 = time.perf_counter()
                mem.recall(queries[i % len(queries)], k=10)
                during.append(time.perf_counter() - t0)
                i += 1
            worker.join()
            after_forget = []  # a removal used to drop a large namespace's IVF: the next search rebuilt it
            for q in queries[:5]:
                mem.forget(mem.recall(q, k=1)[0].id)
                t0 = time.perf_counter()
                mem.recall(q, k=10)
                after_forget.append(time.perf_counter() - t0)
        finally:
            mem.close()
    idle.sort()
    during.sort()
    out = {"memories": args.size, "run_s": round(run["wall_s"], 2), "merged": run.get("merged"),
           "recalls_during_run": len(during), "during_p50_ms": round(1000 * during[len(during) // 2], 1),
           "during_max_ms": round(1000 * during[-1], 1), "idle_p50_ms": round(1000 * idle[len(idle) // 2], 1),
           "idle_max_ms": round(1000 * idle[-1], 1)}
    out["longest_wait_vs_run"] = round(out["during_max_ms"] / 1000 / out["run_s"], 3)
    out["after_forget_max_ms"] = round(1000 * max(after_forget), 1)
    print(f"{'memories':>9} {'run s':>6} {'recalls':>8} {'p50 ms':>7} {'max ms':>7} {'idle p50':>9} {'idle max':>9} "
          f"{'max/run':>8} {'after forget':>13}")
    print(f"{out['memories']:>9} {out['run_s']:>6} {out['recalls_during_run']:>8} {out['during_p50_ms']:>7} "
          f"{out['during_max_ms']:>7} {out['idle_p50_ms']:>9} {out['idle_max_ms']:>9} {out['longest_wait_vs_run']:>8} "
          f"{out['after_forget_max_ms']:>13}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
