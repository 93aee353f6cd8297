"""LongMemEval retrieval benchmark: nuonuo against a flat dense top-k and BM25, in one run.

    python -m benchmarks.longmemeval [--split tuning|report|all] [--sample N] [--group G] [--systems nuonuo,...]

Splits (``lme_data.split``): ``tuning`` is the 100-question quick loop, on which anything fitted or
chosen by measurement is chosen; ``report`` is the other 369 questions, on which figures are reported;
``all`` (default) is the 469 together. ``--sample N`` draws N of the split, stratified by type.
Baselines in the same run: flat dense, BM25 (bm25s, with and without Snowball stemming), and the
hybrid a user would otherwise build: dense + BM25 by reciprocal-rank fusion (k = 60, each list over
every turn; ``hybrid`` plain, ``hybrid+stem`` with stemmed BM25). Ratios are to the better hybrid.

``--group G`` puts G questions in one namespace holding all their haystacks (each session once) and
asks them one after the other: a haystack G times larger, and what each recall writes (co-recall
links, access counts) meets the questions after it, as in one long chat asked many questions; the
baselines then rank the turns dated at or before each question's time of asking.

Each question's haystack is ingested into its own namespace (turns as memories, session dates as
timestamps, metadata {session, turn, role}); the question is asked at the end of its ``question_date``'s
day (``lme_data.asking_time``: the data's times within a day are not ordered; ``--strict-time`` asks at
the exact time, which hides the evidence of 40 questions from any system that honours time).
Metrics (see shared/data/longmemeval/README.md), over non-abstention questions:
- ``turn_recall@k``: share of the question's has_answer turns among the first k hits (headline);
- ``recall_any@k`` / ``recall_all@k``: any / all answer sessions among the first k distinct sessions;
- ``ndcg@10`` over distinct sessions (binary relevance).
Embeddings come from an on-disk cache (benchmarks/embcache.py) shared by nuonuo and the dense
baseline, so a rerun takes minutes, not hours. Last line: JSON, one object per system.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks import lme_data
from benchmarks.embcache import CachedEncoder, EmbeddingCache

K_HITS = 50  # hits retrieved per question (enough for 10 distinct sessions)
METRICS = ["turn_recall@5", "turn_recall@10", "recall_any@1", "recall_any@5", "recall_all@5", "ndcg@10"]

# name → config overrides applied to a nuonuo store for recall ({section: {key: value}}), plus
def augment_cues(memory, namespace: str, per_memory: int = 2) -> int:
    """Paraphrase cue augmentation for one namespace outside a sleep run (the ``+hops+paraphrase``
    system): rule-made questions for every active memory without cues yet, committed in one write."""
    from nuonuo.consolidation import rule_paraphrases

    comp = memory.hebbian
    with memory.lock:
        have = {e.target for e in comp.edges.values() if e.kind == "paraphrase"}
        recs = [r for r in memory.records()
                if r.namespace == namespace and r.status == "active" and r.id not in have]
        texts, owners = [], []
        for r in recs:
            qs = rule_paraphrases(r.text, per_memory)
            texts += qs
            owners += [r.id] * len(qs)
        if not texts:
            return 0
        vecs = memory.encoder.embed_many(texts, memory.config.encoder.batch_size)
        return comp.add_cue_patterns_many(memory, owners, texts, vecs)


# optional "prepare": a function (memory, namespace) run after ingest (e.g. a sleep pass).
NO_HOPS = {"enabled": False}
NO_CONTEXT = {"context_weight": 0.0}
NO_PARTY = {"party_prior": 1.0}
NO_MATCH = {"sentence_match": False}  # at recall time: each memory by its own (mean-of-sentences) vector only
SYSTEMS: dict[str, dict[str, Any]] = {
    # the shipped defaults: Hopfield + context keys + stemmed n-gram/exact channels + Hebbian hops
    "nuonuo": {"overrides": {}},
    # ablation ladder, each row adds one mechanism to the one above
    "dense-only": {"overrides": {"recall": {"settle_mix": 0.0, **NO_CONTEXT, **NO_PARTY, **NO_MATCH},
                                 "engram": {"ngram": False, "exact": False}, "hebbian": NO_HOPS}},
    "hopfield": {"overrides": {"recall": {**NO_CONTEXT, **NO_PARTY, **NO_MATCH}, "engram": {"ngram": False, "exact": False},
                               "hebbian": NO_HOPS}},
    "+ngram": {"overrides": {"recall": {**NO_CONTEXT, **NO_PARTY, **NO_MATCH}, "hebbian": NO_HOPS}},
    "+context": {"overrides": {"recall": {**NO_PARTY, **NO_MATCH}, "hebbian": NO_HOPS}},
    "+party": {"overrides": {"recall": NO_MATCH, "hebbian": NO_HOPS}},
    "no-hops": {"overrides": {"hebbian": NO_HOPS}},  # = "+match": each memory also by its best sentence
    "no-party-prior": {"overrides": {"recall": NO_PARTY}},
    "no-sentence-match": {"overrides": {"recall": NO_MATCH}},
    # each memory by the vector of its whole text, no sentence keys (ingest: a store of its own)
    "text-vectors": {"overrides": {"recall": {"sentence_keys": 0}}},
    # variants
    "no-stem": {"overrides": {"engram": {"stem": ""}}},
    "keep-question-words": {"overrides": {"engram": {"question_words": False}}},
    # the turns remembered with their speaker but no session ids: conversations from timestamps alone
    "no-session-ids": {"overrides": {}, "metadata": False},
    # the Hopfield settle in the ranking, as shipped until 2026-12-06 (default settle_mix is 0 now)
    "settle.3": {"overrides": {"recall": {"settle_mix": 0.3}}},
    "ngram-gate": {"overrides": {"engram": {"ngram_gate": True}}},
    "rank-fusion": {"overrides": {"engram": {"fusion": "rrf", "ngram_weight": 1.5},  # the defaults until 2026-12-06
                                  "recall": {"party_prior": 0.7}}},
    "no-time": {"overrides": {"recall": {"time_prior": 0.0}, "engram": {"time_words": False}}},  # before 2026-12-06
    "no-time-prior": {"overrides": {"recall": {"time_prior": 0.0}}},  # relative time words still dropped
    "hop-decay.5": {"overrides": {"hebbian": {"hop_decay": 0.5}}},
    "ngram-w1": {"overrides": {"engram": {"ngram_weight": 1.0}}},
    "ngram-w2": {"overrides": {"engram": {"ngram_weight": 2.0}}},
    "context.4": {"overrides": {"recall": {"context_weight": 0.4}}},
    "context.8": {"overrides": {"recall": {"context_weight": 0.8}}},
    "candidates100": {"overrides": {"recall": {"candidates": 100}, "engram": {"candidates": 100}}},
    # paraphrase cue augmentation (rule-made questions as extra cues) on top of the hops
    "+hops+paraphrase": {"overrides": {"hebbian": {"enabled": True, "query_cues": True}},
                         "prepare": lambda mem, ns: augment_cues(mem, ns)},
}
# "hopfield" (top-K + the settle at the default mix) is left out: with settle_mix 0 it ranks as dense-only
DEFAULT_SYSTEMS = ["dense-only", "+ngram", "+context", "+party", "no-hops", "no-party-prior", "no-sentence-match",
                   "text-vectors", "rank-fusion", "nuonuo"]

# Settings read at recall time (the rest shape what ingest builds: index parameters, links). Systems
# whose overrides touch only these share one store, each recalled with its overrides applied, so the
# ablation ladder costs one ingest per question instead of one per system.
RECALL_TIME = {
    "recall": {"candidates", "beta", "settle_steps", "settle_eps", "settle_mix", "context_weight", "context_gap_minutes",
               "party_prior", "sentence_match", "recency_weight",  # not "sentence_keys": the vectors, at ingest
               "recency_half_life_days"},
    "engram": {"ngram", "exact", "gate", "ngram_gate", "fusion", "candidates", "ngram_norm", "ngram_weight", "exact_weight",
               "gate_alpha", "gate_tau", "gate_gamma", "gate_threshold", "rrf_k"},  # not "stem": built at ingest
    "hebbian": {"enabled", "hops", "breadth", "from_top", "hop_decay", "min_strength", "query_cues"},
}


def recall_time_only(system: dict[str, Any]) -> bool:
    return "prepare" not in system and system.get("metadata", True) and all(
        key in RECALL_TIME.get(section, ()) for section, values in system["overrides"].items() for key in values)


@contextmanager
def overridden(config, overrides: dict[str, dict[str, Any]]):
    """``config`` with ``overrides`` applied for the duration of the block."""
    saved = []
    try:
        for section, values in overrides.items():
            sec = getattr(config, section)
            for key, value in values.items():
                saved.append((sec, key, getattr(sec, key)))
                setattr(sec, key, value)
        yield config
    finally:
        for sec, key, value in reversed(saved):
            setattr(sec, key, value)


def session_order(turn_keys: list[tuple[str, int]]) -> list[str]:
    seen: list[str] = []
    for sid, _ in turn_keys:
        if sid not in seen:
            seen.append(sid)
    return seen


def score_question(ranked_turns: list[list[tuple[str, int]]], q: dict) -> dict[str, float] | None:
    """ranked_turns: for each hit in rank order, the (session, turn) pairs it stands for."""
    evidence = {(sid, i) for sid, _, i, _, _, has in lme_data.turns(q) if has}
    answer_sessions = set(q["answer_session_ids"])
    if not answer_sessions:
        return None
    out: dict[str, float] = {}
    for k in (5, 10):
        got = {t for hit in ranked_turns[:k] for t in hit}
        out[f"turn_recall@{k}"] = len(evidence & got) / len(evidence) if evidence else float("nan")
    sessions = session_order([t for hit in ranked_turns for t in hit])
    for k in (1, 5):
        out[f"recall_any@{k}"] = float(bool(answer_sessions & set(sessions[:k])))
    out["recall_all@5"] = float(answer_sessions <= set(sessions[:5]))
    dcg = sum(1 / math.log2(r + 2) for r, s in enumerate(sessions[:10]) if s in answer_sessions)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(answer_sessions), 10)))
    out["ndcg@10"] = dcg / idcg
    return out


def dense_rank(qv: np.ndarray, vecs: np.ndarray, k: int) -> list[int]:
    sims = vecs @ qv
    return list(np.argsort(-sims)[:k])


def bm25_rank(question: str, texts: list[str], k: int, stem: bool = False) -> list[int]:
    import bm25s

    stemmer = None
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    docs, scores = retriever.retrieve(bm25s.tokenize([question], stopwords="en", stemmer=stemmer,
                                                     show_progress=False),
                                      k=min(k, len(texts)), show_progress=False)
    return [int(i) for i, s in zip(docs[0], scores[0]) if s > 0]


def rrf_rank(lists: list[list[int]], k: int, rrf_k: float = 60.0) -> list[int]:
    """Reciprocal-rank fusion: ``F(x) = Σ_lists 1 / (rrf_k + rank(x))`` (rank from 1)."""
    fused: dict[int, float] = defaultdict(float)
    for ranking in lists:
        for r, i in enumerate(ranking, start=1):
            fused[i] += 1.0 / (rrf_k + r)
    return sorted(fused, key=lambda i: -fused[i])[:k]


def grouped(questions: list[dict], size: int) -> list[list[dict]]:
    """Consecutive runs of ``size`` questions (``--group``); size 1 = each question alone."""
    size = max(1, size)
    return [questions[i:i + size] for i in range(0, len(questions), size)]


def haystack(group: list[dict]) -> list[tuple]:
    """The turns of the group's haystacks, each session once (a session shared by two haystacks is one
    conversation), in haystack order; empty turns (a few) dropped."""
    seen: set[str] = set()
    out = []
    for q in group:
        fresh = set(q["haystack_session_ids"]) - seen
        out.extend(t for t in lme_data.turns(q) if t[0] in fresh and t[4].strip())
        seen |= fresh
    return out


def rank_question(q: dict, turns: list[tuple], ns: str, systems: list[str], stores: dict, store_of: dict[str, str],
                  owners: dict, encoder, timing: dict[str, float], args) -> dict[str, list[list[tuple[str, int]]]]:
    """Each system's ranking for ``q`` (hits as the (session, turn) pairs they stand for), the baselines
    over the turns dated at or before the time of asking (what nuonuo's ``at=`` lets recall see)."""
    from nuonuo.records import to_epoch

    at = lme_data.asking_time(q, args.strict_time)
    rankings: dict[str, list[list[tuple[str, int]]]] = {}
    for name in systems:
        mem, owner = stores[store_of[name]], owners[store_of[name]]
        t0 = time.perf_counter()
        with overridden(mem.config, SYSTEMS[name]["overrides"] if store_of[name] == "shared" else {}):
            hits = mem.recall(q["question"], k=K_HITS, namespace=ns, at=at)
        timing[f"{name}_recall_s"] += time.perf_counter() - t0
        rankings[name] = [owner.get(h.id, []) for h in hits]
    if args.no_baselines:
        return rankings
    visible = [t for t in turns if to_epoch(t[1], "date") <= at]
    texts = [t[4] for t in visible]
    keys = [[(t[0], t[2])] for t in visible]
    vecs = encoder.embed_many(texts)
    qv = encoder.embed(q["question"])
    t0 = time.perf_counter()
    dense = dense_rank(qv, vecs, len(texts))
    timing["dense_recall_s"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    bm25 = bm25_rank(q["question"], texts, len(texts))
    timing["bm25_recall_s"] += time.perf_counter() - t0
    bm25_stem = bm25_rank(q["question"], texts, len(texts), stem=True)
    hybrid = rrf_rank([dense, bm25], K_HITS)
    hybrid_stem = rrf_rank([dense, bm25_stem], K_HITS)
    for name, order in (("dense", dense), ("bm25", bm25), ("bm25+stem", bm25_stem),
                        ("hybrid", hybrid), ("hybrid+stem", hybrid_stem)):
        rankings[name] = [keys[i] for i in order[:K_HITS]]
    return rankings


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    out = {}
    for m in METRICS:
        vals = [r[m] for r in rows if not math.isnan(r[m])]
        out[m] = round(float(np.mean(vals)), 4) if vals else float("nan")
    return out


def print_table(title: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'system':<22}" + "".join(f"{m:>16}" for m in METRICS))
    for name, vals in results.items():
        print(f"{name:<22}" + "".join(f"{vals[m]:>16.3f}" for m in METRICS))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=lme_data.DEFAULT_DATA)
    ap.add_argument("--split", choices=lme_data.SPLITS, default="all",
                    help="tuning (the quick loop: fit here), report (the other 369: report here), all")
    ap.add_argument("--sample", type=int, default=None, help="N questions of the split, stratified by type")
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                    help=f"nuonuo configurations to run, from: {', '.join(SYSTEMS)}")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--cached-only", action="store_true",
                    help="only questions whose haystack is already in the embedding cache (for tuning)")
    ap.add_argument("--fill-only", action="store_true",
                    help="encode the questions' haystacks into the embedding cache and stop (resumable)")
    ap.add_argument("--strict-time", action="store_true",
                    help="ask at the exact question_date time instead of the end of its day")
    ap.add_argument("--shard", default=None, metavar="I/N",
                    help="only questions I, I+N, I+2N, … (run N shards side by side, then --merge)")
    ap.add_argument("--rows-out", type=Path, default=None, help="also write per-question rows (JSON lines)")
    ap.add_argument("--group", type=int, default=1, metavar="G",
                    help="G questions share one namespace holding all their haystacks (each session once) and "
                         "are asked one after the other, as in a long chat asked many questions: what one recall "
                         "writes (co-recall links, access counts) then meets the next question")
    ap.add_argument("--named", action="store_true",
                    help="the haystacks as a conversation between two named people: each turn's speaker is "
                         "Alex (the user) or Sam (the assistant) instead of its role, and each question is "
                         "asked in the third person (\"What was Alex's personal best…\"; lme_data.third_person)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="report from the --rows-out files of shards instead of running (only the rows of "
                         "--split's questions: a run over all questions reports each split apart)")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.data, args.split)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")

    from nuonuo.config import RecallConfig, load_config
    from nuonuo.encoder import load_encoder
    from nuonuo.memory import Memory
    from nuonuo.sentences import sentence_keys

    questions = lme_data.sample(lme_data.split(lme_data.load(args.data), args.split), args.sample)
    abstentions = 0 if args.sample or args.split != "all" else sum(
        lme_data.is_abstention(q) for q in lme_data.load(args.data))
    cache = EmbeddingCache(load_encoder())
    encoder = CachedEncoder(cache)
    if args.shard:
        i, n = (int(x) for x in args.shard.split("/"))
        questions = questions[i::n]
    if args.cached_only:
        questions = [q for q in questions
                     if not cache.missing([t[4] for t in lme_data.turns(q)] + [q["question"]])]
    if args.named:
        questions = [{**q, "question": lme_data.third_person(q["question"])} for q in questions]

    def speaker(role: str) -> dict[str, str]:
        """Who said a turn, as its metadata: its role, or with ``--named`` the name standing for it."""
        return {"speaker": lme_data.NAMES[role]} if args.named else {"role": role}

    t_fill = time.time()
    texts = [t[4] for q in questions for t in lme_data.turns(q)] + [q["question"] for q in questions]
    max_sentences = RecallConfig().sentence_keys
    texts += [s for t in dict.fromkeys(texts) for s in sentence_keys(t, max_sentences)]  # what ingest encodes too
    todo = len(cache.missing(texts))
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        rate = done[0] / max(1e-9, time.time() - t_fill)
        print(f"  encoded {done[0]}/{todo} ({rate:.0f}/s)", file=sys.stderr, flush=True)

    n_new = cache.fill(texts, progress=progress)
    print(f"{len(questions)} questions; encoded {n_new} new texts in {time.time() - t_fill:.0f}s "
          f"({len(cache)} cached)", file=sys.stderr)
    if args.fill_only:
        return {"questions": len(questions), "encoded": n_new, "cached": len(cache)}

    per_system: dict[str, list[dict]] = defaultdict(list)
    per_type: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    timing: dict[str, float] = defaultdict(float)
    rows_out = open(args.rows_out, "w", encoding="utf-8") if args.rows_out else None
    with tempfile.TemporaryDirectory(prefix="nuonuo-lme-") as tmp:
        # systems that differ only in recall-time settings share the "shared" store; the shipped
        # defaults (Hebbian co-recall links) are recalled last in each namespace, so their links
        # cannot touch another system's recall
        systems.sort(key=lambda name: name == "nuonuo")
        stores: dict[str, Memory] = {}
        store_of: dict[str, str] = {}
        for name in systems:
            # grouped questions meet the links earlier recalls wrote: only systems that never write
            # or follow them share a store then
            shared = recall_time_only(SYSTEMS[name]) and (args.group == 1 or name != "nuonuo")
            store = "shared" if shared else name
            store_of[name] = store
            if store not in stores:
                cfg = load_config(Path(tmp) / store, overrides=(SYSTEMS[name].get("overrides") or None)
                                  if store == name else None, env={})
                stores[store] = Memory(cfg, encoder)
        try:
            n = 0
            for group in grouped(questions, args.group):
                turns = haystack(group)
                ns = "q-" + group[0]["question_id"].replace("_", "-")
                items = [{"text": t[4], "timestamp": t[1],
                          "metadata": {"session": t[0], "turn": t[2], **speaker(t[3])}} for t in turns]
                owners: dict[str, dict[str, list[tuple[str, int]]]] = {}
                for store, mem in stores.items():
                    t0 = time.perf_counter()
                    bare = store in SYSTEMS and not SYSTEMS[store].get("metadata", True)
                    ids = mem.remember_many([{"text": i["text"], "timestamp": i["timestamp"],
                                              "metadata": speaker(t[3])} for i, t in zip(items, turns)]
                                            if bare else items, namespace=ns)
                    prepare: Callable | None = SYSTEMS[store].get("prepare") if store in SYSTEMS else None
                    if prepare:
                        prepare(mem, ns)
                    timing[f"{store}_ingest_s"] += time.perf_counter() - t0
                    owners[store] = defaultdict(list)
                    for mid, t in zip(ids, turns):
                        owners[store][mid].append((t[0], t[2]))
                for q in group:
                    n += 1
                    rankings = rank_question(q, turns, ns, systems, stores, store_of, owners, encoder, timing, args)
                    scored = {}
                    for name, ranked in rankings.items():
                        row = score_question(ranked, q)
                        if row is not None:
                            scored[name] = row
                            per_system[name].append(row)
                            per_type[q["question_type"]][name].append(row)
                    if rows_out is not None:
                        rows_out.write(json.dumps({"question_id": q["question_id"], "question_type": q["question_type"],
                                                   "rows": scored}) + "\n")
                        rows_out.flush()
                    if n % 25 == 0:
                        live = {s: summarise(r)["turn_recall@10"] for s, r in per_system.items()}
                        print(f"  {n}/{len(questions)} turn_recall@10 so far: {live}", file=sys.stderr, flush=True)
        finally:
            for mem in stores.values():
                mem.close()
    if rows_out is not None:
        rows_out.write(json.dumps({"timing": timing, "questions": len(questions), "abstentions": abstentions}) + "\n")
        rows_out.close()
    return report(per_system, per_type, timing, len(questions), abstentions)


def merge(paths: list[Path], data: Path, split: str = "all") -> dict[str, Any]:
    """One report from the per-question rows of several shards, those of ``split``'s questions."""
    keep = {q["question_id"] for q in lme_data.split(lme_data.load(data), split)}
    per_system: dict[str, list[dict]] = defaultdict(list)
    per_type: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    timing: dict[str, float] = defaultdict(float)
    n = ran = abstentions = 0
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if "timing" in rec:
                for k, v in rec["timing"].items():
                    timing[k] += v
                ran += rec["questions"]
                abstentions = rec["abstentions"]
                continue
            if rec["question_id"] not in keep:
                continue
            n += 1
            for name, row in rec["rows"].items():
                per_system[name].append(row)
                per_type[rec["question_type"]][name].append(row)
    share = n / ran if ran else 0.0  # the timing is over every question run
    return report(per_system, per_type, {k: v * share for k, v in timing.items()}, n,
                  abstentions if split == "all" else 0)


def report(per_system: dict[str, list[dict]], per_type: dict[str, dict[str, list[dict]]],
           timing: dict[str, float], n_questions: int, abstentions: int) -> dict[str, Any]:
    overall = {name: summarise(rows) for name, rows in per_system.items()}
    print_table(f"LongMemEval_S, {n_questions} questions (abstention questions excluded: {abstentions})",
                overall)
    for qtype in sorted(per_type):
        print_table(f"{qtype} ({len(next(iter(per_type[qtype].values())))} questions)",
                    {name: summarise(rows) for name, rows in per_type[qtype].items()})
    nq = max(1, n_questions)
    print("\nper-question time (ms): " + ", ".join(f"{k[:-2]}={v / nq * 1000:.1f}" for k, v in sorted(timing.items())))
    hybrids = [h for h in ("hybrid", "hybrid+stem") if h in overall]
    if hybrids:
        best = max(hybrids, key=lambda h: overall[h]["turn_recall@10"])
        for m in ("turn_recall@5", "turn_recall@10"):
            print(f"{m} ratio vs {best}: " + ", ".join(
                f"{name}={overall[name][m] / overall[best][m]:.3f}" for name in overall))
    result = dict(overall)
    result["questions"] = n_questions
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
