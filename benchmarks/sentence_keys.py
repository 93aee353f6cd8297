"""What sentence keys cost (``nuonuo.sentence_index``): ingest rate, recall latency and RAM, on
real conversation turns, with the keys on and off, beside the raw encoder on the same turns.

    python -m benchmarks.sentence_keys --turns 2000 --rounds 2

The turns are the first N of LongMemEval haystacks (``benchmarks/lme_data.py``, user and assistant
turns as they come), remembered with ``remember_many`` into a fresh store per round, once with
``[recall] sentence_keys = 8`` (the default) and once with 0, alternated round by round. With keys
on, a turn of 2 to 8 sentences is vectored by the mean of its sentences' vectors and its whole text
is not encoded. The encoder rate is ``embed_many`` on the same turns in the same rounds, and on what
ingest with keys encodes (the other turns and the keyed turns' sentences: what is left of ingest's
time is the store). Recall: 100 of the questions, end to end, on each store. RAM: the keys' bytes in
the index (float16) per memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from benchmarks import lme_data


def conversation_turns(n: int) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    questions: list[str] = []
    seen: set[str] = set()
    for q in lme_data.load():
        questions.append(q["question"])
        for t in lme_data.turns(q):
            if t[4].strip() and t[4] not in seen:
                seen.add(t[4])
                texts.append(t[4])
        if len(texts) >= n:
            break
    return texts[:n], questions[:100]


def run(args: argparse.Namespace) -> dict:
    from nuonuo.config import RecallConfig, load_config
    from nuonuo.encoder import load_encoder
    from nuonuo.memory import Memory
    from nuonuo.sentences import sentence_keys

    texts, questions = conversation_turns(args.turns)
    encoder = load_encoder()
    cap = RecallConfig().sentence_keys  # the default
    per_turn = [sentence_keys(t, cap) for t in texts]
    split = [len(ks) for ks in per_turn]
    keys = [k for ks in per_turn for k in ks]
    encoded = [t for t, ks in zip(texts, per_turn) if not ks] + keys  # what ingest with keys encodes
    rates: dict[str, list[float]] = {"encoder": [], "encoder+keys": [], "keys on": [], "keys off": []}
    recall_ms: dict[str, list[float]] = {"keys on": [], "keys off": []}
    key_bytes = 0
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        encoder.embed_many(texts)
        rates["encoder"].append(len(texts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        encoder.embed_many(encoded)
        rates["encoder+keys"].append(len(texts) / (time.perf_counter() - t0))  # turns per second
        for name, limit in (("keys on", cap), ("keys off", 0)):
            with tempfile.TemporaryDirectory(prefix="nuonuo-sk-") as home:
                cfg = load_config(home, overrides={"recall": {"sentence_keys": limit}})
                with Memory(cfg, encoder) as mem:
                    t0 = time.perf_counter()
                    mem.remember_many(texts)
                    rates[name].append(len(texts) / (time.perf_counter() - t0))
                    for q in questions:
                        t0 = time.perf_counter()
                        mem.recall(q, k=10)
                        recall_ms[name].append((time.perf_counter() - t0) * 1000)
                    if limit:
                        key_bytes = mem.stats()["sentence_keys"] * encoder.dim * 2  # float16 rows
    med = {k: statistics.median(v) for k, v in rates.items()}
    out = {
        "turns": len(texts), "rounds": args.rounds,
        "turns_with_keys": sum(1 for n in split if n), "keys": sum(split),
        "encoder_per_s": round(med["encoder"], 1),
        "ingest_keys_on_per_s": round(med["keys on"], 1), "ingest_keys_off_per_s": round(med["keys off"], 1),
        "encoder_with_keys_per_s": round(med["encoder+keys"], 1),
        "ingest_on_vs_encoder": round(med["keys on"] / med["encoder"], 3),
        "ingest_on_vs_encoder_with_keys": round(med["keys on"] / med["encoder+keys"], 3),
        "ingest_off_vs_encoder": round(med["keys off"] / med["encoder"], 3),
        "ingest_on_vs_off": round(med["keys on"] / med["keys off"], 3),
        "recall_p50_ms_keys_on": round(statistics.median(recall_ms["keys on"]), 2),
        "recall_p50_ms_keys_off": round(statistics.median(recall_ms["keys off"]), 2),
        "key_bytes_per_memory": round(key_bytes / len(texts), 1),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    r = run(ap.parse_args())
    print(f"{r['turns']} conversation turns, {r['turns_with_keys']} with sentence keys ({r['keys']} keys), "
          f"median of {r['rounds']} alternated rounds\n")
    print(f"{'':>22} {'texts/s':>9} {'× encoder':>10} {'recall p50 ms':>14}")
    print(f"{'encoder (embed_many)':>22} {r['encoder_per_s']:>9} {1.0:>10} {'':>14}")
    print(f"{'encoder, as ingest on':>22} {r['encoder_with_keys_per_s']:>9} "
          f"{round(r['encoder_with_keys_per_s'] / r['encoder_per_s'], 3):>10} {'':>14}")
    print(f"{'ingest, keys off':>22} {r['ingest_keys_off_per_s']:>9} {r['ingest_off_vs_encoder']:>10} "
          f"{r['recall_p50_ms_keys_off']:>14}")
    print(f"{'ingest, keys on':>22} {r['ingest_keys_on_per_s']:>9} {r['ingest_on_vs_encoder']:>10} "
          f"{r['recall_p50_ms_keys_on']:>14}")
    print(f"\nkeys on / off: ingest ×{r['ingest_on_vs_off']}; keys on against the encoder on what it encodes: "
          f"×{r['ingest_on_vs_encoder_with_keys']}; RAM for the keys {r['key_bytes_per_memory']} B per memory\n")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
