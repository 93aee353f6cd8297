"""Ingest rate, recall latency and memory at several store sizes, beside the raw encoder and a plain
dense top-k measured in the same run.

    python -m benchmarks.latency --sizes 1000,10000,100000

First the encoders side by side, in a child process of their own (so that torch, loaded there for
the comparison, does not change the recall process): the default ONNX Runtime encoder and the torch
one (``TransformerEncoder``, what nuonuo used before) on the same 200 queries, interleaved query by
query (p50/p90/p99), their lowest cosine to each other, and their batched rates (batches of 64) on
short texts (~20 tokens) and long ones (~240 tokens, near the 256-token limit).

Then, in this process (the default encoder, as a user gets it), for each size N: synthetic but varied texts (fixed seed). ``encoder_per_s`` is the bundled
encoder's batched rate on the first M = min(N, --measure) texts; ``ingest_per_s`` is
``Memory.remember_many`` on the same M texts into a fresh store (encoding, LanceDB commit, caches).
The remaining N − M memories are ingested from an on-disk embedding cache (their encoding is
the same work already measured). Recall: 200 queries (paraphrase-like rewrites of stored texts)
end to end (query encoding included) and 200 other queries pre-encoded (p50/p95/p99), and the
query encoding alone; the baseline is a plain dense top-k (numpy matmul + argpartition) over the
same vectors, with the same pre-encoded queries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from benchmarks.embcache import EmbeddingCache

PEOPLE = ["my sister Lena", "our neighbour Tom", "the landlord", "my manager Priya", "uncle Joe", "Dr. Alvarez",
          "the new intern", "my friend Kenji", "grandma Rosa", "the plumber", "coach Miller", "my cousin Ana"]
VERBS = ["recommended", "mentioned", "booked", "cancelled", "moved", "forgot", "paid for", "asked about",
         "fixed", "borrowed", "sold", "planned"]
THINGS = ["the blue kayak", "a table at Casa Lisboa", "the dentist appointment", "the wifi router",
          "a trip to Porto", "the quarterly report", "the guitar lessons", "the garden shed key",
          "a used Toyota", "tickets for the jazz festival", "the sourdough starter", "the team offsite"]
WHEN = ["last Tuesday", "in March", "yesterday", "two weeks ago", "on my birthday", "after the meeting",
        "before the holidays", "this morning", "at the weekend", "in 2019"]


def synth_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(f"{rng.choice(PEOPLE).capitalize()} {rng.choice(VERBS)} {rng.choice(THINGS)} "
                   f"{rng.choice(WHEN)} (note {i}, code {rng.randrange(10**5):05d})")
    return out


def query_for(text: str) -> str:
    words = text.split(" (note")[0].split()
    return "what about " + " ".join(words[1:])  # drop the subject, keep the gist


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def long_texts(n: int) -> list[str]:
    """~240 tokens each: twelve synthetic notes run together."""
    return [" ".join(synth_texts(12, seed=1000 + i)) for i in range(n)]


def compare_encoders(measure: int) -> dict:
    """ONNX Runtime vs torch on the same texts, interleaved (run in a child process: it loads torch)."""
    from nuonuo.encoder import make_encoder

    encoders = {"onnx": make_encoder(backend="onnx"), "torch": make_encoder(backend="torch")}
    assert type(encoders["onnx"]).__name__ == "OnnxEncoder", "onnxruntime is not installed"
    rng = random.Random(2)
    texts = synth_texts(2000)
    queries = [query_for(texts[rng.randrange(len(texts))]) for _ in range(220)]
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for i, q in enumerate(queries):
        for name, enc in encoders.items():
            t0 = time.perf_counter()
            enc.embed(q)
            if i >= 20:  # the first 20 warm up
                times[name].append(time.perf_counter() - t0)
    vecs = {name: enc.embed_many(queries, 64) for name, enc in encoders.items()}
    out: dict = {"min_cosine_onnx_torch": round(float((vecs["onnx"] * vecs["torch"]).sum(1).min()), 6)}
    batches = {"short": texts[:measure], "long": long_texts(max(64, measure // 16))}
    for name, enc in encoders.items():
        row = {"query_p50_ms": round(pct(times[name], 50), 2), "query_p90_ms": round(pct(times[name], 90), 2),
               "query_p99_ms": round(pct(times[name], 99), 2)}
        for kind, batch in batches.items():
            t0 = time.perf_counter()
            enc.embed_many(batch, 64)
            row[f"batch_{kind}_per_s"] = round(len(batch) / (time.perf_counter() - t0), 1)
        out[name] = row
    out["long_tokens_mean"] = round(float(encoders["onnx"].tokenize(batches["long"][:64])["attention_mask"].sum(1).mean()), 1)
    out["query_speedup"] = round(out["torch"]["query_p50_ms"] / out["onnx"]["query_p50_ms"], 2)
    return out


def run_compare_child(measure: int) -> dict:
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "benchmarks.latency", "--encoders-only", "--measure", str(measure)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_encoders(cmp: dict) -> None:
    print(f"{'encoder':>8} {'query p50':>10} {'p90':>7} {'p99':>7} {'short/s':>8} {'long/s':>7}   "
          f"(lowest cosine onnx·torch {cmp['min_cosine_onnx_torch']}, long ≈ {cmp['long_tokens_mean']} tokens)")
    for name in ("onnx", "torch"):
        r = cmp[name]
        print(f"{name:>8} {r['query_p50_ms']:>10} {r['query_p90_ms']:>7} {r['query_p99_ms']:>7} "
              f"{r['batch_short_per_s']:>8} {r['batch_long_per_s']:>7}")
    print(f"query encoding: ONNX {cmp['query_speedup']}× faster than torch (p50)\n", flush=True)


NOISE = 0.0247  # σ per dimension: a unit vector plus this noise has cosine ≈ 0.9 to it (384 dims)


def fill_vectors(texts: list[str], cache: EmbeddingCache, real: int, seed: int = 0) -> np.ndarray:
    """Vectors for ``texts``: the real encodings (the embedding cache) of the first ``real``; beyond
    them, the real vector of text ``i mod real`` plus Gaussian noise (cosine ≈ 0.9): near-paraphrases
    of real memories, so that a 100K store is filled without 90K encodings (~40 texts/s on this
    machine under load), and stage 1 still meets realistic clusters rather than uniform noise."""
    r = min(real, len(texts))
    cache.fill(texts[:r], batch_size=64)
    base = cache.get(texts[:r])
    if len(texts) == r:
        return base
    rng = np.random.default_rng(seed)
    extra = base[np.arange(r, len(texts)) % r] + rng.standard_normal((len(texts) - r, base.shape[1]),
                                                                      dtype=np.float32) * NOISE
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.concatenate([base, extra])


def serve(home: str, queries_file: str) -> dict:
    """The serving process (``--serve``): open the store as the daemon does, then recall. RSS is
    read after the store is open and the queries ran, before the baseline's own copy of the matrix."""
    from nuonuo.memory import Memory

    process = psutil.Process()
    rss_start = process.memory_info().rss / 2**20
    with open(queries_file) as fh:
        spec = json.load(fh)
    t0 = time.perf_counter()
    mem = Memory.open(home)
    open_s = time.perf_counter() - t0
    rss_open = process.memory_info().rss / 2**20
    try:
        encoder = mem.encoder
        warm, queries, others = spec["warm"], spec["queries"], spec["others"]
        qvs = encoder.embed_many(others, 64)
        for q in warm:
            mem.recall(q)
        e2e, noenc, enc, dense, noenc_cpu = [], [], [], [], []
        for q, other, qv in zip(queries, others, qvs):
            t0 = time.perf_counter()
            mem.recall(q)
            e2e.append(time.perf_counter() - t0)
            c0, t0 = time.process_time(), time.perf_counter()
            mem.recall(other, query_vector=qv)
            noenc.append(time.perf_counter() - t0)
            noenc_cpu.append(time.process_time() - c0)  # CPU: what other jobs on the machine disturb least
        for q in queries:
            t0 = time.perf_counter()
            encoder.embed(q)
            enc.append(time.perf_counter() - t0)
        rss = process.memory_info().rss / 2**20
        # the baseline a user would otherwise write: the same vectors as one float32 matrix,
        # matmul + argpartition, the same pre-encoded queries
        matrix = np.stack([mem.vector(h) for h in mem.pattern_index("default").ids])
        for qv in qvs:
            t0 = time.perf_counter()
            sims = matrix @ qv
            top = np.argpartition(-sims, 10)[:10]
            top[np.argsort(-sims[top])]
            dense.append(time.perf_counter() - t0)
        n = len(matrix)
        torch_loaded = "torch" in sys.modules
    finally:
        mem.close()
    import resource

    return {"memories": n, "open_s": round(open_s, 2),
            "recall_p50_ms": round(pct(e2e, 50), 2), "recall_p95_ms": round(pct(e2e, 95), 2),
            "recall_p99_ms": round(pct(e2e, 99), 2), "recall_p50_ms_no_encode": round(pct(noenc, 50), 2),
            "recall_p99_ms_no_encode": round(pct(noenc, 99), 2),
            "recall_cpu_p50_ms_no_encode": round(pct(noenc_cpu, 50), 2), "query_encode_p50_ms": round(pct(enc, 50), 2),
            "dense_topk_p50_ms": round(pct(dense, 50), 2), "dense_topk_p99_ms": round(pct(dense, 99), 2),
            "no_encode_vs_dense_topk": round(pct(noenc, 50) / max(1e-9, pct(dense, 50)), 3),
            "rss_mb": round(rss, 1), "rss_after_open_mb": round(rss_open, 1),
            "rss_interpreter_mb": round(rss_start, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "torch_loaded": torch_loaded}


def run_size(n: int, measure: int, real: int, cache: EmbeddingCache, encoder) -> dict:
    import subprocess

    from nuonuo.config import load_config
    from nuonuo.memory import Memory

    texts = synth_texts(n)
    m = min(n, measure)
    t0 = time.perf_counter()
    encoder.embed_many(texts[:m], 64)
    encoder_rate = m / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory(prefix="nuonuo-lat-") as tmp:
        home = Path(tmp) / "home"
        mem = Memory(load_config(home, env={}), encoder)
        try:
            t0 = time.perf_counter()
            mem.remember_many(texts[:m])
            ingest_rate = m / (time.perf_counter() - t0)
            fill_s = 0.0
            if n > m:
                vectors = fill_vectors(texts, cache, real)[m:]
                t0 = time.perf_counter()
                mem.remember_many(texts[m:], vectors=vectors, batch_size=20000)
                fill_s = time.perf_counter() - t0
        finally:
            mem.close()
        rng = random.Random(1)
        # two disjoint query sets, so that neither measurement meets a query the other warmed up
        queries = [query_for(texts[rng.randrange(n)]) for _ in range(410)]
        spec = {"warm": queries[:10], "queries": queries[10:210], "others": queries[210:]}
        qfile = Path(tmp) / "queries.json"
        qfile.write_text(json.dumps(spec))
        del texts
        proc = subprocess.run([sys.executable, "-m", "benchmarks.latency", "--serve", str(home), str(qfile)],
                              capture_output=True, text=True, env=os.environ | {"NUONUO_HOME": str(home)})
        if proc.returncode != 0:
            raise RuntimeError(f"serving process failed: {proc.stderr[-2000:]}")
        served = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"ingest_per_s": round(ingest_rate, 1), "encoder_per_s": round(encoder_rate, 1),
            "ingest_vs_encoder": round(ingest_rate / encoder_rate, 3),
            "fill_with_vectors_s": round(fill_s, 1), "real_vectors": min(n, real), **served}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--measure", type=int, default=2000, help="texts encoded live for the rate figures")
    ap.add_argument("--real", type=int, default=10000,
                    help="memories with real encodings (from the embedding cache); the rest are noisy copies")
    ap.add_argument("--encoders-only", action="store_true", help="only the ONNX/torch comparison (one JSON line)")
    ap.add_argument("--skip-encoders", action="store_true", help="no ONNX/torch comparison")
    ap.add_argument("--serve", nargs=2, metavar=("HOME", "QUERIES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        print(json.dumps(serve(*args.serve)))
        return
    if args.encoders_only:
        print(json.dumps(compare_encoders(args.measure)))
        return
    cmp = None if args.skip_encoders else run_compare_child(args.measure)
    if cmp:
        print_encoders(cmp)
    from nuonuo.encoder import load_encoder

    encoder = load_encoder()
    cache = EmbeddingCache(encoder)
    results = {"encoders": cmp, "encoder": type(encoder).__name__}
    print(f"{'size':>8} {'ingest/s':>9} {'encoder/s':>10} {'ratio':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'p50 no-enc':>10} {'p99 no-enc':>10} {'CPU no-enc':>10} {'encode p50':>10} {'dense p50':>10} {'dense p99':>10} "
          f"{'RSS MB':>7} {'open s':>7}")
    for n in [int(s) for s in args.sizes.split(",")]:
        r = run_size(n, args.measure, args.real, cache, encoder)
        results[str(n)] = r
        print(f"{n:>8} {r['ingest_per_s']:>9} {r['encoder_per_s']:>10} {r['ingest_vs_encoder']:>6} "
              f"{r['recall_p50_ms']:>7} {r['recall_p95_ms']:>7} {r['recall_p99_ms']:>7} "
              f"{r['recall_p50_ms_no_encode']:>10} {r['recall_p99_ms_no_encode']:>10} "
              f"{r['recall_cpu_p50_ms_no_encode']:>10} {r['query_encode_p50_ms']:>10} "
              f"{r['dense_topk_p50_ms']:>10} {r['dense_topk_p99_ms']:>10} {r['rss_mb']:>7} {r['open_s']:>7}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
