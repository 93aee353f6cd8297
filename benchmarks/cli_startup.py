"""The whole ``nuonuo`` CLI as a process: how long a shell (or an agent shelling out) waits for
``nuonuo recall "…" -k 1``, beside ``python -c pass`` as the floor, in one run.

    python -m benchmarks.cli_startup --runs 10

Data folders with the same ``--memories`` memories: without a daemon (the CLI opens the store
itself: imports, the store, the encoder, the caches), and one with a daemon running (the CLI only
talks to it). The cases are interleaved round by round, so that a busy machine slows them alike:

- ``python -c pass``: the interpreter alone, the floor;
- ``import nuonuo.cli``: the CLI's own imports;
- ``recall, no daemon``: the defaults: the store's snapshot (``nuonuo.store_snapshot``), read
  without LanceDB, and the ONNX Runtime encoder;
- ``recall, no daemon, first after a write``: the same, with the n-gram indexes and the IVF index
  (from 50K memories) that the snapshot's first reader leaves beside it removed before each run:
  the first recall after a write, which builds them and leaves them for the next
  (``SnapshotStore.keep_derived``);
- ``recall, no daemon, no snapshot``: ``[store] snapshot = false``, the store read through LanceDB
  (what the CLI did before the snapshot);
- ``recall, no daemon, torch``: that, with ``NUONUO_ENCODER_BACKEND=torch`` (what it did before ONNX);
- ``remember, no daemon`` and ``…, no snapshot``: a write, which with the default also refreshes
  the snapshot before it exits (the price of the fast recalls);
- ``recall, daemon``: a daemon serves the folder.

Each figure is wall time from spawn to exit, the child's CPU time (user + sys) and peak RSS
(``wait4``); the warm-up run of each case writes the package's bytecode as an installed package has it. Every recall must
exit 0 and print the expected memory; failures are counted. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUERY = "where does my sister live?"
EXPECTED = "Porto"
FACTS = ["My sister Lena lives in Porto and works as a marine biologist",
         "The dentist appointment moved to Thursday at 3 pm",
         "Uncle Joe borrowed the blue kayak last summer",
         "Our wifi password is on the fridge, under the cat magnet"]


def cli() -> list[str]:
    """The installed ``nuonuo`` console script, run by this interpreter; else the same entry point."""
    script = Path(sys.executable).with_name("nuonuo")
    if script.exists():
        return [sys.executable, str(script)]
    found = shutil.which("nuonuo")
    return [sys.executable, found] if found else [sys.executable, "-c", "from nuonuo.cli import main; main()"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds (user + sys), peak RSS (MB, from ``wait4``), exit code and stdout
    of one process."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out.read()


def seed(home: Path, n: int, env: dict[str, str]) -> None:
    texts = FACTS + [f"note {i}: the meeting about project {i % 97} went fine" for i in range(max(0, n - len(FACTS)))]
    code = ("import sys, json; from nuonuo import Memory\n"
            "with Memory.open(sys.argv[1]) as m: m.remember_many(json.loads(sys.stdin.read()))")
    subprocess.run([sys.executable, "-c", code, str(home)], input=json.dumps(texts), text=True, env=env, check=True)


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0],
            "p90": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--memories", type=int, default=100)
    args = ap.parse_args()
    env = dict(os.environ)
    env.pop("NUONUO_ENCODER_BACKEND", None)
    # an installed package has its bytecode (pip compiles it; an editable checkout writes it on first
    # import): without this a shell that sets PYTHONDONTWRITEBYTECODE would time compiling nuonuo too
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    nuonuo = cli()
    with tempfile.TemporaryDirectory(prefix="nuonuo-cli-") as tmp:
        plain = Path(tmp) / "plain"
        seed(plain, args.memories, env)  # also exports the ONNX graph once, if not cached yet
        homes = {name: Path(tmp) / name for name in ("direct", "served", "writes", "writes-direct")}
        for home in homes.values():
            shutil.copytree(plain, home)
        no_snapshot = Path(tmp) / "no-snapshot.toml"
        no_snapshot.write_text("[store]\nsnapshot = false\n")
        env_plain = env | {"NUONUO_HOME": str(plain)}
        env_direct = env | {"NUONUO_HOME": str(homes["direct"]), "NUONUO_CONFIG": str(no_snapshot)}
        env_torch = env_direct | {"NUONUO_ENCODER_BACKEND": "torch"}
        env_served = env | {"NUONUO_HOME": str(homes["served"])}
        env_writes = env | {"NUONUO_HOME": str(homes["writes"])}
        env_writes_direct = env | {"NUONUO_HOME": str(homes["writes-direct"]), "NUONUO_CONFIG": str(no_snapshot)}
        recall = nuonuo + ["recall", QUERY, "-k", "1"]
        count = iter(range(10**9))  # a new text each time: a duplicate would write nothing

        def remember() -> list[str]:
            return nuonuo + ["remember", f"The bakery on Rua Nova opens at seven on day {next(count)}"]

        cached = [plain / "snapshot" / name for name in ("ngram.npz", "ivf.npz")]

        def first_recall() -> list[str]:
            for path in cached:  # as a write leaves it: a new snapshot, nothing cached beside it
                path.unlink(missing_ok=True)
            return recall

        cases: dict[str, tuple[Any, dict[str, str], bool]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env, False),
            "import nuonuo.cli": ([sys.executable, "-c", "import nuonuo.cli"], env, False),
            "recall, no daemon": (recall, env_plain, True),
            "recall, no daemon, first after a write": (first_recall, env_plain, True),
            "recall, no daemon, no snapshot": (recall, env_direct, True),
            "recall, no daemon, torch": (recall, env_torch, True),
            "remember, no daemon": (remember, env_writes, False),
            "remember, no daemon, no snapshot": (remember, env_writes_direct, False),
            "recall, daemon": (recall, env_served, True),
        }
        subprocess.run(nuonuo + ["daemon", "start"], env=env_served, check=True, capture_output=True)
        wall: dict[str, list[float]] = {name: [] for name in cases}
        rss: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        failures = {name: 0 for name in cases}
        try:
            for name, (argv, e, _) in cases.items():  # one warm-up each: the page cache, the daemon's first call
                timed(argv() if callable(argv) else argv, e)
            for _ in range(args.runs):
                for name, (argv, e, check) in cases.items():
                    w, c, r, rc, out = timed(argv() if callable(argv) else argv, e)
                    wall[name].append(w)
                    cpu[name].append(c)
                    rss[name].append(r)
                    failures[name] += int(rc != 0 or (check and EXPECTED not in out))
        finally:
            subprocess.run(nuonuo + ["daemon", "stop"], env=env_served, capture_output=True)
    floor = statistics.median(wall["python -c pass"])
    print(f"{'case':34} {'median s':>9} {'min s':>7} {'p90 s':>7} {'× floor':>8} {'CPU s':>6} {'RSS MB':>7} "
          f"{'failed':>6}")
    results = {}
    for name in cases:
        s = summary(wall[name])
        results[name] = {"median_s": round(s["median"], 3), "min_s": round(s["min"], 3), "p90_s": round(s["p90"], 3),
                         "cpu_s": round(statistics.median(cpu[name]), 3),
                   "rss_mb": round(statistics.median(rss[name]), 1), "failed": failures[name]}
        print(f"{name:34} {s['median']:>9.3f} {s['min']:>7.3f} {s['p90']:>7.3f} {s['median'] / floor:>8.1f} "
              f"{results[name]['cpu_s']:>6.3f} {results[name]['rss_mb']:>7.0f} {failures[name]:>6}")
    results["runs"] = args.runs
    results["memories"] = args.memories
    results["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
