"""Fill the embedding cache for LongMemEval: the quick-loop sample first, then the rest.

    python -m benchmarks.fill_cache [--sample N]
"""

from __future__ import annotations

import argparse
import time

from benchmarks import lme_data
from benchmarks.embcache import EmbeddingCache
from nuonuo.encoder import load_encoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=None, help="only the quick-loop sample of N questions")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    qs = lme_data.load()
    order = lme_data.sample(qs, 100)
    if args.sample is None:
        picked = {q["question_id"] for q in order}
        order += [q for q in qs if q["question_id"] not in picked]
    else:
        order = lme_data.sample(qs, args.sample)
    cache = EmbeddingCache(load_encoder(threads=args.threads))
    print(f"cache has {len(cache)} vectors", flush=True)
    t0, done = time.time(), 0
    for i in range(0, len(order), 10):
        texts = [t[4] for q in order[i:i + 10] for t in lme_data.turns(q)] + [q["question"] for q in order[i:i + 10]]
        n = cache.fill(texts)
        done += n
        print(f"questions {i + 10}/{len(order)}: +{n} encoded, {done / (time.time() - t0):.1f}/s", flush=True)


if __name__ == "__main__":
    main()
