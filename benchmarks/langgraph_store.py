"""``NuonuoStore`` (LangGraph's BaseStore on nuonuo) against nuonuo's own API, in one run.

    nice -n 5 python -m benchmarks.langgraph_store [--n 10000] [--queries 200]

N items ``{"text": …, "i": i}`` (benchmarks.latency's synthetic texts) go into one store namespace
with batched puts (``store.batch([PutOp…])`` → one ``remember_many`` per namespace per batch); the
baseline ingest is ``Memory.remember_many`` of the same texts into a second fresh home. Both
ingests take their vectors from the on-disk embedding cache (benchmarks.embcache; the first run
fills it, ~1 min for 10K texts on 2 cores), so they compare the store's own cost; the live encoder
rate is measured on 1,000 of the texts.

Search: the same queries (paraphrase-like rewrites of stored texts, encoded live by the real
encoder) through ``store.search(ns, query=q, limit=10)`` and ``Memory.recall(q, k=10)`` on the same
memories, alternating which goes first; p50/p95/mean and the ratio store / recall (goal ≤ 1.2); then
again with the query vectors from the embedding cache (``_no_encode``: the encoder's share out of both).
Also ``store.get`` against ``Memory.lookup``, and a filtered search (no baseline: nuonuo's recall
has no value filter).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.embcache import CachedEncoder, EmbeddingCache
from benchmarks.latency import query_for, synth_texts

NS = ("bench", "user-1")
CHUNK = 2000  # puts per store.batch call


def ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values) * 1000, q)), 3)


def mean_ms(values: list[float]) -> float:
    return round(float(np.mean(values)) * 1000, 3)


def ingest(store, mem, base_mem, texts: list[str], cached) -> dict:
    from langgraph.store.base import PutOp

    mem.encoder = base_mem.encoder = cached
    t0 = time.perf_counter()
    for start in range(0, len(texts), CHUNK):
        store.batch([PutOp(NS, f"item-{i}", {"text": texts[i], "i": i})
                     for i in range(start, min(len(texts), start + CHUNK))])
    store_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base_mem.remember_many(texts, namespace="baseline")
    base_s = time.perf_counter() - t0
    return {"store_ingest_s": round(store_s, 2), "remember_many_s": round(base_s, 2),
            "ingest_ratio": round(store_s / base_s, 3)}


def searches(store, mem, name: str, queries: list[str], tag: str = "") -> dict:
    for q in queries[:10]:  # warm-up
        store.search(NS, query=q, limit=10)
        mem.recall(q, k=10, namespace=name)
    via_store, via_recall, same_top = [], [], 0
    for j, q in enumerate(queries[10:]):
        order = ("store", "recall") if j % 2 == 0 else ("recall", "store")
        for which in order:
            t0 = time.perf_counter()
            if which == "store":
                items = store.search(NS, query=q, limit=10)
                via_store.append(time.perf_counter() - t0)
            else:
                hits = mem.recall(q, k=10, namespace=name)
                via_recall.append(time.perf_counter() - t0)
        same_top += items[0].memory_id == hits[0].id
    out = {"search_p50_ms": ms(via_store, 50), "search_p95_ms": ms(via_store, 95), "search_mean_ms": mean_ms(via_store),
           "recall_p50_ms": ms(via_recall, 50), "recall_p95_ms": ms(via_recall, 95), "recall_mean_ms": mean_ms(via_recall),
           "search_vs_recall_p50": round(ms(via_store, 50) / ms(via_recall, 50), 3),
           "search_vs_recall_mean": round(mean_ms(via_store) / mean_ms(via_recall), 3),
           "same_top_hit": round(same_top / len(via_store), 3)}
    return {k + tag: v for k, v in out.items()}


def gets_and_filters(store, mem, name: str, n: int, rng: random.Random, queries: list[str]) -> dict:
    from langchain_nuonuo.store_names import encode_key

    keys = [f"item-{rng.randrange(n)}" for _ in range(500)]
    t0 = time.perf_counter()
    for k in keys:
        store.get(NS, k)
    get_s = (time.perf_counter() - t0) / len(keys)
    t0 = time.perf_counter()
    for k in keys:
        mem.lookup(encode_key(k), name)
    lookup_s = (time.perf_counter() - t0) / len(keys)
    filtered = []
    for q in queries[:50]:
        t0 = time.perf_counter()
        store.search(NS, query=q, limit=10, filter={"i": {"$lt": n // 2}})
        filtered.append(time.perf_counter() - t0)
    return {"get_mean_ms": round(get_s * 1000, 3), "lookup_mean_ms": round(lookup_s * 1000, 3),
            "get_vs_lookup": round(get_s / lookup_s, 3), "filtered_search_p50_ms": ms(filtered, 50)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    from langchain_nuonuo import NuonuoStore
    from langchain_nuonuo.store_names import to_nuonuo
    from nuonuo.config import load_config
    from nuonuo.encoder import load_encoder
    from nuonuo.memory import Memory

    encoder = load_encoder()
    cache = EmbeddingCache(encoder)
    texts = synth_texts(args.n)
    t0 = time.perf_counter()
    filled = cache.fill(texts, batch_size=64)
    fill_s = time.perf_counter() - t0
    sample = texts[:1000]
    t0 = time.perf_counter()
    encoder.embed_many(sample, 64)
    encoder_rate = len(sample) / (time.perf_counter() - t0)
    rng = random.Random(7)
    queries = [query_for(texts[rng.randrange(args.n)]) for _ in range(args.queries + 10)]
    with tempfile.TemporaryDirectory(prefix="nuonuo-lgstore-") as tmp:
        mem = Memory(load_config(Path(tmp) / "store", env={}), encoder)
        base_mem = Memory(load_config(Path(tmp) / "baseline", env={}), encoder)
        try:
            store = NuonuoStore(mem, index={"fields": ["text"]})
            res = {"n": args.n, "queries": args.queries, "encoder_per_s": round(encoder_rate, 1),
                   "cache_filled": filled, "cache_fill_s": round(fill_s, 1)}
            res |= ingest(store, mem, base_mem, texts, CachedEncoder(cache))
            mem.encoder = base_mem.encoder = encoder  # queries are encoded live
            name = to_nuonuo(store.root, NS)
            assert mem.namespaces()[name] == args.n
            res |= searches(store, mem, name, queries)
            # the same with the queries' vectors from the cache: the encoder's ~10 ms (and its noise)
            # out of both sides, so the ratio shows the store's own cost against recall's pipeline
            cache.fill(queries, batch_size=64)
            mem.encoder = CachedEncoder(cache)
            res |= searches(store, mem, name, queries, "_no_encode")
            mem.encoder = encoder
            res |= gets_and_filters(store, mem, name, args.n, rng, queries)
        finally:
            mem.close()
            base_mem.close()
    print(f"NuonuoStore at {args.n:,} items, {args.queries} queries (encoder {res['encoder_per_s']}/s live; "
          f"embedding cache filled {filled} texts in {res['cache_fill_s']} s)")
    print(f"{'what':<34} {'NuonuoStore':>12} {'nuonuo API':>12} {'ratio':>7}")
    rows = [("ingest N (cached vectors), s", "store_ingest_s", "remember_many_s", "ingest_ratio"),
            ("search / recall p50, ms", "search_p50_ms", "recall_p50_ms", "search_vs_recall_p50"),
            ("search / recall mean, ms", "search_mean_ms", "recall_mean_ms", "search_vs_recall_mean"),
            ("search / recall p95, ms", "search_p95_ms", "recall_p95_ms", None),
            ("  no query encoding: p50, ms", "search_p50_ms_no_encode", "recall_p50_ms_no_encode",
             "search_vs_recall_p50_no_encode"),
            ("  no query encoding: mean, ms", "search_mean_ms_no_encode", "recall_mean_ms_no_encode",
             "search_vs_recall_mean_no_encode"),
            ("get / lookup mean, ms", "get_mean_ms", "lookup_mean_ms", "get_vs_lookup")]
    for label, a, b, r in rows:
        print(f"{label:<34} {res[a]:>12} {res[b]:>12} {res[r] if r else '':>7}")
    print(f"{'filtered search p50, ms':<34} {res['filtered_search_p50_ms']:>12}")
    print(f"same best hit as recall: {res['same_top_hit']:.1%}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
