"""Recall after eviction: does a fact come back into the context once it has left the window, does
the reply say it, and what does memory cost the person waiting for the reply?

A scripted long chat (n_ctx 1024 by default): the user plants facts (names, codes, places,
preferences, dates) between distractor questions; ``--lag`` steps later, when the fact has left the
window, the user asks for it. The same script runs through every system of the run, turn by turn
(each turn goes to all systems before the next one, in rotating order, each system with its own
model instance and KV cache), so that on a shared machine the systems run under the same load:

- ``nuonuo``: ``ChatLoop`` with memory and today's prompt (the ``notes`` layout: the few relevant
  notes in the user's perspective next to the question, kept with their turn so that the KV cache
  is reused; see ``nuonuo.chat.context``), and the guard against copying earlier replies
  (``nuonuo.chat.llm.NoCopy``);
- ``before``: the same without the guard (the prompt as it was before the guard);
- ``block``: the earlier prompt (one block of up to ``memory_block_tokens`` of notes as a system
  message before the question, re-sent each turn), without the guard;
- ``window``: the same loop with ``recall_k = 0`` and without the guard, a plain sliding window
  without memory, which is what a user of llama.cpp would otherwise have.

Reported per system: share of questions whose fact is in the context (the notes sent with the
question, or anywhere in the window with the notes it carries), share of answers containing the
fact, share of questions whose planted turn was still in the window (must be 0 for the test to mean
anything); per turn, median and p90: time to first token, whole-reply time (both from the message,
memory work included), prompt tokens llama.cpp actually evaluated (the rest came from its KV
cache), memory work (``Usage.memory_ms``) and its share of generation time; the ratios to the plain
window of this run; and where the misses go (``breakdown``):

- ``not_in_context``: the fact is neither in the notes nor in the window;
- ``wrong_note``: the reply drew on another note (``nuonuo.chat.grounding``), not the fact's;
- ``far``: the fact is in the context but more than ``FAR_TOKENS`` tokens before the prompt's end;
- ``copied``: the fact is near the question and the reply begins with the same ``COPY_WORDS``
  words as an earlier reply in the window (the model repeating itself over the note);
- ``ignored``: the fact is near the question and the reply drew on no note otherwise.

    python benchmarks/eviction.py                         # all 55 facts, the bundled SmolLM2-135M
    python benchmarks/eviction.py --facts 10              # quick look
    python benchmarks/eviction.py --model gemma3-270m     # the other bundled model
    python benchmarks/eviction.py --model ~/models/x.gguf # any GGUF file
    python benchmarks/eviction.py --systems nuonuo,window # a subset

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

SYSTEMS = ("nuonuo", "before", "block", "window")
FAR_TOKENS = 48  # a fact further than this from the prompt's end counts as "far" from the question
MISSES = ("not_in_context", "wrong_note", "far", "copied", "ignored")
COPY_WORDS = 5  # a reply whose first words are those of an earlier reply in the window "copied" it


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


def distance_from_end(prompt: str, answers: list[str], count) -> int | None:
    """Tokens from the last mention of the fact to the prompt's end (None: not in the prompt)."""
    low = prompt.lower()
    at = max((low.rfind(a.lower()) for a in answers), default=-1)
    return None if at < 0 else count(prompt[at:])


def classify(row: dict) -> str:
    """Where a question whose reply lacks the fact went (see the module doc)."""
    if not (row["in_block"] or row["in_window"]):
        return "not_in_context"
    if row["drew_on_other"]:
        return "wrong_note"
    if row["distance"] is not None and row["distance"] > FAR_TOKENS:
        return "far"
    if row["copied"]:
        return "copied"
    return "ignored"


def opening(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split()[:COPY_WORDS])


class System:
    """One system of the run: its own model instance (its own KV cache) and chat loop."""

    def __init__(self, label: str, memory, model, cfg, layout: str):
        from nuonuo.chat import ChatLoop

        self.label, self.model, self.cfg = label, model, cfg
        self.loop = ChatLoop(memory, model, cfg, layout=layout)
        self.rows: list[dict] = []
        self.seconds = 0.0


async def run_turn(system: System, n: int, kind: str, fact: int, text: str, verbose: bool,
                   filler_max_tokens: int) -> dict:
    from dataclasses import replace

    from nuonuo.chat import ChatError, Done, Evicted, Grounded, Usage

    loop, model, cfg, label = system.loop, system.model, system.cfg, system.label
    started = time.perf_counter()
    # the loop reads its config each turn: short replies to the filler, full ones to questions
    loop.config = replace(cfg, max_tokens=cfg.max_tokens if kind == "question" else filler_max_tokens)
    window_before = list(loop.window)
    usage = done = grounded = None
    evicted = []
    async for ev in loop.send(text):
        if isinstance(ev, Usage):
            usage = ev
        elif isinstance(ev, Done):
            done = ev
        elif isinstance(ev, Grounded):
            grounded = ev
        elif isinstance(ev, Evicted):
            evicted = ev.turns
        elif isinstance(ev, ChatError):
            raise SystemExit(f"{label}: turn {n} failed: {ev.message}")
    evicted_idx = {t.index for t in evicted}
    prompt_window = [t for t in window_before if t.index not in evicted_idx]
    row = {"kind": kind, "fact": fact, "memory_ms": usage.memory_ms, "generate_ms": usage.generate_ms,
           "first_token_ms": usage.first_token_ms, "reply_ms": usage.reply_ms,
           "evaluated_tokens": usage.evaluated_tokens, "prompt_tokens": usage.prompt_tokens,
           "notes_tokens": usage.notes_tokens, "completion_tokens": usage.completion_tokens,
           "notes": len(loop.last_hits), "text": text,
           "reply": done.text}
    if kind == "question":
        answers = FACTS[fact][2]
        window_text = "\n".join(f"{t.notes}\n{t.text}" for t in prompt_window)
        drew = grounded.hits if grounded else []
        row.update(in_block=contains(loop.last_block, answers),
                   in_window=contains(window_text, answers),
                   planted_in_window=any(t.text == FACTS[fact][0] for t in prompt_window),
                   answer_has_fact=contains(done.text, answers), prompt=loop.last_prompt,
                   drew_on=[h.text for h in drew],
                   drew_on_other=any(not contains(h.text, answers) for h in drew),
                   copied=len(opening(done.text)) == COPY_WORDS and any(
                       opening(t.text) == opening(done.text) for t in prompt_window if t.role == "assistant"),
                   distance=distance_from_end(loop.last_prompt, answers, model.count))
        row["miss"] = "" if row["answer_has_fact"] else classify(row)
        if verbose:
            mark = "✓" if row["answer_has_fact"] else "·"
            print(f"  {label:6} {n:3} {mark} notes={row['in_block']!s:5} window={row['in_window']!s:5} "
                  f"{row['miss']:14} eval={usage.evaluated_tokens:4} reply={usage.reply_ms:.0f}ms "
                  f"Q: {text}  A: {done.text[:60]!r}", file=sys.stderr, flush=True)
    system.rows.append(row)
    system.seconds += time.perf_counter() - started
    return row


async def run_all(systems: list[System], turns, verbose: bool, filler_max_tokens: int) -> dict:
    """The script, turn by turn, each turn sent to every system before the next (the order rotates),
    so that the systems run under the same load: on a shared machine the milliseconds then compare."""
    for n, (kind, fact, text) in enumerate(turns):
        k = n % len(systems)
        for system in systems[k:] + systems[:k]:
            await run_turn(system, n, kind, fact, text, verbose, filler_max_tokens)
    return {s.label: {"rows": s.rows, "seconds": s.seconds, "evicted": s.loop.evicted_total,
                      "window_turns": len(s.loop.window)} for s in systems}


def share(rows, key) -> float:
    return round(sum(1 for r in rows if r[key]) / len(rows), 4) if rows else 0.0


def p90(values) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))] if values else 0.0


def figures(result: dict) -> dict:
    rows = result["rows"]
    qs = [r for r in rows if r["kind"] == "question"]
    col = {k: [r[k] for r in rows] for k in ("memory_ms", "generate_ms", "first_token_ms", "reply_ms",
                                              "evaluated_tokens", "prompt_tokens", "notes_tokens",
                                              "completion_tokens")}
    ratios = [m / g for m, g in zip(col["memory_ms"], col["generate_ms"]) if g > 0]
    misses = [r for r in qs if not r["answer_has_fact"]]
    return {
        "questions": len(qs),
        "in_notes": share(qs, "in_block"),
        "in_context": round(sum(1 for r in qs if r["in_block"] or r["in_window"]) / len(qs), 4) if qs else 0.0,
        "planted_still_in_window": share(qs, "planted_in_window"),
        "answer_has_fact": share(qs, "answer_has_fact"),
        # prompt choices were tuned looking at the even-numbered facts only; the odd ones are held out
        "answer_has_fact_tuning": share([r for r in qs if r["fact"] % 2 == 0], "answer_has_fact"),
        "answer_has_fact_heldout": share([r for r in qs if r["fact"] % 2 == 1], "answer_has_fact"),
        "breakdown": {m: round(sum(1 for r in misses if r["miss"] == m) / len(qs), 4) for m in MISSES},
        "first_token_ms_median": round(statistics.median(col["first_token_ms"]), 1),
        "first_token_ms_p90": round(p90(col["first_token_ms"]), 1),
        "reply_ms_median": round(statistics.median(col["reply_ms"]), 1),
        "reply_ms_p90": round(p90(col["reply_ms"]), 1),
        "evaluated_tokens_median": statistics.median(col["evaluated_tokens"]),
        "evaluated_tokens_p90": p90(col["evaluated_tokens"]),
        "evaluated_tokens_mean": round(statistics.mean(col["evaluated_tokens"]), 1),
        "prompt_tokens_mean": round(statistics.mean(col["prompt_tokens"]), 1),
        "notes_tokens_mean": round(statistics.mean(col["notes_tokens"]), 1),
        "completion_tokens_mean": round(statistics.mean(col["completion_tokens"]), 1),
        "memory_ms_median": round(statistics.median(col["memory_ms"]), 1),
        "generate_ms_median": round(statistics.median(col["generate_ms"]), 1),
        "overhead_ratio_median": round(statistics.median(ratios), 4) if ratios else 0.0,
        "overhead_ratio_total": round(sum(col["memory_ms"]) / sum(col["generate_ms"]), 4) if sum(col["generate_ms"]) else 0.0,
        "evicted_turns": result["evicted"],
        "seconds": round(result["seconds"], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--facts", type=int, default=len(FACTS))
    ap.add_argument("--lag", type=int, default=14, help="steps between planting a fact and asking for it")
    ap.add_argument("--distract-every", type=int, default=1, help="a distractor question every N steps")
    ap.add_argument("--n-ctx", type=int, default=1024)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--filler-max-tokens", type=int, default=16, help="reply length for facts and distractors")
    ap.add_argument("--model", default="", help="a GGUF path, or smollm2-135m (default) / gemma3-270m")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    ap.add_argument("--rows-out", help="write every turn's row, per system, to this JSON file")
    ap.add_argument("--no-copy", type=int, default=None,
                    help="nuonuo: tokens a reply may copy from an earlier one (default [chat] no_copy; 0 = no guard)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    if not systems or any(s not in SYSTEMS for s in systems):
        raise SystemExit(f"error: --systems takes a comma-separated list of {', '.join(SYSTEMS)}")
    n_facts = min(args.facts, len(FACTS))

    os.environ["NUONUO_HOME"] = tempfile.mkdtemp(prefix="nuonuo-eviction-")
    from dataclasses import replace

    from nuonuo import Memory
    from nuonuo.chat import load_chat_model
    from nuonuo.errors import NuonuoError

    memory = Memory.open()
    cfg = memory.config.chat
    cfg.n_ctx, cfg.max_tokens, cfg.n_threads, cfg.temperature = args.n_ctx, args.max_tokens, args.threads, 0.0
    cfg.model_path = args.model
    try:
        models = {label: load_chat_model(cfg) for label in systems}  # one KV cache each
    except NuonuoError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    model = models[systems[0]]
    for label, m in models.items():  # the guard against copying earlier replies: nuonuo's alone
        m.no_copy = (m.no_copy if args.no_copy is None else args.no_copy) if label == "nuonuo" else 0
    turns = schedule(n_facts, args.lag, args.distract_every)
    print(f"{len(turns)} user turns, {n_facts} facts, n_ctx {cfg.n_ctx}, max_tokens {cfg.max_tokens}, "
          f"lag {args.lag} steps, model {model.name}, notes as "
          f"{'system messages' if model.system_mid_chat else 'the head of the user turn'}", file=sys.stderr)
    meta = {"model": model.name, "facts": n_facts, "n_ctx": cfg.n_ctx, "max_tokens": cfg.max_tokens,
            "lag_steps": args.lag, "filler_max_tokens": args.filler_max_tokens, "turns": len(turns),
            "no_copy": models.get("nuonuo", model).no_copy}
    runs = [System(label, memory, models[label],
                   replace(cfg, recall_k=0 if label == "window" else cfg.recall_k, namespace=f"bench-{label}"),
                   "block" if label == "block" else "notes") for label in systems]
    results = asyncio.run(run_all(runs, turns, args.verbose, args.filler_max_tokens))
    memory.close()
    if args.rows_out:
        Path(args.rows_out).write_text(json.dumps({"meta": meta, "results": results}, ensure_ascii=False))
    report(results, meta)


def report(results: dict, meta: dict) -> None:
    figs = {label: figures(res) for label, res in results.items()}
    labels = list(figs)
    base = figs.get("window")

    def ratio(label, key):
        if base is None or not base[key]:
            return None
        return round(figs[label][key] / base[key], 2)

    lines = [("fact in the notes sent", "in_notes"), ("fact in context (anywhere)", "in_context"),
             ("answer contains the fact", "answer_has_fact"),
             ("  on the tuning facts (even)", "answer_has_fact_tuning"),
             ("  on the held-out facts (odd)", "answer_has_fact_heldout"),
             ("planted turn still in window", "planted_still_in_window"),
             ("time to first token ms (median)", "first_token_ms_median"),
             ("time to first token ms (p90)", "first_token_ms_p90"),
             ("whole reply ms (median)", "reply_ms_median"), ("whole reply ms (p90)", "reply_ms_p90"),
             ("tokens evaluated / turn (median)", "evaluated_tokens_median"),
             ("tokens evaluated / turn (p90)", "evaluated_tokens_p90"),
             ("tokens evaluated / turn (mean)", "evaluated_tokens_mean"),
             ("prompt tokens / turn (mean)", "prompt_tokens_mean"),
             ("notes tokens / turn (mean)", "notes_tokens_mean"),
             ("reply tokens / turn (mean)", "completion_tokens_mean"),
             ("memory ms / turn (median)", "memory_ms_median"),
             ("generation ms / turn (median)", "generate_ms_median"),
             ("memory / generation (median)", "overhead_ratio_median"),
             ("memory / generation (total)", "overhead_ratio_total"),
             ("turns evicted", "evicted_turns"), ("wall seconds", "seconds")]
    print(f"\nmodel {meta['model']}, {meta['facts']} facts, {meta['turns']} turns, n_ctx {meta['n_ctx']}")
    print(f"{'':36}" + "".join(f"{label:>12}" for label in labels))
    for name, key in lines:
        print(f"{name:36}" + "".join(f"{figs[label][key]:>12}" for label in labels))
    print("misses, share of questions:")
    for miss in MISSES:
        print(f"  {miss:34}" + "".join(f"{figs[label]['breakdown'][miss]:>12}" for label in labels))
    if base is not None:
        print("ratio to the plain window:")
        for name, key in [("time to first token (median)", "first_token_ms_median"),
                          ("whole reply (median)", "reply_ms_median"), ("whole reply (p90)", "reply_ms_p90"),
                          ("tokens evaluated (mean)", "evaluated_tokens_mean")]:
            print(f"  {name:34}" + "".join(f"{ratio(label, key)!s:>12}" for label in labels))
    out = {"benchmark": "eviction", **meta}
    for label in labels:
        f = figs[label]
        out[label] = {k: f[k] for k in ("questions", "in_notes", "in_context", "answer_has_fact",
                                        "answer_has_fact_tuning", "answer_has_fact_heldout", "breakdown",
                                        "first_token_ms_median", "first_token_ms_p90", "reply_ms_median",
                                        "reply_ms_p90", "evaluated_tokens_median", "evaluated_tokens_mean",
                                        "memory_ms_median", "generate_ms_median", "overhead_ratio_median",
                                        "planted_still_in_window")}
        if base is not None and label != "window":
            out[label].update(reply_ms_median_ratio=ratio(label, "reply_ms_median"),
                              reply_ms_p90_ratio=ratio(label, "reply_ms_p90"),
                              first_token_ms_median_ratio=ratio(label, "first_token_ms_median"),
                              evaluated_tokens_ratio=ratio(label, "evaluated_tokens_mean"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
