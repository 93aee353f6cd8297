"""Recall after eviction: does a fact come back into the context once it has left the window?

A scripted long chat with the bundled SmolLM2-135M (n_ctx 1024 by default): the user plants facts
(names, codes, places, preferences, dates) between distractor questions; ``--lag`` steps later,
when the fact has left the window, the user asks for it. The same script runs twice in this run:

- ``nuonuo``: ``ChatLoop`` with memory (recall → memory block; evicted turns consolidated);
- ``window``: the same loop with ``recall_k = 0``, a plain sliding window without memory, which is
  what a user of llama.cpp would otherwise have.

Reported per system: share of questions whose fact is in the context (nuonuo: in the injected
memory block; window: anywhere in the window), share of answers containing the fact, share of
questions whose fact was still in the window (must be 0 for the test to mean anything), and the
per-turn cost of memory (recall + injection + eviction work, ``Usage.memory_ms``) beside the
llama.cpp generation time of the same turn (``Usage.generate_ms``). The seed's weight-trace version
measured 0% recall after eviction.

    python benchmarks/eviction.py                   # all 55 facts
    python benchmarks/eviction.py --facts 10        # quick look
    # the two systems side by side in two processes, then one report:
    python benchmarks/eviction.py --only nuonuo --save nu.json & \
    python benchmarks/eviction.py --only window --save win.json; wait
    python benchmarks/eviction.py --merge nu.json win.json

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.eviction_script import DISTRACTORS, FACTS  # noqa: E402


def schedule(n_facts: int, lag: int, distract_every: int) -> list[tuple[str, int, str]]:
    """The chat as ``(kind, fact index, text)``: at step s plant fact s, ask about fact s − lag,
    and every ``distract_every`` steps add a distractor question."""
    turns: list[tuple[str, int, str]] = []
    d = 0
    for s in range(n_facts + lag):
        if s < n_facts:
            turns.append(("fact", s, FACTS[s][0]))
        if s >= lag:
            turns.append(("question", s - lag, FACTS[s - lag][1]))
        if distract_every and s % distract_every == 0:
            turns.append(("distractor", -1, DISTRACTORS[d % len(DISTRACTORS)]))
            d += 1
    return turns


def contains(text: str, answers: list[str]) -> bool:
    low = " ".join(text.lower().split())
    return any(a.lower() in low for a in answers)


async def run_chat(memory, model, cfg, turns, label: str, verbose: bool, filler_max_tokens: int) -> dict:
    from dataclasses import replace

    from nuonuo.chat import ChatError, ChatLoop, Done, Evicted, Usage

    loop = ChatLoop(memory, model, cfg)
    rows = []
    started = time.perf_counter()
    for n, (kind, fact, text) in enumerate(turns):
        # the loop reads its config each turn: short replies to the filler, full ones to questions
        loop.config = replace(cfg, max_tokens=cfg.max_tokens if kind == "question" else filler_max_tokens)
        window_before = list(loop.window)
        usage = done = None
        evicted = []
        async for ev in loop.send(text):
            if isinstance(ev, Usage):
                usage = ev
            elif isinstance(ev, Done):
                done = ev
            elif isinstance(ev, Evicted):
                evicted = ev.turns
            elif isinstance(ev, ChatError):
                raise SystemExit(f"{label}: turn {n} failed: {ev.message}")
        evicted_idx = {t.index for t in evicted}
        prompt_window = [t for t in window_before if t.index not in evicted_idx]
        row = {"kind": kind, "fact": fact, "memory_ms": usage.memory_ms, "generate_ms": usage.generate_ms,
               "prompt_tokens": usage.prompt_tokens, "sink_tokens": usage.sink_tokens}
        if kind == "question":
            answers = FACTS[fact][2]
            window_text = "\n".join(t.text for t in prompt_window)
            row.update(in_block=contains(loop.last_block, answers),
                       in_window=contains(window_text, answers),
                       planted_in_window=any(t.text == FACTS[fact][0] for t in prompt_window),
                       answer_has_fact=contains(done.text, answers), reply=done.text)
            if verbose:
                mark = "✓" if row["answer_has_fact"] else "·"
                print(f"  {label} {n:3} {mark} block={row['in_block']!s:5} window={row['in_window']!s:5} "
                      f"mem={usage.memory_ms:.0f}ms gen={usage.generate_ms:.0f}ms Q: {text}  "
                      f"A: {done.text[:60]!r}", file=sys.stderr, flush=True)
        rows.append(row)
    return {"rows": rows, "seconds": time.perf_counter() - started, "evicted": loop.evicted_total,
            "window_turns": len(loop.window)}


def share(rows, key) -> float:
    return round(sum(1 for r in rows if r[key]) / len(rows), 4) if rows else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--facts", type=int, default=len(FACTS))
    ap.add_argument("--lag", type=int, default=14, help="steps between planting a fact and asking for it")
    ap.add_argument("--distract-every", type=int, default=1, help="a distractor question every N steps")
    ap.add_argument("--n-ctx", type=int, default=1024)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--filler-max-tokens", type=int, default=16, help="reply length for facts and distractors")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--only", choices=["nuonuo", "window"], help="run one system and --save its rows")
    ap.add_argument("--save", help="with --only: write the rows to this JSON file")
    ap.add_argument("--merge", nargs=2, metavar=("NUONUO.json", "WINDOW.json"),
                    help="report from two --only runs made side by side (two processes, same machine)")
    args = ap.parse_args()
    n_facts = min(args.facts, len(FACTS))
    if args.merge:
        results = {}
        for label, path in zip(("nuonuo", "window"), args.merge):
            data = json.loads(Path(path).read_text())
            results[label] = data["result"]
            meta = data["meta"]
        report(results, meta)
        return

    os.environ["NUONUO_HOME"] = tempfile.mkdtemp(prefix="nuonuo-eviction-")
    from nuonuo import Memory
    from nuonuo.chat import load_chat_model

    memory = Memory.open()
    cfg = memory.config.chat
    cfg.n_ctx, cfg.max_tokens, cfg.n_threads, cfg.temperature = args.n_ctx, args.max_tokens, args.threads, 0.0
    model = load_chat_model(cfg)
    turns = schedule(n_facts, args.lag, args.distract_every)
    print(f"{len(turns)} user turns, {n_facts} facts, n_ctx {cfg.n_ctx}, max_tokens {cfg.max_tokens}, "
          f"lag {args.lag} steps, model {model.name}", file=sys.stderr)

    from dataclasses import replace

    results = {}
    meta = {"facts": n_facts, "n_ctx": cfg.n_ctx, "max_tokens": cfg.max_tokens, "lag_steps": args.lag,
            "filler_max_tokens": args.filler_max_tokens, "turns": len(turns)}
    for label, recall_k, ns in (("nuonuo", cfg.recall_k, "bench"), ("window", 0, "window-baseline")):
        if args.only and label != args.only:
            continue
        run_cfg = replace(cfg, recall_k=recall_k, namespace=ns)
        results[label] = asyncio.run(run_chat(memory, model, run_cfg, turns, label, args.verbose,
                                              args.filler_max_tokens))
    memory.close()
    if args.only:
        if args.save:
            Path(args.save).write_text(json.dumps({"meta": meta, "result": results[args.only]}))
        return
    report(results, meta)


def report(results: dict, meta: dict) -> None:
    def figures(label):
        rows = results[label]["rows"]
        qs = [r for r in rows if r["kind"] == "question"]
        mem_ms = [r["memory_ms"] for r in rows]
        gen_ms = [r["generate_ms"] for r in rows]
        ratios = [m / g for m, g in zip(mem_ms, gen_ms) if g > 0]
        return {
            "questions": len(qs),
            "in_block": share(qs, "in_block"),
            "in_window": share(qs, "in_window"),
            "in_context": round(sum(1 for r in qs if r["in_block"] or r["in_window"]) / len(qs), 4),
            "planted_still_in_window": share(qs, "planted_in_window"),
            "answer_has_fact": share(qs, "answer_has_fact"),
            "memory_ms_median": round(statistics.median(mem_ms), 1),
            "generate_ms_median": round(statistics.median(gen_ms), 1),
            "overhead_ratio_median": round(statistics.median(ratios), 4) if ratios else 0.0,
            "overhead_ratio_total": round(sum(mem_ms) / sum(gen_ms), 4) if sum(gen_ms) else 0.0,
            "prompt_tokens_mean": round(statistics.mean(r["prompt_tokens"] for r in rows), 1),
            "evicted_turns": results[label]["evicted"],
            "seconds": round(results[label]["seconds"], 1),
        }

    nu, win = figures("nuonuo"), figures("window")
    print(f"\n{'':32}{'nuonuo':>12}{'window':>12}")
    rows = [("fact in context (block / window)", nu["in_block"], win["in_window"]),
            ("fact in context (anywhere)", nu["in_context"], win["in_context"]),
            ("answer contains the fact", nu["answer_has_fact"], win["answer_has_fact"]),
            ("planted turn still in window", nu["planted_still_in_window"], win["planted_still_in_window"]),
            ("memory ms / turn (median)", nu["memory_ms_median"], win["memory_ms_median"]),
            ("generation ms / turn (median)", nu["generate_ms_median"], win["generate_ms_median"]),
            ("memory / generation (median)", nu["overhead_ratio_median"], win["overhead_ratio_median"]),
            ("memory / generation (total)", nu["overhead_ratio_total"], win["overhead_ratio_total"]),
            ("prompt tokens / turn (mean)", nu["prompt_tokens_mean"], win["prompt_tokens_mean"]),
            ("turns evicted", nu["evicted_turns"], win["evicted_turns"]),
            ("wall seconds", nu["seconds"], win["seconds"])]
    for name, a, b in rows:
        print(f"{name:32}{a:>12}{b:>12}")
    ratio = round(nu["in_block"] / win["in_window"], 2) if win["in_window"] else None
    print(json.dumps({
        "benchmark": "eviction", **meta, "questions": nu["questions"],
        "nuonuo_in_context": nu["in_block"], "window_in_context": win["in_window"],
        "nuonuo_answer_has_fact": nu["answer_has_fact"], "window_answer_has_fact": win["answer_has_fact"],
        "in_context_ratio_vs_window": ratio,
        "planted_still_in_window": max(nu["planted_still_in_window"], win["planted_still_in_window"]),
        "memory_ms_median": nu["memory_ms_median"], "generate_ms_median": nu["generate_ms_median"],
        "overhead_ratio_median": nu["overhead_ratio_median"], "overhead_ratio_total": nu["overhead_ratio_total"],
        "window_generate_ms_median": win["generate_ms_median"],
    }))


if __name__ == "__main__":
    main()
