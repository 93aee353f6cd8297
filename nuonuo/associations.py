"""The association memory as a ``Component``: keeps the sparse W (``nuonuo.hebbian``) in step with
the ``associations`` table in LanceDB, makes links automatically, and expands recall by hops.

Durable state (LanceDB, the source of truth):
- ``associations``: one row per link ``(cue, target, kind)`` with its weight, namespace, time and
  the two codes' active units (so W is rebuilt at open without re-projecting anything).
  Kinds: ``link`` (explicit), ``session`` (temporal neighbours of one conversation),
  ``corecall`` (recalled together), ``paraphrase`` (an extra cue pattern for a memory; the cue is
  a generated text, ``cue_text``), ``tombstone`` (a forgotten link's negative contribution
  to a W snapshot).
- ``hebbian_w``: the W a sleep run left (its replay corrections are not single links), one row
  per non-empty column; ``meta.hebbian_w_watermark`` says which links it already contains.
- ``meta.hebbian_seed``/``hebbian_code``: the projection seed and (N, k).

At open: W = snapshot (if any) + Σ w·target⊗cue over the links created after its watermark, computed
on first use of ``W`` (most recalls follow no link).
"""

from __future__ import annotations

import json
import math
import secrets
import time
import uuid
from typing import Any, Callable, Sequence

import numpy as np

from nuonuo.component import MemoryView
from nuonuo.config import HebbianConfig
from nuonuo.turns import session_of
from nuonuo.edges import (ASSOCIATION_SCHEMA, AUTO_KINDS, KIND_RE, W_SNAPSHOT_SCHEMA, Edge,  # noqa: F401
                          edges_to_arrow, w_from_snapshot)
from nuonuo.errors import InvalidInput
from nuonuo.hebbian import Projections, SparseW, TargetIndex
from nuonuo.records import MemoryRecord
from nuonuo.store import sql_str

class AssociationMemory:
    """Component: W, codes and links for every namespace (see the module docstring)."""

    def __init__(self, config: HebbianConfig):
        self.cfg = config
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.by_memory: dict[str, set[tuple[str, str, str]]] = {}
        self.targets: dict[str, TargetIndex] = {}
        self._cue_cache: dict[str, np.ndarray] = {}
        self._target_cache: dict[str, np.ndarray] = {}  # target codes of memories not (yet) link targets
        # (namespace, session; None: memories that name no session) → the last memory there
        self._last_in_session: dict[tuple[str, str | None], str] = {}
        self._corecall: list[tuple[str, str]] = []  # (cue, target) pairs recalled together, not yet linked
        self._W = SparseW(self.cfg.code_dim)
        self._w_loader: Callable[[], SparseW] | None = None  # set by ``rebuild``: W is read on first use
        self.proj: Projections  # drawn from the store's seed in ``rebuild``
        self.scheduler_info: dict[str, Any] = {}  # set by nuonuo.scheduler while it runs
        self.last_activity = 0.0  # time of the last write or recall (the idle trigger reads it)

    @property
    def W(self) -> SparseW:
        """The association matrix, read on first use: most recalls follow no link (reading it, scipy
        included, was 0.1 s of a 0.6 s CLI recall)."""
        if self._w_loader is not None:  # cleared once read: a failed read fails again, not silently empty
            self._W, self._w_loader = self._w_loader(), None
        return self._W

    @W.setter
    def W(self, w: SparseW) -> None:
        self._w_loader = None
        self._W = w

    # --- Component hooks ----------------------------------------------------------------------------
    def rebuild(self, memory: MemoryView) -> None:
        store = memory.store
        seed = store.get_meta("hebbian_seed")
        if seed is None:
            seed = str(self.cfg.seed or secrets.randbits(62))
            store.set_meta("hebbian_seed", seed)
        code = f"{self.cfg.code_dim}/{self.cfg.k}"
        stored_code = store.get_meta("hebbian_code")
        self.proj = Projections(int(seed), memory.encoder.dim, self.cfg.code_dim, self.cfg.k)
        tbl = store.table("associations")
        rows = tbl.to_arrow().to_pylist() if tbl.count_rows() else []
        recode = stored_code is not None and stored_code != code
        if stored_code != code:
            store.set_meta("hebbian_code", code)
        self.edges.clear()
        self.by_memory.clear()
        self.targets.clear()
        edges = []
        for r in rows:
            e = Edge(r["cue"], r["target"], r["kind"], float(r["weight"] or 0.0), r["created_at"] or 0.0,
                     r["namespace"] or "default", np.asarray(r["cue_units"] or [], dtype=np.int32),
                     np.asarray(r["target_units"] or [], dtype=np.int32), r.get("cue_text"))
            edges.append(e)
        if recode:  # the code space changed: re-project every link from the memories' vectors
            edges = [e for e in edges if memory.record(e.target) is not None and e.kind != "tombstone"]
            for e in edges:
                e.target_units = self.target_code(memory, e.target)
                e.cue_units = (self.proj.cue_codes(memory.encoder.embed(e.cue_text))[0] if e.cue_text
                               else self.cue_code(memory, e.cue))
            tbl.delete("true")
            if edges:
                tbl.add(edges_to_arrow(edges))
            store.set_meta("hebbian_w_watermark", "")
        watermark = float(store.get_meta("hebbian_w_watermark") or "nan")
        fresh = [e for e in edges if math.isnan(watermark) or e.created_at > watermark]

        def load() -> SparseW:
            w = (SparseW(self.cfg.code_dim) if math.isnan(watermark)
                 else w_from_snapshot(store.table("hebbian_w").to_arrow(), self.cfg.code_dim))
            if fresh:
                w.add_outer(np.stack([e.target_units for e in fresh]), np.stack([e.cue_units for e in fresh]),
                            np.array([e.weight for e in fresh], dtype=np.float32))
                w.compact()
            return w

        self._W, self._w_loader = SparseW(self.cfg.code_dim), load  # read on first use of W
        self._index_edges(memory, [e for e in edges if e.kind != "tombstone"])
        latest: dict[tuple[str, str | None], tuple[float, str]] = {}  # the newest turn of each conversation
        for rec in memory.records():
            if rec.status == "active" and (sess := session_of(rec)) is not None:
                last = latest.get((rec.namespace, sess))
                if last is None or rec.created_at >= last[0]:
                    latest[(rec.namespace, sess)] = (rec.created_at, rec.id)
        self._last_in_session = {conv: mid for conv, (_, mid) in latest.items()}

    def _index_edges(self, memory: MemoryView, edges: Sequence[Edge]) -> None:
        per_ns: dict[str, dict[str, np.ndarray]] = {}
        for e in edges:
            key = (e.cue, e.target, e.kind)
            self.edges[key] = e
            self.by_memory.setdefault(e.target, set()).add(key)
            if not e.cue_text:
                self.by_memory.setdefault(e.cue, set()).add(key)
                self._cue_cache.setdefault(e.cue, e.cue_units)
            rec = memory.record(e.target)
            if rec is not None and rec.status == "active":
                per_ns.setdefault(e.namespace, {})[e.target] = e.target_units
        for ns, codes in per_ns.items():
            ix = self.targets.setdefault(ns, TargetIndex(self.cfg.code_dim, self.cfg.k))
            ix.add(list(codes), np.stack(list(codes.values())))

    def load_state(self, memory: MemoryView, w: SparseW, edges: Sequence[Edge]) -> None:
        """Take the W and the links a sleep run committed in place of the cached ones."""
        self.W = w
        self.edges.clear()
        self.by_memory.clear()
        self.targets.clear()
        self._index_edges(memory, edges)

    def added(self, memory: MemoryView, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        self.last_activity = time.time()
        new: list[Edge] = []
        linked = [i for i, r in enumerate(records) if r.status == "active"
                  and (r.id in self.by_memory or (self.cfg.session_links and session_of(r) is not None))]
        if linked:
            vecs = np.asarray(vectors, dtype=np.float32)[linked]
            cues, targets = self.proj.cue_codes(vecs), self.proj.target_codes(vecs)
        batch_targets: dict[str, np.ndarray] = {}
        for j, i in enumerate(linked):
            rec = records[i]
            self._cue_cache[rec.id] = cues[j]
            self._target_cache.pop(rec.id, None)
            batch_targets[rec.id] = targets[j]
            if rec.id in self.by_memory:  # an updated memory: it is a target again, with its new code
                ix = self.targets.setdefault(rec.namespace, TargetIndex(self.cfg.code_dim, self.cfg.k))
                ix.remove(rec.id)
                ix.slot.pop(rec.id, None)
                ix.add([rec.id], targets[j][None, :])
                continue
            skey = (rec.namespace, session_of(rec))
            prev = self._last_in_session.get(skey)
            self._last_in_session[skey] = rec.id
            if prev is None or prev == rec.id or memory.record(prev) is None:
                continue
            w, now, ns = self.cfg.session_weight, time.time(), rec.namespace
            new.append(Edge(prev, rec.id, "session", w, now, ns, self.cue_code(memory, prev), targets[j]))
            prev_target = batch_targets.get(prev)
            if prev_target is None:
                prev_target = self.target_code(memory, prev)
            new.append(Edge(rec.id, prev, "session", w, now, ns, cues[j], prev_target))
        if new:
            self._commit(memory, new)

    def removed(self, memory: MemoryView, records: Sequence[MemoryRecord]) -> None:
        gone: list[Edge] = []
        for rec in records:
            ix = self.targets.get(rec.namespace)
            if ix is not None:
                ix.remove(rec.id)
            self._cue_cache.pop(rec.id, None)
            self._target_cache.pop(rec.id, None)
            if memory.record(rec.id) is not None:  # superseded or being updated: keep its links
                continue
            for key in self.by_memory.pop(rec.id, set()):
                e = self.edges.pop(key, None)
                if e is not None:
                    gone.append(e)
            for skey, mid in list(self._last_in_session.items()):
                if mid == rec.id:
                    del self._last_in_session[skey]
        if gone:
            self._delete_edges(memory, gone, {r.id for r in records if memory.record(r.id) is None})

    def flush(self, memory: MemoryView) -> None:
        pending = self._corecall_edges(memory)
        if pending:
            self._commit(memory, pending)

    def take_corecalls(self) -> list[tuple[str, str]]:
        """The co-recall pairs not yet linked, handed over (a process that cannot write passes them on)."""
        pairs, self._corecall = self._corecall, []
        return pairs

    def add_corecalls(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Co-recall pairs noted elsewhere, linked at the next flush (a sleep run, close)."""
        self._corecall.extend(pairs)

    def _corecall_edges(self, memory: MemoryView) -> list[Edge]:
        """The pending co-recall pairs as edges; pairs whose memory is gone meanwhile are dropped.
        Their codes are computed here, in one batch, not on each recall."""
        pairs, self._corecall = self._corecall, []
        pairs = [(a, b) for a, b in pairs if memory.record(a) is not None and memory.record(b) is not None]
        if not pairs:
            return []
        self._prefetch_codes(memory, list(dict.fromkeys(m for pair in pairs for m in pair)))
        w = self.cfg.corecall_weight
        return [self._make_edge(memory, a, b, w, "corecall") for a, b in pairs]

    # --- codes --------------------------------------------------------------------------------------
    def cue_code(self, memory: MemoryView, mid: str) -> np.ndarray:
        code = self._cue_cache.get(mid)
        if code is None:
            code = self.proj.cue_codes(memory.vector(mid))[0]
            self._cue_cache[mid] = code
        return code

    def target_code(self, memory: MemoryView, mid: str) -> np.ndarray:
        """``target(x_mid)``: from the target index when ``mid`` is a link target, else computed once
        (a 384×16K projection: co-recall links would otherwise pay it on every recall)."""
        code = self._indexed_code(memory, mid)
        if code is None:
            code = self._target_cache.get(mid)
        if code is None:
            code = self.proj.target_codes(memory.vector(mid))[0]
            self._target_cache[mid] = code
        return code

    def _prefetch_codes(self, memory: MemoryView, ids: Sequence[str], targets: bool = True,
                        query: np.ndarray | None = None) -> np.ndarray | None:
        """Cue (and target) codes of ``ids`` not known yet, in one projection each: the 384×16K
        matrices are read once per batch instead of once per memory. With ``query``, its cue code
        rides in the same batch and is returned."""
        need_cue = [m for m in ids if m not in self._cue_cache]
        rows = [memory.vector(m) for m in need_cue] + ([query] if query is not None else [])
        query_code = None
        if rows:
            codes = self.proj.cue_codes(np.stack(rows))
            for m, code in zip(need_cue, codes):
                self._cue_cache[m] = code
            query_code = codes[-1] if query is not None else None
        need_target = [m for m in ids if targets and m not in self._target_cache
                       and self._indexed_code(memory, m) is None]
        if need_target:
            for m, code in zip(need_target, self.proj.target_codes(np.stack([memory.vector(m) for m in need_target]))):
                self._target_cache[m] = code
        return query_code

    def _indexed_code(self, memory: MemoryView, mid: str) -> np.ndarray | None:
        rec = memory.record(mid)
        ix = self.targets.get(rec.namespace) if rec else None
        return ix.code(mid) if ix is not None else None

    # --- links --------------------------------------------------------------------------------------
    def _make_edge(self, memory: MemoryView, cue: str, target: str, weight: float, kind: str,
                   vec_cue: np.ndarray | None = None, vec_target: np.ndarray | None = None,
                   cue_text: str | None = None) -> Edge:
        ns = memory.get(target).namespace
        cu = (self.proj.cue_codes(vec_cue)[0] if vec_cue is not None else self.cue_code(memory, cue))
        tu = (self.proj.target_codes(vec_target)[0] if vec_target is not None else self.target_code(memory, target))
        return Edge(cue, target, kind, float(weight), time.time(), ns, cu, tu, cue_text)

    def _commit(self, memory: MemoryView, new: list[Edge]) -> None:
        """Durably add links (existing ones gain the weight), then update W and the indexes."""
        merged: dict[tuple[str, str, str], Edge] = {}
        for e in new:
            key = (e.cue, e.target, e.kind)
            if key in merged:
                merged[key].weight += e.weight
            else:
                merged[key] = e
        fresh, grown = [], []
        for key, e in merged.items():
            old = self.edges.get(key)
            if old is None:
                fresh.append(e)
            else:
                cap = 1.0 if e.kind == "corecall" else math.inf
                grown.append(Edge(old.cue, old.target, old.kind, min(cap, old.weight + e.weight), e.created_at,
                                  old.namespace, old.cue_units, old.target_units, old.cue_text))
        tbl = memory.store.table("associations")
        if fresh:
            tbl.add(edges_to_arrow(fresh))
        if grown:
            (tbl.merge_insert(["cue", "target", "kind"]).when_matched_update_all()
             .when_not_matched_insert_all().execute(edges_to_arrow(grown)))
        deltas = [(e, e.weight) for e in fresh] + [(g, g.weight - self.edges[(g.cue, g.target, g.kind)].weight)
                                                   for g in grown]
        deltas = [(e, d) for e, d in deltas if d != 0]
        if deltas:
            self.W.add_outer(np.stack([e.target_units for e, _ in deltas]), np.stack([e.cue_units for e, _ in deltas]),
                             np.array([d for _, d in deltas], dtype=np.float32))
        self._index_edges(memory, fresh + grown)

    def _delete_edges(self, memory: MemoryView, gone: list[Edge], forgotten: set[str]) -> None:
        """Remove links from the table and their contribution from W. Links a W snapshot already
        holds leave a ``tombstone`` (negative) row so the snapshot + later rows stays right."""
        tbl = memory.store.table("associations")
        watermark = float(memory.store.get_meta("hebbian_w_watermark") or "nan")
        ids = sorted(forgotten)
        for s in range(0, len(ids), 300):
            part = ", ".join(sql_str(i) for i in ids[s:s + 300])
            tbl.delete(f"cue IN ({part}) OR target IN ({part})")
        now = time.time()
        tombs = [Edge(e.cue, e.target, "tombstone", -e.weight, now, e.namespace, e.cue_units, e.target_units)
                 for e in gone if not math.isnan(watermark) and e.created_at <= watermark]
        if tombs:
            tbl.add(edges_to_arrow(tombs))
        self.W.add_outer(np.stack([e.target_units for e in gone]), np.stack([e.cue_units for e in gone]),
                         np.array([-e.weight for e in gone], dtype=np.float32))
        for e in gone:
            for mid in (e.cue, e.target):
                keys = self.by_memory.get(mid)
                if keys is not None:
                    keys.discard((e.cue, e.target, e.kind))

    def associate(self, memory: MemoryView, cue_id: str, target_id: str, weight: float = 1.0,
                  kind: str = "link") -> None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or not 0 < weight <= 10:
            raise InvalidInput(f"weight must be a number in (0, 10], not {weight!r}")
        if not isinstance(kind, str) or not KIND_RE.match(kind) or kind == "tombstone":
            raise InvalidInput(f"kind must be a short lower-case word such as 'link', not {kind!r}")
        if cue_id == target_id:
            raise InvalidInput("a memory cannot be linked to itself")
        cue, target = memory.get(cue_id), memory.get(target_id)
        if cue.namespace != target.namespace:
            raise InvalidInput(f"{cue_id} is in namespace {cue.namespace!r} but {target_id} is in "
                               f"{target.namespace!r}: links stay inside one namespace")
        self._commit(memory, [self._make_edge(memory, cue.id, target.id, float(weight), kind)])

    def add_cue_patterns_many(self, memory: MemoryView, target_ids: Sequence[str], texts: Sequence[str],
                              vectors: np.ndarray, weight: float = 1.0) -> int:
        """Extra cues (questions, paraphrases) pointing to memories: ``W += w·target ⊗ cue(text)``,
        one cue per (target, text), committed in one write."""
        cues = self.proj.cue_codes(vectors)
        now, edges, tcache = time.time(), [], {}
        for tid, text, cu in zip(target_ids, texts, cues):
            key = ("para:" + tid + ":" + uuid.uuid5(uuid.NAMESPACE_OID, text).hex[:12], tid, "paraphrase")
            if key in self.edges:
                continue
            if tid not in tcache:
                tcache[tid] = self.target_code(memory, tid)
            edges.append(Edge(key[0], tid, "paraphrase", weight, now, memory.get(tid).namespace, cu,
                              tcache[tid], text))
        if edges:
            self._commit(memory, edges)
        return len(edges)

    def associations(self, memory: MemoryView, mid: str) -> list[dict[str, Any]]:
        memory.get(mid)
        out = []
        for key in sorted(self.by_memory.get(mid, ()), key=lambda k: self.edges[k].created_at if k in self.edges else 0):
            e = self.edges.get(key)
            if e is None:
                continue
            d = e.public()
            d["direction"] = "out" if e.cue == mid else "in"
            d["other"] = e.target if e.cue == mid else e.cue
            out.append(d)
        return out

    # --- recall -------------------------------------------------------------------------------------
    def follow(self, memory: MemoryView, mid: str | None, namespace: str, exclude: set[str],
               at: float | None = None, qv: np.ndarray | None = None,
               code: np.ndarray | None = None) -> list[tuple[str, float]]:
        """One hop: ``h = W · cue(x_mid)`` (or ``W · cue(q)`` for a query vector; ``code``: that
        cue code already computed), cleaned up to the ``breadth`` best stored targets."""
        ix = self.targets.get(namespace)
        if ix is None or len(ix) == 0:
            return []
        if code is None:
            if qv is not None:
                code = self.proj.cue_codes(qv)[0]
            elif mid is not None:
                code = self.cue_code(memory, mid)
            else:
                raise ValueError("follow needs a memory id, a query vector or a cue code")
        h = self.W.field(code)
        out = []
        for tid, s in ix.score(h, self.cfg.breadth + sum(1 for x in exclude if x in ix.slot), self.cfg.min_strength,
                                exclude):
            rec = memory.record(tid)
            if rec is None or rec.status != "active" or (at is not None and rec.created_at > at):
                continue
            out.append((tid, s))
            if len(out) >= self.cfg.breadth:
                break
        return out

    def hops(self, memory: MemoryView, ranked: list, namespace: str, at: float | None,
             qv: np.ndarray | None = None, floor: float = 0.0) -> dict[str, tuple[float, int, list[str], float]]:
        """Breadth-limited multi-hop expansion from the best direct hits: ``{id: (strength, hops,
        path, last link strength)}`` for every memory reached (``nuonuo.recall.with_hops`` merges them
        into the ranking on the fused scale).

        A memory reached after h hops from a direct hit with score p, along links of strength
        s_1…s_h, has hop strength ``p · Π_i min(1, s_i) · decay^h``. At most
        ``from_top · breadth^hops`` W look-ups per recall. The query's own cue code is followed too
        (``h = W · cue(q)``, ``query_cues``): that is how the extra cue patterns of sleep
        (paraphrases, questions) reach their memory; such a hit has ``p_1 · min(1, s)`` (p_1: the
        best direct score), with path ``[id]``."""
        cfg = self.cfg
        self.last_activity = time.time()
        if cfg.enabled and ranked:
            self._note_corecall(memory, ranked)
        if not cfg.enabled or cfg.hops <= 0 or not ranked or not self.edges:
            return {}
        # only memories with links of their own are followed: for a memory that is no link's cue,
        # W · cue(x) is cross-talk from other cues' codes (and computing it is most of recall's cost)
        frontier = [(e[0], e[1], [e[1]]) for e in ranked[:cfg.from_top] if self._is_cue(e[1])]
        # branch and bound: a hit one hop from a parent of score p scores at most p · decay (links
        # count at most 1), and the query's own cue at most the best direct score; a path that cannot
        # beat ``floor`` (the k-th direct hit: it could neither enter the top k nor reorder it) is
        # not followed. Most recalls follow nothing: their best hit times decay is below the k-th.
        frontier = [f for f in frontier if f[0] * cfg.hop_decay > floor]
        best: dict[str, tuple[float, int, list[str], float]] = {}
        with_query = qv is not None and cfg.query_cues and ranked[0][0] > floor
        if not frontier and not with_query:
            return {}
        query_code = self._prefetch_codes(memory, [mid for _, mid, _ in frontier], targets=False,
                                          query=qv if with_query else None)
        if with_query:
            for tid, s in self.follow(memory, None, namespace, set(), at, code=query_code):
                best[tid] = (ranked[0][0] * min(1.0, s), 1, [tid], s)
        for hop in range(1, cfg.hops + 1):
            if hop > 1:
                self._prefetch_codes(memory, [mid for _, mid, _ in frontier], targets=False)
            nxt = []
            for score, mid, path in frontier:
                for tid, s in self.follow(memory, mid, namespace, set(path), at):
                    hs = score * min(1.0, s) * cfg.hop_decay
                    if tid not in best or hs > best[tid][0]:
                        best[tid] = (hs, hop, path + [tid], s)
                        nxt.append((hs, tid, path + [tid]))
            nxt.sort(key=lambda t: -t[0])
            frontier = [f for f in nxt if f[0] * cfg.hop_decay > floor and self._is_cue(f[1])]
            frontier = frontier[:cfg.from_top * cfg.breadth]
            if not frontier:
                break
        return best

    def _is_cue(self, mid: str) -> bool:
        """Is ``mid`` the cue of at least one link?"""
        return any(key[0] == mid for key in self.by_memory.get(mid, ()))

    def _note_corecall(self, memory: MemoryView, ranked: list) -> None:
        """Memories recalled together get a weak link both ways (linked in batches, see below)."""
        cfg = self.cfg
        if not cfg.corecall_links or cfg.corecall_top < 2:
            return
        top = [e[1] for e in ranked[:cfg.corecall_top] if e[0] >= cfg.corecall_min_score]
        for i, a in enumerate(top):
            for b in top[i + 1:]:
                self._corecall.extend(((a, b), (b, a)))
        # linked at the next flush (a sleep run, close) or here once 4096 pairs wait, like access
        # counts: the codes are projected in one batch and committed in one LanceDB write, off the
        # typical recall and off every remember (a merge-insert of the links per write halved a
        # daemon's calls/s at 30% writes)
        if len(self._corecall) >= 4096:
            self.flush(memory)

    # --- inspection ---------------------------------------------------------------------------------
    def stats(self, memory: MemoryView) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for e in self.edges.values():
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        raw = memory.store.get_meta("sleep_last_report")  # written by nuonuo.consolidation
        last = json.loads(raw) if raw else None
        return {"associations": sum(kinds.values()), "association_kinds": kinds,
                "hebbian": {"code_dim": self.cfg.code_dim, "k": self.cfg.k, "w_nnz": self.W.nnz,
                            "w_mb": round(self.W.nbytes() / 2**20, 2)},
                "sleep": {"last_run": ({k: last.get(k) for k in ("run_id", "finished", "seconds", "pruned",
                                                                  "merged", "decayed")} if last else None),
                          "next_run": self.scheduler_info.get("next_run"),
                          "scheduler": self.scheduler_info.get("state", "not running in this process"),
                          **({"catch_up": self.scheduler_info["catch_up"]} if "catch_up" in self.scheduler_info
                             else {})}}
