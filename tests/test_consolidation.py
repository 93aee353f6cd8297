"""Sleep consolidation: seed 002's experiment script as tests (synthetic pairs, PairMemory), then the
real job on a Memory (report, merge, decay, paraphrase cues, crash safety) and the scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.pair_memory import PairMemory
from nuonuo.consolidation import near_duplicates, rule_paraphrases
from nuonuo.errors import ConfigError
from nuonuo.scheduler import SleepScheduler, parse_schedule


def unit(n, d, rng):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rate(m, cues, ids):
    return float((m.recall(cues) == np.asarray(ids)).mean())


# --- seed 002, tests 1-5 -----------------------------------------------------------------------------
def test_basic_consolidation_does_not_hurt_recall():
    rng = np.random.default_rng(0)
    m = PairMemory(384, seed=1)
    c, t = unit(500, 384, rng), unit(500, 384, rng)
    ids = m.learn(c, t)
    before, norm = rate(m, c, ids), m.W.norm()
    for epochs in (1, 5):
        m.consolidate(epochs=epochs, homeostasis=0.95, prune=0.001)
    assert before == 1.0 and rate(m, c, ids) == 1.0
    assert m.W.norm() < norm  # homeostasis shrank W; the error-correcting replay did not pile up


def test_noisy_replay_keeps_noise_tolerance():
    rng = np.random.default_rng(1)
    m = PairMemory(384, seed=2)
    c, t = unit(100, 384, rng), unit(100, 384, rng)
    ids = m.learn(c, t)
    noisy = c + 0.05 * rng.standard_normal(c.shape).astype(np.float32)
    before = rate(m, noisy, ids)
    m.consolidate(epochs=5, noise=0.5, rng=np.random.default_rng(3))
    assert rate(m, c, ids) == 1.0
    assert rate(m, noisy, ids) >= before - 0.02


def test_multi_night_day_one_survives_seven_nights():
    rng, keep = np.random.default_rng(2), np.random.default_rng(4)
    m = PairMemory(384, seed=3)
    c1, t1 = unit(100, 384, rng), unit(100, 384, rng)
    day1 = m.learn(c1, t1)
    for _night in range(7):
        m.consolidate(epochs=5, homeostasis=0.95)
        m.keep_fraction(0.3, keep)
        cn, tn = unit(100, 384, rng), unit(100, 384, rng)
        latest = m.learn(cn, tn)
    m.consolidate(epochs=5, homeostasis=0.95)
    assert rate(m, c1, day1) >= 0.9 and rate(m, cn, latest) >= 0.9


def test_priority_replay_protects_important_memories():
    """Important memories are replayed (5× each, and chosen for the replay sample even when old);
    a night of strong homeostasis + pruning erases the others."""
    rng = np.random.default_rng(3)
    m = PairMemory(384, seed=4)
    ci, ti = unit(100, 384, rng), unit(100, 384, rng)
    cu, tu = unit(100, 384, rng), unit(100, 384, rng)
    imp = m.learn(ci, ti, importance=1.0)
    unimp = m.learn(cu, tu, importance=0.5, record=False)
    assert rate(m, cu, unimp) == 1.0
    m.consolidate(epochs=1, homeostasis=0.6, prune=0.7)
    assert rate(m, ci, imp) == 1.0 and rate(m, cu, unimp) < 0.1


def test_forgetting_curve_replay_keeps_what_pruning_erases():
    rng = np.random.default_rng(5)
    c, t = unit(50, 384, rng), unit(50, 384, rng)
    plain, replayed = PairMemory(384, seed=6), PairMemory(384, seed=6)
    ids = plain.learn(c, t, record=False)
    replayed.learn(c, t)
    for _night in range(6):
        plain.consolidate(epochs=0, homeostasis=0.6, prune=0.1)
        replayed.consolidate(epochs=1, homeostasis=0.6, prune=0.1)
    assert rate(plain, c, ids) == 0.0  # 0.6^5 < 0.1: every weight pruned
    assert rate(replayed, c, ids) == 1.0


# --- pieces of the real job --------------------------------------------------------------------------
def test_near_duplicates_finds_close_pairs_only():
    rng = np.random.default_rng(6)
    x = unit(2000, 384, rng)
    dup = x[10] + 0.01 * rng.standard_normal(384).astype(np.float32)
    x = np.vstack([x, dup / np.linalg.norm(dup)])
    ids = [f"m{i}" for i in range(len(x))]
    pairs = near_duplicates(ids, x, 0.97)
    assert [(a, b) for a, b, _ in pairs] == [("m10", "m2000")]


def lsh_pairs_one_group_at_a_time(x, threshold, seed=7, bands=8, bits=16):
    """The plain reading of the banded LSH: each band's groups of 2 to 64 compared whole, one by one."""
    planes = np.random.default_rng(seed).standard_normal((x.shape[1], bands * bits)).astype(np.float32)
    sig = (x @ planes) > 0
    out = set()
    for b in range(bands):
        keys = sig[:, b * bits:(b + 1) * bits].astype(np.int64) @ (1 << np.arange(bits))
        for key in np.unique(keys):
            grp = np.flatnonzero(keys == key)
            if 2 <= len(grp) <= 64:
                sims = x[grp] @ x[grp].T
                out |= {(int(grp[i]), int(grp[j])) for i, j in zip(*np.nonzero(np.triu(sims >= threshold, 1)))}
    return out


def test_near_duplicates_finds_what_the_banded_lsh_finds():
    """Clusters of near-copies (up to 4 of one memory) among 3,000: the vectorised search with its
    signature check finds exactly the pairs that comparing each band's groups whole finds, with
    their cosines, and every pair far enough above the threshold that the bands cannot miss it."""
    rng = np.random.default_rng(11)
    x = unit(3000, 384, rng)
    for src in range(0, 300, 3):
        for copy in range(1, 1 + src % 4):
            y = x[src] + 0.004 * copy * rng.standard_normal(384).astype(np.float32)
            x[src + 1000 + copy] = y / np.linalg.norm(y)
    ids = [f"m{i}" for i in range(len(x))]
    pairs = near_duplicates(ids, x, 0.97)
    found = {(int(a[1:]), int(b[1:])) for a, b, _ in pairs}
    assert len(found) > 100 and found == lsh_pairs_one_group_at_a_time(x, 0.97)
    sims = x @ x.T
    assert all(abs(cos - float(sims[int(a[1:]), int(b[1:])])) < 1e-5 for a, b, cos in pairs)
    sure = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(sims >= 0.995, 1)))}
    assert sure and sure <= found


def test_rule_paraphrases_make_questions():
    qs = rule_paraphrases("Marco is the head chef at Trattoria Sole.")
    assert any(q.endswith("?") for q in qs) and len(qs) <= 3
    assert "Who is Marco?" in qs


# --- the job on a real Memory -----------------------------------------------------------------------
def test_consolidate_report_merge_decay_paraphrase(mem, reopen):
    old = mem.remember("The spare key is under the blue flowerpot.", timestamp="2020-01-01T00:00:00")
    a = mem.remember("My dentist is Dr. Alvarez on Elm Street.")
    b = mem.remember("My dentist is Dr. Alvarez on Elm Street!")
    ids = mem.remember_many([{"text": t, "metadata": {"session": "s"}} for t in
                             ("I started learning the cello.", "My teacher is called Ruth.")])
    mem.associate(ids[1], b.id)
    report = mem.consolidate(seed=0, paraphrase="rules")
    for key in ("run_id", "pruned", "merged", "decayed", "w_norm_before", "w_norm_after", "w_sparsity_before",
                "w_sparsity_after", "replay_recall_before", "replay_recall_after", "seconds", "paraphrase_cues"):
        assert key in report
    assert report["merged"] == 1 and report["decayed"] == 1 and report["paraphrase_cues"] > 0
    assert mem.get(old.id).importance == pytest.approx(0.45)
    keep, gone = (a, b) if mem.get(b.id).status == "merged" else (b, a)
    assert mem.get(gone.id).metadata["merged_into"] == keep.id
    assert mem.get(keep.id).metadata["merged_from"][0]["id"] == gone.id
    assert gone.id not in {h.id for h in mem.recall("who is my dentist?", k=10)}
    assert any(l["other"] == ids[1] for l in mem.associations(keep.id))  # links moved to the survivor
    para = [l for l in mem.associations(ids[0]) if l["kind"] == "paraphrase"]
    assert para and all(l.get("cue_text") for l in para)
    again = mem.consolidate(seed=0, paraphrase="rules")
    assert again["merged"] == 0 and again["paraphrase_cues"] == 0  # nothing new to do
    w_nnz = mem.hebbian.W.nnz
    mem.close()
    m2 = reopen()
    assert m2.get(gone.id).status == "merged" and m2.hebbian.W.nnz == w_nnz
    assert m2.stats()["sleep"]["last_run"]["run_id"] == again["run_id"]


def test_the_near_duplicate_search_runs_without_the_lock(mem, monkeypatch):
    """The search (most of a run in a large store) runs on a copy of the vectors while others use
    the memory: a recall from another thread answers during it, and what changed meanwhile is
    checked again: a duplicate forgotten or rewritten during the search is not merged."""
    from nuonuo import consolidation

    a = mem.remember("My dentist is Dr. Alvarez on Elm Street.").id
    b = mem.remember("My dentist is Dr. Alvarez on Elm Street!").id
    c = mem.remember("The wifi password is hunter2.").id
    d = mem.remember("The wifi password is hunter2!").id
    e = mem.remember("My bike is a green Brompton.").id
    f = mem.remember("My bike is a green Brompton!").id
    search = consolidation.near_duplicates
    during: dict[str, object] = {}

    def meanwhile(ids, x, threshold, **kw):
        def other_thread():
            during["hits"] = [h.id for h in mem.recall("who is my dentist?", k=2)]
            mem.forget(d)
            mem.update(f, text="I sold my old car last spring.")
        t = threading.Thread(target=other_thread)
        t.start()
        t.join(timeout=60)
        during["blocked"] = t.is_alive()  # the sleep run holding the lock would keep it waiting
        return search(ids, x, threshold, **kw)

    monkeypatch.setattr(consolidation, "near_duplicates", meanwhile)
    report = mem.consolidate(seed=0, paraphrase="off")
    assert during["blocked"] is False and set(during["hits"]) == {a, b}
    assert report["merged"] == 1  # the dentist; not the forgotten password, not the rewritten bike
    assert {mem.get(a).status, mem.get(b).status} == {"active", "merged"}
    assert mem.get(c).status == "active" and mem.get(e).status == "active" and mem.get(f).status == "active"
    assert mem.get(f).text == "I sold my old car last spring."


CRASH = textwrap.dedent("""
    import os, sys
    from nuonuo import Memory
    from nuonuo import consolidation
    def crash(step):
        if step == sys.argv[1]:
            os._exit(17)
    consolidation._after_step = crash
    with Memory.open() as m:
        m.consolidate()
""")


def _state(m):
    return (sorted((r.id, r.status, round(r.importance, 4)) for r in m.records()),
            sorted((e.cue, e.target, e.kind, round(e.weight, 4)) for e in m.hebbian.edges.values()),
            m.hebbian.W.nnz, round(m.hebbian.W.norm(), 3))


def test_a_run_killed_halfway_leaves_the_store_as_before(mem, reopen, nuonuo_home):
    mem.remember("The wifi password is on the fridge.", timestamp="2020-01-01T00:00:00")
    mem.remember("My dentist is Dr. Alvarez on Elm Street.")
    mem.remember("My dentist is Dr. Alvarez on Elm Street!")
    ids = mem.remember_many([{"text": t, "metadata": {"session": "x"}} for t in ("Hi", "Hello there", "Bye")])
    mem.associate(ids[0], ids[2])
    before = _state(mem)
    mem.close()
    env = {**os.environ, "NUONUO_HOME": str(nuonuo_home)}
    proc = subprocess.run([sys.executable, "-c", CRASH, "associations"], env=env, capture_output=True, timeout=240)
    assert proc.returncode == 17, proc.stderr.decode()[-2000:]
    m2 = reopen()
    assert _state(m2) == before
    assert m2.store.get_meta("sleep_interrupted") and not m2.store.get_meta("sleep_pending")
    report = m2.consolidate()  # and a whole run afterwards commits everything
    after = _state(m2)
    m2.close()
    assert report["merged"] == 1
    assert _state(reopen()) == after


def test_scheduler_never_runs_twice_at_once(mem):
    started, release = threading.Event(), threading.Event()

    def slow_job(memory):
        started.set()
        release.wait(10)
        return {"seconds": 0.0}

    sched = SleepScheduler(mem, job=slow_job)
    results = []
    th = threading.Thread(target=lambda: results.append(sched.run_now("schedule")))
    th.start()
    assert started.wait(10)
    assert sched.busy and sched.run_now("idle") is None and sched.skipped == 1
    release.set()
    th.join(10)
    assert results[0]["reason"] == "schedule"


def test_scheduler_cron_next_run_idle_and_catch_up(reopen):
    m = reopen(sleep={"schedule": "03:00", "idle_minutes": 0.0001})
    m.remember("something to consolidate")
    runs = []
    sched = SleepScheduler(m, job=lambda memory: runs.append(1) or {"seconds": 0.0})
    with sched:
        nxt = sched.next_run()
        assert nxt is not None
        info = m.stats()["sleep"]
        assert info["scheduler"] == "running" and info["next_run"] == nxt.isoformat()
        assert {j.id for j in sched._sched.get_jobs()} >= {"nightly", "catch-up", "idle"}
        assert "catch_up" in info and nxt.hour == 3  # the missed run waits for a quiet spell, not a time
        m.recall("something")
        time.sleep(0.05)
        assert sched.check_idle()["reason"] == "idle" and runs == [1]
        assert sched.check_idle() is None  # once per idle spell
        sched.catch_up_quiet_s = 0.2
        m.recall("something")  # at work: the missed nightly run waits
        assert sched.catch_up() is None and runs == [1]
        time.sleep(0.25)
        assert sched.catch_up()["reason"] == "catch-up" and runs == [1, 1]
        assert sched.catch_up() is None and "catch-up" not in {j.id for j in sched._sched.get_jobs()}  # once
    assert m.stats()["sleep"]["scheduler"] == "stopped"
    with pytest.raises(ConfigError):
        parse_schedule("25:00")
    assert parse_schedule("") is None and parse_schedule("03:30") == (3, 30)


def test_cli_consolidate_and_link(nuonuo_home):
    from nuonuo.cli.main import main

    runner = CliRunner()
    ra = runner.invoke(main, ["remember", "Ada's cat is named Turing", "--json"])
    rb = runner.invoke(main, ["remember", "Turing likes sardines", "--json"])
    a, b = json.loads(ra.output)["id"], json.loads(rb.output)["id"]
    out = runner.invoke(main, ["link", a, b, "--both"])
    assert out.exit_code == 0 and "linked" in out.output
    bad = runner.invoke(main, ["link", a, "missing-id"])
    assert bad.exit_code == 3 and "no memory" in bad.output
    links = json.loads(runner.invoke(main, ["links", a, "--json"]).output)
    assert {(l["direction"], l["other"]) for l in links} == {("out", b), ("in", b)}
    rep = runner.invoke(main, ["consolidate", "--json", "--paraphrase", "off"])
    assert rep.exit_code == 0 and json.loads(rep.output)["paraphrase_cues"] == 0
    text = runner.invoke(main, ["consolidate"])
    assert "sleep run" in text.output and "memories merged" in text.output


def test_consolidate_with_model_paraphrases(reopen):
    """[sleep] paraphrase = "model": the bundled chat model writes the question cues (it crashed before:
    the module it imported did not exist)."""
    mem = reopen(sleep={"paraphrase": "model", "paraphrase_max": 2}, chat={"n_ctx": 512, "n_threads": 1})
    ids = mem.remember_many(["Marco is the head chef at Trattoria Sole.", "The boiler is serviced every October."])
    report = mem.consolidate(seed=0)
    assert report["paraphrase_cues"] > 0
    cues = [l for i in ids for l in mem.associations(i) if l["kind"] == "paraphrase"]
    assert cues and all(isinstance(l.get("cue_text"), str) and len(l["cue_text"]) > 8 for l in cues)
    by_rules = {q for text in ("Marco is the head chef at Trattoria Sole.", "The boiler is serviced every October.")
                for q in rule_paraphrases(text)}
    assert any(l["cue_text"] not in by_rules for l in cues)  # written by the model, not the rules
