"""How well does the chat loop's attention-received proxy track what the model actually drew on?

llama.cpp does not expose attention weights, so the chat loop weighs an evicted turn by a lexical
proxy: ``ref(j → t)``, the idf-weighted share of turn t's content words that a later turn j repeats
(``nuonuo.chat.consolidate``). The ground truth used here is the model's own dependence on a turn,
measured by ablation with the bundled SmolLM2-135M:

    D(t) = (1/|r|) Σ_i [ log p(r_i | full context, r_<i) − log p(r_i | context without t, r_<i) ]

for the greedy reply ``r`` to a later question: how much less likely the model's own answer becomes
when turn t is removed. Over many (conversation, turn) pairs we report Spearman's ρ between
``ref(question + reply → t)`` and ``D(t)``, and how often the turn with the highest proxy is the
turn with the highest D (chance: 1 / turns per conversation).

    python benchmarks/attention_proxy.py --conversations 24

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.eviction_script import DISTRACTORS, FACTS  # noqa: E402



def reply_logprob(llama, prompt_tokens: list[int], reply_tokens: list[int]) -> float:
    """Mean log p of the reply tokens after the prompt (one eval with every position's logits)."""
    llama.reset()
    llama.eval(prompt_tokens + reply_tokens)
    logits = np.asarray(llama.scores[len(prompt_tokens) - 1: len(prompt_tokens) + len(reply_tokens) - 1],
                        dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(np.mean(logp[np.arange(len(reply_tokens)), reply_tokens]))


def spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=24)
    ap.add_argument("--turns", type=int, default=4, help="user turns before the question")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import llama_cpp

    from nuonuo.chat.consolidate import ReferenceTracker
    import contextlib

    from nuonuo.chat.llm import ChatModel, amx_guard_needed, bundled_model_path, without_extra_buffers
    from nuonuo.config import ChatConfig

    path = bundled_model_path()
    with without_extra_buffers(llama_cpp) if amx_guard_needed(llama_cpp) else contextlib.nullcontext():
        llama = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=args.threads,
                                n_threads_batch=args.threads, logits_all=True, verbose=False)
    model = ChatModel(llama, path)
    system = ChatConfig().system_prompt
    rng = random.Random(args.seed)
    proxies: list[float] = []
    drops: list[float] = []
    top_hits = 0
    for c in range(args.conversations):
        fact_ids = rng.sample(range(len(FACTS)), 2)
        users = [FACTS[i][0] for i in fact_ids] + rng.sample(DISTRACTORS, args.turns - 2)
        rng.shuffle(users)
        question = FACTS[fact_ids[0]][1] if c % 2 == 0 else rng.choice(DISTRACTORS)

        replies: list[str] = []

        def prompt_text(skip: int | None, upto: int | None = None, last: str | None = None) -> str:
            msgs = [{"role": "system", "content": system}]
            for i, u in enumerate(users[:upto]):
                if i != skip:
                    msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": replies[i]}]
            return model.render(msgs + [{"role": "user", "content": last or question}])[0]

        for i, u in enumerate(users):  # the model's own replies to the earlier turns
            replies.append("".join(model.stream(prompt_text(None, i, u), args.max_tokens, 0.0,
                                                ["<|im_end|>"])).strip() or "Okay.")

        def prompt(skip: int | None) -> list[int]:
            return llama.tokenize(prompt_text(skip).encode(), add_bos=True, special=True)

        full = prompt(None)
        reply = "".join(model.stream(prompt_text(None), args.max_tokens, 0.0, ["<|im_end|>"])).strip()
        reply_tokens = llama.tokenize(reply.encode(), add_bos=False, special=False)
        if not reply_tokens:
            continue
        base = reply_logprob(llama, full, reply_tokens)
        tracker = ReferenceTracker()
        for i, u in enumerate(users):  # an exchange (the turn and its reply) is what leaves together
            tracker.add(i, u + " " + replies[i], range(i))
        tracker.add(len(users), question + " " + reply, range(len(users)))
        d = [base - reply_logprob(llama, prompt(i), reply_tokens) for i in range(len(users))]
        p = [tracker.referrers(i).get(len(users), 0.0) for i in range(len(users))]
        proxies += p
        drops += d
        if max(p) > 0 and int(np.argmax(p)) == int(np.argmax(d)):
            top_hits += 1
        print(f"{c:3} Q: {question[:40]:40} A: {reply[:40]!r:44} proxy={np.round(p, 2).tolist()} "
              f"D={np.round(d, 2).tolist()}", file=sys.stderr)

    rho = spearman(proxies, drops)
    top = top_hits / args.conversations
    print(f"\npairs {len(proxies)}  Spearman ρ(proxy, D) = {rho:.3f}  top-1 agreement {top:.2f} "
          f"(chance {1 / args.turns:.2f})")
    print(json.dumps({"benchmark": "attention_proxy", "pairs": len(proxies), "spearman_rho": round(rho, 4),
                      "top1_agreement": round(top, 4), "chance": round(1 / args.turns, 4)}))


if __name__ == "__main__":
    main()
