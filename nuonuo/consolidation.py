"""Sleep consolidation: ``consolidate(memory) -> report``, a plain function (the scheduler, the CLI
and ``Memory.consolidate`` call it).

Steps (seed 002's experiment set, with seed 000's local rule):
1. homeostasis ``W ← γ W`` (link weights too), pruning ``|W_ij| < θ`` and links below θ;
2. replay — a sample of recent links, plus extra replays for important targets (priority
   replay: ``1 + round(R · max(0, 2·importance − 1))`` passes), each pass the error-correcting
   contrastive update ``ΔW = η (t − WTA_k(W c̃)) ⊗ c̃`` (c̃: the cue code, optionally noised:
   each active unit swapped for a random one with probability ρ = ``replay_noise``). Memory is
   bounded by one batch, whatever the epochs.
   Replay runs after homeostasis and pruning so that it repairs what they broke.
3. decay — memories not recalled for ``decay_after_days`` lose importance (× factor);
4. merge — near-duplicate memories of a namespace (cosine ≥ threshold, found by random
   hyperplane LSH, then checked exactly) become one: the other gets ``status="merged"`` and
   ``metadata.merged_into``; the survivor keeps ``metadata.merged_from`` and takes over links.
   The search, most of a run's time in a large store (1.2 s at 100K), runs on a copy of each
   namespace's vectors without the lock, so recalls and writes go on meanwhile; each pair found is
   checked again under the lock against the memories as they are then (forgotten, changed);
5. paraphrase cues — new memories get extra cue patterns (questions they answer) that point
   to them: rules by default, the local chat model when ``[sleep] paraphrase = "model"``;
6. compaction of the LanceDB tables;
7. sentence keys (``nuonuo.sentence_index``) for memories that lack them (a store made before they
   existed): encoded outside the lock, at most ``BACKFILL_PER_RUN`` per run, after the run's commit
   (an index, not part of the run's before-or-after).

Atomicity. Everything is computed in RAM first. Then the run records the table versions in
``meta.sleep_pending`` and commits memories, associations and the W snapshot (one commit each),
and finally one meta commit that clears the marker and stores the report and the snapshot's
watermark. A run killed in between leaves the marker: the next open restores every table to
the recorded versions (``recover_interrupted_run``), so the store is as before the run or after.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pyarrow as pa

from nuonuo.edges import W_SNAPSHOT_SCHEMA, Edge, edges_to_arrow
from nuonuo.hebbian import SparseW, replay, replay_recall
from nuonuo.records import MemoryRecord
from nuonuo.store import META_SCHEMA

if TYPE_CHECKING:
    from nuonuo.associations import AssociationMemory
    from nuonuo.config import SleepConfig
    from nuonuo.views import FacadeView

TABLES = ("memories", "associations", "hebbian_w")
BACKFILL_PER_RUN = 20_000  # memories given sentence keys per sleep run (~1 min of encoding on 2 cores)
DAY = 86400.0


def _after_step(name: str) -> None:
    """Called after each commit of a run (a seam for the crash test)."""


def recover_interrupted_run(store) -> str | None:
    """If a run died between its commits, put every table back to its version before the run."""
    pending = store.get_meta("sleep_pending") or ""
    if not pending:
        return None
    info = json.loads(pending)
    for name, version in info.get("versions", {}).items():
        if name in store.table_names():
            tbl = store.table(name)
            if tbl.version != version:
                tbl.restore(version)
    _meta(store, {"sleep_pending": "", "sleep_interrupted": info.get("run_id", "")})
    return info.get("run_id")


def _meta(store, values: dict[str, str]) -> None:
    """Several meta values in one commit."""
    data = pa.Table.from_pylist([{"name": k, "value": v} for k, v in values.items()], schema=META_SCHEMA)
    store.table("meta").merge_insert("name").when_matched_update_all().when_not_matched_insert_all().execute(data)


def last_report(memory: "FacadeView") -> dict[str, Any] | None:
    raw = memory.store.get_meta("sleep_last_report")
    return json.loads(raw) if raw else None


# --- near-duplicates ----------------------------------------------------------------------------------
def near_duplicates(ids: list[str], x: np.ndarray, threshold: float, seed: int = 7,
                    bands: int = 8, bits: int = 16) -> list[tuple[str, str, float]]:
    """Pairs (a, b, cosine) with ``cos ≥ threshold``: random-hyperplane LSH in ``bands`` bands of
    ``bits`` bits (P[a pair at angle θ shares a band] = 1 − (1 − (1 − θ/π)^bits)^bands), then an
    exact cosine check of the candidates. O(n) instead of the O(n²) all-pairs product.

    The candidates of each band are taken group size by group size, all at once, and a pair is
    checked only when its whole signature (bands · bits hyperplanes) differs in at most

    .. math::

        d_{max} = m p + 6 \\sqrt{m p (1 − p)} + 1, \\qquad p = \\arccos(t) / π, \\; m = bands · bits

    places: a pair at the threshold's angle differs in m·p of them on average, so one above the
    threshold passes all but ~1e-9 of the time, and a pair of unrelated memories (p = ½) almost
    never. At 100K memories, against checking each band's groups one at a time: 0.27 s against 3.1 s
    for unrelated vectors, 1.17 s against 1.53 s for the latency benchmark's store, whose notes are
    alike (5M candidate pairs, 1.9M of them checked)."""
    n = len(ids)
    if n < 2:
        return []
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((x.shape[1], bands * bits)).astype(np.float32)
    sig = (x @ planes) > 0
    packed = np.packbits(sig, axis=1)
    m = bands * bits
    p = float(np.arccos(np.clip(threshold, -1.0, 1.0))) / np.pi
    max_differ = m * p + 6.0 * np.sqrt(m * p * (1.0 - p)) + 1.0
    weights = (1 << np.arange(bits)).astype(np.int64)
    found: dict[tuple[int, int], float] = {}
    for b in range(bands):
        keys = sig[:, b * bits:(b + 1) * bits].astype(np.int64) @ weights
        order = np.argsort(keys, kind="stable")
        starts = np.concatenate(([0], np.flatnonzero(np.diff(keys[order])) + 1))
        sizes = np.diff(np.concatenate((starts, [n])))
        for size in np.unique(sizes[(sizes >= 2) & (sizes <= 64)]).tolist():
            groups = order[starts[sizes == size][:, None] + np.arange(size)]  # (groups, size) rows
            i, j = np.triu_indices(size, 1)
            a, c = groups[:, i].ravel(), groups[:, j].ravel()
            near = _POPCOUNT[packed[a] ^ packed[c]].sum(axis=1, dtype=np.int32) <= max_differ
            a, c = a[near], c[near]
            sims = np.einsum("ij,ij->i", x[a], x[c])
            keep = sims >= threshold
            for lo, hi, cos in zip(np.minimum(a, c)[keep].tolist(), np.maximum(a, c)[keep].tolist(),
                                   sims[keep].tolist()):
                found.setdefault((lo, hi), cos)
    return [(ids[lo], ids[hi], cos) for (lo, hi), cos in found.items()]


_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)  # set bits of each byte


# --- paraphrase cues ----------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+|\d[\d.,:/\-]*")
_STOP = set("""a an the and or but if of to in on at by for with from as is are was were be been being it its
this that these those i me my mine we our you your he him his she her they them their there here what which who
whom whose when where why how do does did done have has had not no yes so very just also than then too can could
will would shall should may might must about into over under again once all any both each few more most other
some such only own same s t don now""".split())


def rule_paraphrases(text: str, limit: int = 3) -> list[str]:
    """Questions and short cues a memory answers, by rules (no model): the first clause turned
    into a question, and the rarest content words as a keyword cue."""
    clean = " ".join(text.split())
    first = re.split(r"(?<=[.!?])\s+", clean)[0].rstrip(".!?")
    words = _WORD.findall(clean)
    content = [w for w in words if w.lower() not in _STOP]
    out = []
    m = re.match(r"^(.{2,80}?)\s+(is|are|was|were)\s+(.+)$", first, flags=re.I)
    if m:
        subj = m.group(1)
        out.append(f"{'Who' if subj[:1].isupper() else 'What'} {m.group(2).lower()} {subj}?")
        out.append(f"What {m.group(2).lower()} {m.group(3)}?")
    swapped = re.sub(r"\b(I am|I'm)\b", "you are", first, flags=re.I)
    swapped = re.sub(r"\bmy\b", "your", re.sub(r"\bI\b", "you", swapped), flags=re.I)
    if swapped != first:
        out.append(f"What do you know about how {swapped}?")
    if content:
        ranked = sorted(dict.fromkeys(content), key=lambda w: (-len(w), w))[:6]
        out.append(" ".join(ranked))
        out.append(f"What do you know about {' '.join(content[:4])}?")
    seen, result = set(), []
    for q in out:
        key = q.lower()
        if key not in seen and key != clean.lower():
            seen.add(key)
            result.append(q)
    return result[:limit]


def model_paraphraser(config) -> "Callable[[str], list[str]]":
    """Questions generated by the configured local chat model (``[sleep] paraphrase = "model"``):
    the model is loaded once per sleep run; a reply with no usable line falls back to the rules."""
    from nuonuo.chat.llm import load_chat_model

    model = load_chat_model(config.chat)

    def paraphrase(text: str, limit: int = 3) -> list[str]:
        ask = f"Write {limit} short questions that this note answers, one per line.\nNote: {text}"
        prompt, stops = model.render([{"role": "user", "content": ask}])
        reply = "".join(model.stream(prompt, max_tokens=80, temperature=0.0, stop=stops))
        lines = [ln.strip(" -*0123456789.").strip() for ln in reply.splitlines()]
        return list(dict.fromkeys(ln for ln in lines if len(ln) > 8))[:limit] or rule_paraphrases(text, limit)

    return paraphrase


# --- the run ------------------------------------------------------------------------------------------
@dataclass
class SleepPlan:
    """What a run will commit, computed in RAM from the memory's current state: the changed fields
    per memory id, every link after the run, and W after the run. ``report`` is filled as it goes."""

    run_id: str
    now: float
    report: dict[str, Any]
    w: SparseW
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], Edge] = field(default_factory=dict)


def consolidate(memory: "FacadeView", *, epochs: int | None = None, noise: float | None = None,
                paraphrase: str | None = None, now: float | None = None, seed: int | None = None) -> dict[str, Any]:
    """One sleep run over the whole store: plan (in RAM, nothing changes), commit (before or after,
    never between), apply (the caches take the committed state). Returns the report (also kept in
    ``meta``)."""
    cfg = memory.config.sleep
    epochs = cfg.replay_epochs if epochs is None else epochs
    noise = cfg.replay_noise if noise is None else noise
    paraphrase = cfg.paraphrase if paraphrase is None else paraphrase
    t0 = time.perf_counter()
    now = time.time() if now is None else now
    run_id = uuid.uuid4().hex[:12]
    rng = np.random.default_rng(seed)
    with memory.lock:
        memory.check_open()
        vectors = [(list(ix.ids), ix.matrix.copy()) for ix in memory.pattern_indexes().values() if len(ix) >= 2]
    pairs = [pair for ids, x in vectors for pair in near_duplicates(ids, x, cfg.merge_threshold)]  # lock free
    del vectors
    with memory.lock:
        memory.check_open()
        memory.flush()
        plan = plan_run(memory, run_id, now, rng, epochs, noise, paraphrase, pairs)
        updated = commit_run(memory, plan, t0)
        memory.replace_records(updated)  # the caches follow the committed state
        memory.hebbian.load_state(memory, plan.w, list(plan.edges.values()))
        if cfg.compact:
            memory.store.compact()
        report = plan.report
        report["compacted"] = bool(cfg.compact)
    report["sentence_keys_added"] = backfill_sentence_keys(memory, BACKFILL_PER_RUN)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def backfill_sentence_keys(memory: "FacadeView", limit: int) -> int:
    """Step 7: sentence keys (``nuonuo.sentence_index``) for up to ``limit`` memories that lack them,
    e.g. a store made before they existed. The lock is held only to add their keys, not while the
    memories are picked or encoded; one whose text changed meanwhile waits for the next run.
    Returns how many memories got keys."""
    keys = memory.sentences
    todo = keys.lacking(memory.records(), limit)  # a scan of every text (0.5 s at 100K), without the lock
    if not todo:
        return 0
    keys.encode(memory.encoder, todo, memory.config.encoder.batch_size, own=False)
    with memory.lock:
        memory.check_open()
        same = [r for r in todo if (cur := memory.record(r.id)) is not None and cur is r and cur.status == "active"]
        kept = {r.id for r in same}
        keys.unstage([r.id for r in todo if r.id not in kept])
        keys.added(memory, same, np.zeros((0, memory.encoder.dim), dtype=np.float32))
        return sum(1 for r in same if r.id in keys)


def plan_run(memory: "FacadeView", run_id: str, now: float, rng: np.random.Generator, epochs: int,
             noise: float, paraphrase: str, pairs: list[tuple[str, str, float]]) -> SleepPlan:
    """Steps 1-5 over a snapshot of the records, the links and a copy of W; ``pairs``: the
    near-duplicate pairs found before (``near_duplicates``), checked again here."""
    plan = SleepPlan(run_id, now, {"run_id": run_id, "started": now}, memory.hebbian.W.copy())
    recs = {r.id: r for r in memory.records()}
    _replay_and_prune(memory.hebbian, memory.config.sleep, recs, plan, rng, epochs, noise)
    plan.changed = _decay(memory.config.sleep, recs, now, plan.report)
    absorbed = _merge(memory, recs, plan, pairs)
    _paraphrase_cues(memory, recs, plan, absorbed, paraphrase)
    plan.w.compact()
    plan.report.update(w_norm_after=plan.w.norm(), w_nnz_after=plan.w.nnz, w_sparsity_after=plan.w.sparsity())
    return plan


def _replay_and_prune(comp: "AssociationMemory", cfg: "SleepConfig", recs: dict[str, MemoryRecord],
                      plan: SleepPlan, rng: np.random.Generator, epochs: int, noise: float) -> None:
    """Steps 1-2: homeostasis and pruning of ``plan.w`` and of the links, then replay repairs what
    they broke. Fills ``plan.edges`` with the links that survive."""
    report, now, k, W = plan.report, plan.now, comp.cfg.k, plan.w
    edges = [e for e in comp.edges.values() if len(e.cue_units) == k and len(e.target_units) == k]
    recent = [e for e in edges if now - e.created_at <= cfg.recent_days * DAY]

    def importance(e: Edge) -> float:
        r = recs.get(e.target)
        return r.importance if r is not None else 0.0

    priority = [e for e in edges if importance(e) > 0.5]
    sample = list({(e.cue, e.target, e.kind): e for e in recent + priority}.values())
    if len(sample) > cfg.replay_sample:
        sample.sort(key=lambda e: (-importance(e), -e.created_at))
        sample = sample[:cfg.replay_sample]
    report.update(w_norm_before=W.norm(), w_nnz_before=W.nnz, w_sparsity_before=W.sparsity(),
                  replayed=len(sample))
    if sample:
        cues = np.stack([e.cue_units for e in sample])
        targets = np.stack([e.target_units for e in sample])
        repeats = 1 + np.round(cfg.priority_replays * np.clip(
            2 * np.array([importance(e) for e in sample]) - 1, 0, 1)).astype(np.int64)
        probe = rng.choice(len(sample), min(len(sample), 1000), replace=False)  # the replay sample
        report["replay_recall_before"] = replay_recall(W, cues[probe], targets[probe], k)
    W.scale(cfg.homeostasis)
    report["pruned"] = W.prune(cfg.prune_threshold)
    if sample:
        report["replay_updates"] = replay(W, cues, targets, repeats, k, epochs, cfg.learning_rate, noise, rng)
        report["replay_recall_after"] = replay_recall(W, cues[probe], targets[probe], k)
    pruned_links = 0
    for key, e in comp.edges.items():
        w = e.weight * cfg.homeostasis
        if w < cfg.prune_threshold:
            pruned_links += 1
            continue
        plan.edges[key] = Edge(e.cue, e.target, e.kind, w, e.created_at, e.namespace, e.cue_units,
                               e.target_units, e.cue_text)
    report["pruned_links"] = pruned_links


def _decay(cfg: "SleepConfig", recs: dict[str, MemoryRecord], now: float,
           report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Step 3: memories not recalled for ``decay_after_days`` lose importance."""
    changed: dict[str, dict[str, Any]] = {}
    for r in recs.values():
        if r.status != "active":
            continue
        seen_at = max(r.last_access, r.created_at)
        if now - seen_at > cfg.decay_after_days * DAY and r.importance > 0.01:
            changed[r.id] = {"importance": r.importance * cfg.decay_factor}
    report["decayed"] = len(changed)
    return changed


def _merge(memory: "FacadeView", recs: dict[str, MemoryRecord], plan: SleepPlan,
           pairs: list[tuple[str, str, float]]) -> dict[str, str]:
    """Step 4: near-duplicates of a namespace become one memory; the survivor takes over the links.
    ``pairs`` were found on a copy of the vectors: a pair is merged only if both memories are still
    active in one namespace and their vectors now still meet the threshold. Returns
    ``{absorbed id: survivor id}``."""
    cfg, comp, changed, W = memory.config.sleep, memory.hebbian, plan.changed, plan.w
    merged = 0
    merges: list[tuple[str, str, float]] = []
    for a, b, _ in pairs:
        ra, rb = recs.get(a), recs.get(b)
        if ra is None or rb is None or ra.status != "active" or rb.status != "active" or ra.namespace != rb.namespace:
            continue  # forgotten, superseded or merged since the search
        cos = float(memory.vector(a) @ memory.vector(b))  # the text may have changed since
        if cos >= cfg.merge_threshold:
            merges.append((a, b, cos))
    absorbed: dict[str, str] = {}
    for a, b, cos in sorted(merges, key=lambda t: -t[2]):
        a, b = absorbed.get(a, a), absorbed.get(b, b)
        if a == b or a in absorbed or b in absorbed:
            continue
        ra, rb = recs[a], recs[b]
        if ra.key_canonical != rb.key_canonical:
            continue  # different keys are different facts
        keep, drop = (ra, rb) if (ra.access_count, -ra.created_at) >= (rb.access_count, -rb.created_at) else (rb, ra)
        absorbed[drop.id] = keep.id
        ck = changed.setdefault(keep.id, {})
        meta = dict(ck.get("metadata", keep.metadata))
        meta["merged_from"] = list(meta.get("merged_from", [])) + [
            {"id": drop.id, "text": drop.text, "timestamp": drop.timestamp, "cosine": round(cos, 4)}]
        ck.update(metadata=meta, access_count=keep.access_count + drop.access_count,
                  importance=max(ck.get("importance", keep.importance), drop.importance))
        cd = changed.setdefault(drop.id, {})
        cd.update(status="merged", metadata={**drop.metadata, "merged_into": keep.id, "merge_run": plan.run_id})
        merged += 1
    new_edges = plan.edges
    for key, e in list(new_edges.items()):  # the survivor takes over the links
        cue, tgt = absorbed.get(e.cue, e.cue), absorbed.get(e.target, e.target)
        if (cue, tgt) == (e.cue, e.target):
            continue
        del new_edges[key]
        if cue != tgt:
            t_units = e.target_units if tgt == e.target else comp.target_code(memory, tgt)
            c_units = e.cue_units if cue == e.cue or e.cue_text else comp.cue_code(memory, cue)
            nk = (cue, tgt, e.kind)
            old = new_edges.get(nk)
            new_edges[nk] = Edge(cue, tgt, e.kind, e.weight + (old.weight if old else 0), e.created_at,
                                 e.namespace, c_units, t_units, e.cue_text)
            W.add_outer(t_units, c_units, e.weight)
    plan.report["merged"] = merged
    return absorbed


def _paraphrase_cues(memory: "FacadeView", recs: dict[str, MemoryRecord], plan: SleepPlan,
                     absorbed: dict[str, str], paraphrase: str) -> None:
    """Step 5: extra cue patterns (questions) for the memories new since the last run."""
    cfg, comp, new_edges, now = memory.config.sleep, memory.hebbian, plan.edges, plan.now
    n_para = 0
    if paraphrase in ("rules", "model"):
        with_cues = {e.target for e in new_edges.values() if e.kind == "paraphrase"}
        last = (last_report(memory) or {}).get("started", 0.0)
        fresh = [r for r in recs.values() if r.status == "active" and r.id not in absorbed
                 and r.id not in with_cues and r.created_at >= last - DAY]
        fresh.sort(key=lambda r: (-r.importance, -r.created_at))
        texts: list[str] = []
        owners: list[MemoryRecord] = []
        make = model_paraphraser(memory.config) if paraphrase == "model" and fresh else rule_paraphrases
        for r in fresh[:cfg.paraphrase_max]:
            qs = make(r.text)
            texts += qs
            owners += [r] * len(qs)
        if texts:
            vecs = memory.encoder.embed_many(texts, memory.config.encoder.batch_size)
            ccodes = comp.proj.cue_codes(vecs)
            tcache: dict[str, np.ndarray] = {}
            for t, r, cu in zip(texts, owners, ccodes):
                if r.id not in tcache:
                    tcache[r.id] = comp.target_code(memory, r.id)
                e = Edge(f"para:{r.id}:{uuid.uuid5(uuid.NAMESPACE_OID, t).hex[:12]}", r.id, "paraphrase", 1.0,
                         now, r.namespace, cu, tcache[r.id], t)
                new_edges[(e.cue, e.target, e.kind)] = e
                plan.w.add_outer(e.target_units, cu, 1.0)
                n_para += 1
    plan.report["paraphrase_cues"] = n_para


def commit_run(memory: "FacadeView", plan: SleepPlan, t0: float) -> list[MemoryRecord]:
    """Step 6: the marker, memories, links, the W snapshot, then one meta commit that clears the
    marker; any failure puts every table back (``recover_interrupted_run``). Returns the changed
    records as committed."""
    store, recs, report = memory.store, plan.changed, plan.report
    versions = {name: store.table(name).version for name in TABLES}
    _meta(store, {"sleep_pending": json.dumps({"run_id": plan.run_id, "versions": versions})})
    updated = []
    for mid, fields in recs.items():
        new = dataclasses.replace(memory.get(mid), **fields)
        new.updated_at = time.time()
        updated.append(new)
    watermark = time.time()
    try:
        if updated:
            store.upsert(updated, np.stack([memory.vector(r.id) for r in updated]))
        _after_step("memories")
        store.table("associations").add(edges_to_arrow(list(plan.edges.values())), mode="overwrite")
        _after_step("associations")
        snap = list(plan.w.columns())
        store.table("hebbian_w").add(pa.Table.from_pydict(
            {"col": [c for c, _, _ in snap], "rows": [r.tolist() for _, r, _ in snap],
             "vals": [v.tolist() for _, _, v in snap]}, schema=W_SNAPSHOT_SCHEMA), mode="overwrite")
        _after_step("hebbian_w")
        report.update(finished=time.time(), seconds=round(time.perf_counter() - t0, 3))
        _meta(store, {"sleep_pending": "", "sleep_last_report": json.dumps(report),
                      "hebbian_w_watermark": repr(watermark)})
    except BaseException:
        recover_interrupted_run(store)
        raise
    return updated
