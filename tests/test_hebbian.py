"""Hebbian association memory: the math (fast, synthetic vectors) and the Memory integration
(real encoder, real LanceDB)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pair_memory import PairMemory
from nuonuo.errors import InvalidInput, NotFound
from nuonuo.hebbian import Projections, SparseW, TargetIndex, contrastive_update, wta


def unit(n, d, rng):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def proj():
    return Projections(seed=11, dim=384, code_dim=16384, k=16)


def test_wta_keeps_k_winners_and_separates_patterns(proj):
    rng = np.random.default_rng(0)
    x = unit(200, 384, rng)
    codes = proj.cue_codes(x)
    assert codes.shape == (200, 16)
    assert all(len(np.unique(c)) == 16 for c in codes)
    assert np.array_equal(codes[0], wta(x[0] @ proj.cue_proj, 16))
    overlaps = [len(np.intersect1d(codes[i], codes[i + 1])) for i in range(0, 198, 2)]
    assert np.mean(overlaps) < 1.5  # random memories share almost no active units
    near = x[0] + 0.02 * rng.standard_normal(384).astype(np.float32)
    assert len(np.intersect1d(proj.cue_codes(near)[0], codes[0])) >= 8  # cos ≈ 0.93: similar codes
    assert not np.array_equal(proj.cue_codes(x[:1]), proj.target_codes(x[:1]))  # separate projections


def test_sparse_w_outer_product_field_and_housekeeping():
    w = SparseW(64, merge_every=10)
    t, c = np.array([1, 2, 3]), np.array([10, 11, 12])
    w.add_outer(t, c, 2.0)
    h = w.field(c)  # pending buffer and merged CSC give the same field
    assert h[[1, 2, 3]].tolist() == [6.0, 6.0, 6.0] and h.sum() == 18.0
    w.compact()
    assert np.array_equal(w.field(c), h)
    assert np.allclose(w.fields(c[None, :])[0], h)
    assert w.nnz == 9 and w.norm() == pytest.approx(6.0)
    w.scale(0.5)
    assert w.field(c)[1] == pytest.approx(3.0)
    w.add_entries(np.array([5]), np.array([10]), np.array([0.001]))
    assert w.prune(0.01) == 1 and w.nnz == 9
    assert 0.99 < w.sparsity() < 1.0


def test_target_index_scores_a_single_link_at_its_weight(proj):
    rng = np.random.default_rng(1)
    x = unit(50, 384, rng)
    ix = TargetIndex(16384, 16)
    ix.add([f"m{i}" for i in range(50)], proj.target_codes(x))
    w = SparseW(16384)
    c = proj.cue_codes(x[:1])[0]
    w.add_outer(ix.code("m7"), c, 0.5)
    best = ix.score(w.field(c), top=3)
    assert best[0][0] == "m7" and best[0][1] == pytest.approx(0.5)
    ix.remove("m7")
    assert all(mid != "m7" for mid, _ in ix.score(w.field(c), top=3))


def test_contrastive_update_is_error_correcting():
    """ΔW = η (t − WTA(Wc)) ⊗ c: nothing changes when recall is right; crosstalk is repaired."""
    rng = np.random.default_rng(2)
    m = PairMemory(384, code_dim=512, k=16, seed=5)  # small N: heavy crosstalk on purpose
    c, t = unit(600, 384, rng), unit(600, 384, rng)
    m.learn(c, t)

    def code_overlap():  # the seed's measure: overlap of WTA(W·c) with the target code
        free = wta(m.W.fields(m.cue_units), 16)
        return np.mean([len(np.intersect1d(f, tt)) / 16 for f, tt in zip(free, m.target_units)])

    before = code_overlap()
    assert before < 0.9
    for _ in range(3):
        contrastive_update(m.W, m.cue_units, m.target_units, 16, 0.1)
    assert code_overlap() > 0.98
    assert (m.recall(c) == np.arange(600)).mean() == 1.0
    good = PairMemory(384, seed=6)
    good.learn(c[:5], t[:5])
    nnz = good.W.nnz
    assert contrastive_update(good.W, good.cue_units, good.target_units, 16, 0.5) == 0
    good.W.compact()
    assert good.W.nnz == nnz


# --- Memory integration -----------------------------------------------------------------------------
DISTRACTORS = [
    "The weather in Oslo was rainy on Tuesday.", "I bought a new bicycle helmet last week.",
    "Python 3.12 added better error messages.", "The cat sleeps on the sofa all afternoon.",
    "We watched a documentary about whales.", "My favourite tea is jasmine green tea.",
    "The train to Bergen takes seven hours.", "I need to renew my passport before June.",
    "The dentist appointment moved to Thursday.", "Our team uses GitLab for code review.",
    "Grandma's apple pie recipe needs cinnamon.", "The marathon starts at 8 in the morning.",
]


def test_associate_is_durable_and_listed(mem, reopen):
    a, b = mem.remember("Lena's husband is Tomasz."), mem.remember("Tomasz drives a forklift at Brightwell.")
    mem.associate(a.id, b.id)
    mem.associate(a.id, b.id, weight=0.5)  # linking again adds to the weight
    links = mem.associations(a.id)
    assert [(l["cue"], l["target"], l["kind"], l["direction"]) for l in links] == [(a.id, b.id, "link", "out")]
    assert links[0]["weight"] == pytest.approx(1.5)
    assert mem.associations(b.id)[0]["direction"] == "in"
    mem.close()
    m2 = reopen()
    assert m2.associations(a.id)[0]["weight"] == pytest.approx(1.5)
    assert m2.hebbian.W.nnz == 256


def test_associate_rejects_bad_input(mem):
    a, b = mem.remember("alpha note"), mem.remember("beta note", namespace="other")
    with pytest.raises(NotFound):
        mem.associate(a.id, "no-such-id")
    with pytest.raises(InvalidInput, match="namespace"):
        mem.associate(a.id, b.id)
    with pytest.raises(InvalidInput, match="itself"):
        mem.associate(a.id, a.id)
    with pytest.raises(InvalidInput, match="weight"):
        mem.associate(a.id, mem.remember("gamma note").id, weight=float("nan"))
    with pytest.raises(InvalidInput, match="kind"):
        mem.associate(a.id, mem.remember("delta note").id, kind="DROP TABLE")


def test_lena_husband_employer_reached_through_the_link(mem, reopen):
    mem.remember_many(DISTRACTORS)
    ids = mem.remember_many(["Lena's husband is Tomasz.", "Tomasz drives a forklift for Brightwell Logistics."])
    mem.associate(ids[0], ids[1])
    question = "who is Lena's husband's employer?"
    assert not set(question.lower().replace("?", "").replace("'s", "").split()) & set(
        "tomasz drives a forklift for brightwell logistics".split())
    hits = mem.recall(question, k=5)
    top = {h.id: (rank, h) for rank, h in enumerate(hits)}
    assert ids[1] in top and top[ids[1]][0] <= 1
    hit = top[ids[1]][1]
    assert hit.source == "hebbian" and hit.hops == 1 and hit.path == ids
    assert hit.scores["link_strength"] > 0.9
    mem.close()
    plain = reopen(hebbian={"enabled": False})
    plain_hits = {h.id: h for h in plain.recall(question, k=14)}
    assert plain_hits[ids[1]].source != "hebbian"  # without links: only its own (weak) similarity
    assert plain_hits[ids[1]].score < hit.score


def test_conversation_neighbour_found_through_its_context(mem, reopen):
    """Turns of one conversation are keyed also by their neighbours (nuonuo.conversation): the
    reply that names the employer is found through the turn before it, without any link."""
    mem.remember_many(DISTRACTORS)
    ids = mem.remember_many([
        {"text": "Lena's husband is Tomasz.", "metadata": {"session": "family"}},
        {"text": "Tomasz drives a forklift for Brightwell Logistics.", "metadata": {"session": "family"}},
    ])
    question = "who is Lena's husband's employer?"
    hits = mem.recall(question, k=5)
    top = {h.id: (rank, h) for rank, h in enumerate(hits)}
    assert ids[1] in top and top[ids[1]][0] <= 1
    with_context = top[ids[1]][1].scores
    assert with_context["context"] > with_context["cosine"]  # its neighbour matched the question
    assert top[ids[1]][1].source != "hebbian" and top[ids[1]][1].hops == 0
    mem.close()
    plain = reopen(recall={"context_weight": 0.0}, hebbian={"enabled": False})
    alone = {h.id: h for h in plain.recall(question, k=14)}[ids[1]].scores
    assert "context" not in alone and alone["hopfield"] < with_context["hopfield"]


def test_two_hop_chain_and_at_filter(mem):
    mem.remember_many(DISTRACTORS)
    a = mem.remember("Project Heron kicked off with Ingrid as lead.", timestamp="2024-01-01T00:00:00")
    b = mem.remember("The quarterly budget review is in the blue folder.", timestamp="2024-01-02T00:00:00")
    c = mem.remember("Blue folders are kept in cabinet 4B.", timestamp="2024-03-01T00:00:00")
    mem.associate(a.id, b.id)
    mem.associate(b.id, c.id)
    hits = {h.id: h for h in mem.recall("who leads project Heron?", k=10)}
    assert hits[c.id].source == "hebbian" and hits[c.id].hops == 2
    assert hits[c.id].path == [a.id, b.id, c.id]
    assert hits[c.id].score < hits[b.id].score < hits[a.id].score  # decayed per hop
    early = {h.id: h for h in mem.recall("who leads project Heron?", k=10, at="2024-02-01T00:00:00")}
    assert c.id not in early and early[b.id].source == "hebbian"


def test_session_neighbours_are_linked_and_forget_unlinks(reopen):
    mem = reopen(hebbian={"session_links": True})
    ids = mem.remember_many([{"text": t, "metadata": {"session": "s1"}} for t in
                             ("I adopted a dog.", "She is a beagle called Pip.", "Pip loves the beach.")])
    other = mem.remember("Unrelated: the boiler was serviced.", metadata={"session": "s2"})
    later = mem.remember("Pip learned to sit today.", metadata={"session": "s1"})  # a later call, same session
    linked = lambda i: {l["other"] for l in mem.associations(i) if l["kind"] == "session"}  # noqa: E731
    assert linked(ids[1]) == {ids[0], ids[2]}
    assert linked(ids[2]) == {ids[1], later.id}
    assert linked(other.id) == set()
    mem.forget(ids[1])
    assert linked(ids[0]) == set() and linked(ids[2]) == {later.id}
    mem.close()
    m2 = reopen(hebbian={"session_links": True})
    assert {l["other"] for l in m2.associations(ids[2])} == {later.id}


def test_co_recalled_memories_get_weak_links(reopen):
    m = reopen(hebbian={"corecall_min_score": 0.0, "corecall_top": 2})
    a = m.remember("The garage door code is 4512.")
    b = m.remember("The garage door opener battery is AAA.")
    m.remember_many(DISTRACTORS)
    hits = m.recall("garage door", k=3)
    first, second = hits[0].id, hits[1].id
    m.recall("garage door", k=3)
    m.flush()
    links = [l for l in m.associations(first) if l["kind"] == "corecall"]
    assert {l["other"] for l in links} == {second} and {a.id, b.id} == {first, second}
    assert all(l["weight"] == pytest.approx(0.2) for l in links)


def test_co_recall_links_wait_for_a_flush_not_for_the_next_remember(reopen):
    """Like access counts, co-recall pairs are bookkeeping: a remember writes its memory only (a
    merge-insert of the links on every write halved a daemon's throughput); a flush (sleep, close)
    links them, and they survive a reopen."""
    m = reopen(hebbian={"corecall_min_score": 0.0, "corecall_top": 2})
    a = m.remember("The garage door code is 4512.")
    b = m.remember("The garage door opener battery is AAA.")
    m.remember_many(DISTRACTORS)
    m.recall("garage door", k=3)
    version = m.store.table("associations").version
    m.remember("The bakery on Rua Nova opens at seven")
    assert m.store.table("associations").version == version
    assert not [l for l in m.associations(a.id) if l["kind"] == "corecall"]
    m.flush()
    assert {l["other"] for l in m.associations(a.id) if l["kind"] == "corecall"} == {b.id}
    m.close()
    m2 = reopen()
    assert {l["other"] for l in m2.associations(a.id) if l["kind"] == "corecall"} == {b.id}


def test_hops_skipped_by_their_bound_change_no_top_k(mem):
    """with_hops(k) follows only paths whose bound, parent · decay, beats the k-th direct hit; the top
    k must equal that of following every path (k = 0), on a store where hops do enter the top k."""
    from nuonuo.recall import fuse, gather, with_hops

    rng = np.random.default_rng(3)
    topics = ["garden", "violin", "harbour", "budget", "kitchen", "museum", "winter", "ticket"]
    names = [f"{a}{b}" for a in ("vel", "mor", "tak", "sun", "pel", "dra", "kim", "lor") for b in ("ax", "em", "ob", "ur",
                                                                                            "ix", "on", "ek", "ul", "ad", "io")]
    recs = mem.remember_many([f"{names[i]} keeps the {topics[i % 8]} and the {topics[(i * 3 + 1) % 8]}"
                              for i in range(80)])
    for _ in range(120):
        a, b = rng.choice(len(recs), 2, replace=False)
        mem.associate(recs[a], recs[b], weight=float(rng.uniform(0.3, 1.5)))
    entered = below_second = 0
    queries = [f"what about the {t}?" for t in topics] + [f"who keeps {names[i]}?" for i in range(0, 80, 7)]
    queries += [f"who keeps {names[i]} or {names[i + 1]}?" for i in range(0, 79, 9)]  # two strong direct hits
    for q in queries:
        qv = mem.encoder.embed(q)
        for k in (1, 3, 10):
            ranked = fuse(mem, gather(mem, q, qv, "default", None, k), None)
            full = with_hops(mem, ranked, "default", None, qv)[:k]
            bounded = with_hops(mem, ranked, "default", None, qv, k)[:k]
            assert [(c.id, c.score, c.named_by(), c.path) for c in bounded] == \
                   [(c.id, c.score, c.named_by(), c.path) for c in full]
            entered += sum(c.hops > 0 for c in full)
            below_second += sum(c.hops > 0 for c in full[2:])  # under two direct hits: the floor is the k-th
    assert entered > 0 and below_second > 0  # the cases where the bound matters: hop hits in the top k
