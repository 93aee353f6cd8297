"""Load test of the memory daemon: N concurrent client processes on loopback for T seconds, beside the
same calls made embedded (N threads sharing one ``Memory`` in one process), in one run.

    python benchmarks/load.py --clients 8 --seconds 30            # TCP on 127.0.0.1 (token)
    python benchmarks/load.py --clients 8 --seconds 30 --unix     # the Unix socket

Each client repeats a mix of calls until the time is up: ``remember`` (a new, unique text) with
probability ``--write-fraction``, else ``recall`` (k=10) of a query from a fixed pool. Both stores
start with the same ``--preload`` memories. Reported per mode: calls, calls/s, p50 and p99 latency
(all calls, and writes and recalls apart), errors (must be 0), and CPU time per call (the daemon
process plus the client processes; embedded: the process), which other jobs on a shared machine
disturb far less than wall time. Ratio = daemon / embedded throughput.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

WORDS = ("apple river morning station garden letter window painting winter harbour violin doctor "
         "market engine forest ticket mountain coffee kitchen lantern museum bridge candle pocket").split()
QUERIES = [f"what do I know about the {a} and the {b}?" for a in WORDS[:8] for b in WORDS[8:14]]


def text_for(client: int, i: int, rng: random.Random) -> str:
    return f"client {client} note {i}: the {rng.choice(WORDS)} near the {rng.choice(WORDS)} by the {rng.choice(WORDS)}"


def one_call(mem, client: int, i: int, rng: random.Random, write_fraction: float) -> str:
    if rng.random() < write_fraction:
        mem.remember(text_for(client, i, rng), namespace="load")
        return "write"
    mem.recall(rng.choice(QUERIES), k=10, namespace="load")
    return "recall"


def drive(mem, client: int, start_at: float, stop_at: float, write_fraction: float, seed: int) -> dict:
    """Call ``mem`` in a loop between ``start_at`` and ``stop_at``; returns latencies by kind, errors."""
    rng = random.Random(seed)
    lat: dict[str, list[float]] = {"write": [], "recall": []}
    errors: list[str] = []
    while time.time() < start_at:
        time.sleep(0.001)
    i = 0
    cpu0 = time.process_time()
    while time.time() < stop_at:
        t0 = time.perf_counter()
        try:
            kind = one_call(mem, client, i, rng, write_fraction)
            lat[kind].append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - every error is counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")
        i += 1
    return {"lat": lat, "errors": errors, "cpu_s": time.process_time() - cpu0}


def client_process(args: tuple) -> dict:
    home, tcp, token, client, start_at, stop_at, write_fraction = args
    from nuonuo.daemon.client import Client, connect

    mem = Client(url=f"http://{tcp}", token=token) if tcp else connect(home)
    try:
        return drive(mem, client, start_at, stop_at, write_fraction, seed=1000 + client)
    finally:
        mem.close()


def summarise(mode: str, results: list[dict], seconds: float, server_cpu_s: float) -> dict:
    lat = {k: np.array([x for r in results for x in r["lat"][k]]) * 1000 for k in ("write", "recall")}
    every = np.concatenate([lat["write"], lat["recall"]])
    errors = [e for r in results for e in r["errors"]]

    def pct(a, q):
        return round(float(np.percentile(a, q)), 2) if len(a) else None

    return {"mode": mode, "calls": int(len(every)), "calls_per_s": round(len(every) / seconds, 1),
            "p50_ms": pct(every, 50), "p99_ms": pct(every, 99),
            "write_p50_ms": pct(lat["write"], 50), "write_p99_ms": pct(lat["write"], 99),
            "recall_p50_ms": pct(lat["recall"], 50), "recall_p99_ms": pct(lat["recall"], 99),
            "writes": int(len(lat["write"])), "recalls": int(len(lat["recall"])),
            # CPU time per call (less sensitive to other jobs on the machine than wall time): the
            # serving side (the daemon process; embedded: the whole process) and the client processes
            "server_cpu_ms_per_call": round(1000 * server_cpu_s / max(1, len(every)), 2),
            "client_cpu_ms_per_call": (round(1000 * sum(r["cpu_s"] for r in results) / max(1, len(every)), 2)
                                       if "daemon" in mode else 0.0),
            "errors": len(errors), "first_errors": errors[:3]}


def preload_items(n: int) -> list[str]:
    rng = random.Random(7)
    return [text_for(-1, i, rng) for i in range(n)]


def run_daemon(base: Path, args) -> tuple[dict, int]:
    from nuonuo.config import load_config
    from nuonuo.daemon import server
    from nuonuo.daemon.client import connect
    from nuonuo.daemon.paths import DaemonPaths, read_token

    home = base / "daemon-home"
    home.mkdir(parents=True)
    if not args.unix:
        (home / "config.toml").write_text('[daemon]\ntcp_host = "127.0.0.1"\ntcp_port = 0\n[sleep]\nschedule = ""\n')
    else:
        (home / "config.toml").write_text('[sleep]\nschedule = ""\n')
    state = server.start(home)
    try:
        with connect(home) as c:
            c.remember_many(preload_items(args.preload), namespace="load")
        token = read_token(DaemonPaths.of(load_config(home)).token) if not args.unix else None
        start_at = time.time() + 3.0  # every process connected and waiting
        stop_at = start_at + args.seconds
        jobs = [(str(home), state.get("tcp"), token, c, start_at, stop_at, args.write_fraction)
                for c in range(args.clients)]
        daemon_proc = psutil.Process(int(state["pid"]))
        with mp.get_context("spawn").Pool(args.clients) as pool:
            pending = pool.map_async(client_process, jobs)
            while time.time() < start_at:
                time.sleep(0.01)
            cpu0 = sum(daemon_proc.cpu_times()[:2])
            results = pending.get()
            server_cpu = sum(daemon_proc.cpu_times()[:2]) - cpu0
        with connect(home) as c:
            count = c.namespaces().get("load", 0)
            grouped = c.status().get("remember_batches") or {}
    finally:
        server.stop(home)
    out = summarise("daemon (" + ("unix" if args.unix else "tcp 127.0.0.1") + ")", results, args.seconds, server_cpu)
    out["remember_batches"] = grouped  # group commit: how many commits the remember calls took
    return out, count


def run_embedded(base: Path, args) -> tuple[dict, int]:
    from nuonuo import Memory

    home = base / "embedded-home"
    with Memory.open(home) as mem:
        mem.remember_many(preload_items(args.preload), namespace="load")
        start_at = time.time() + 0.5
        stop_at = start_at + args.seconds
        results: list[dict] = [None] * args.clients  # type: ignore[list-item]

        def worker(c: int) -> None:
            results[c] = drive(mem, c, start_at, stop_at, args.write_fraction, seed=1000 + c)

        threads = [threading.Thread(target=worker, args=(c,)) for c in range(args.clients)]
        cpu0 = time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        server_cpu = time.process_time() - cpu0
        count = mem.namespaces().get("load", 0)
    return summarise("embedded (threads, 1 process)", results, args.seconds, server_cpu), count


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--write-fraction", type=float, default=0.3)
    p.add_argument("--preload", type=int, default=500)
    p.add_argument("--unix", action="store_true", help="use the Unix socket instead of TCP on 127.0.0.1")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nuonuo-load-") as tmp:
        base = Path(tmp)
        daemon, daemon_count = run_daemon(base, args)
        embedded, embedded_count = run_embedded(base, args)

    rows = [daemon, embedded]
    head = (f"{'mode':<30} {'calls':>6} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'write p50':>9} {'recall p50':>10} "
            f"{'CPU ms/call':>11} {'errors':>6}")
    print(f"{args.clients} clients × {args.seconds:g} s, write fraction {args.write_fraction}, "
          f"{args.preload} memories preloaded")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['mode']:<30} {r['calls']:>6} {r['calls_per_s']:>8} {r['p50_ms']!s:>7} {r['p99_ms']!s:>7} "
              f"{r['write_p50_ms']!s:>9} {r['recall_p50_ms']!s:>10} "
              f"{r['server_cpu_ms_per_call'] + r['client_cpu_ms_per_call']:>11.2f} {r['errors']:>6}")
    ratio = round(daemon["calls_per_s"] / embedded["calls_per_s"], 3) if embedded["calls_per_s"] else None
    counts_exact = daemon_count == args.preload + daemon["writes"] and embedded_count == args.preload + embedded["writes"]
    print(f"throughput ratio daemon/embedded: {ratio}; p50 ratio: "
          f"{round(daemon['p50_ms'] / embedded['p50_ms'], 3) if embedded['p50_ms'] else None}; "
          f"stored counts exact: {counts_exact}; daemon remember calls / commits: "
          f"{daemon['remember_batches'].get('calls')} / {daemon['remember_batches'].get('batches')}")
    for r in rows:
        for e in r["first_errors"]:
            print(f"  error ({r['mode']}): {e}", file=sys.stderr)
    figures = {"benchmark": "load", "clients": args.clients, "seconds": args.seconds,
               "write_fraction": args.write_fraction, "transport": "unix" if args.unix else "tcp",
               "daemon_calls_per_s": daemon["calls_per_s"], "daemon_p50_ms": daemon["p50_ms"],
               "daemon_p99_ms": daemon["p99_ms"], "daemon_errors": daemon["errors"],
               "embedded_calls_per_s": embedded["calls_per_s"], "embedded_p50_ms": embedded["p50_ms"],
               "embedded_p99_ms": embedded["p99_ms"], "embedded_errors": embedded["errors"],
               "throughput_ratio": ratio, "counts_exact": counts_exact,
               "daemon_server_cpu_ms_per_call": daemon["server_cpu_ms_per_call"],
               "daemon_client_cpu_ms_per_call": daemon["client_cpu_ms_per_call"],
               "embedded_cpu_ms_per_call": embedded["server_cpu_ms_per_call"],
               "daemon_write_p99_ms": daemon["write_p99_ms"], "daemon_recall_p99_ms": daemon["recall_p99_ms"],
               "daemon_remember_calls": daemon["remember_batches"].get("calls"),
               "daemon_remember_commits": daemon["remember_batches"].get("batches"),
               "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
