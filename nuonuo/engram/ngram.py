"""The lexical n-gram index of one namespace: hashed suffix n-grams → postings, BM25-weighted.

Each document (a memory's text) is cut into canonical tokens (``nuonuo.canonical``), stopwords
dropped and the rest reduced to their Snowball stems (``stem = "english"``: "cats"/"cat",
"studied"/"studies"; codes such as ``ALPHA7`` stay as they are), and its suffix n-grams (n = 1 … N) are fingerprinted (``nuonuo.engram.hashing``). Distinct n-grams are
placed in a ``MultiHeadTable`` (H seeded heads, prime sizes); slot ``s`` owns the postings
``post_doc[indptr[s]:indptr[s+1]]`` with their term frequencies (CSR). A query n-gram costs ≤ H
probes plus its posting list.

Score of document d for query n-grams Q (BM25 over n-grams, Robertson & Zaragoza 2009):

.. math::

    S(d) = \\sum_{g ∈ Q ∩ d} w_{n(g)} · \\mathrm{idf}(g) ·
           \\frac{tf_{g,d} (k_1 + 1)}{tf_{g,d} + k_1 (1 − b + b · |d| / \\overline{|d|})},
    \\qquad \\mathrm{idf}(g) = \\ln\\Big(1 + \\frac{N − df_g + 0.5}{df_g + 0.5}\\Big)

with ``w_n`` the weight of n-gram order n, ``N`` the number of live documents and ``|d|`` the
token count. N-grams in more than ``max_df`` · N documents are skipped (their idf is near zero
and their postings long). ``S_max = Σ_{g ∈ Q, 0 < df_g ≤ max_df·N} w_n idf(g) (k_1 + 1)`` (every
matchable query n-gram matched, saturated) bounds S, so ``S / S_max ∈ [0, 1]`` is the *match
strength* the gate and fusion use. Query n-grams no memory contains are left out of S_max: a
chatty query ("which day did I …") must not dilute the one rare code it shares with a memory.
A query also drops the words that only make it a question (``QUESTION_WORDS_EN``: "what", "did",
"my", …) when it has others: they would match the many turns of a conversation that are questions.

Writes: documents added after the last bulk build go to a small delta (a dict of postings);
when the delta or the dead rows pass a fraction of the index, it is rebuilt in bulk (vectorised).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nuonuo.canonical import tokens as canonical_tokens
from nuonuo.engram.hashing import MultiHeadTable, TokenHasher, ngram_fingerprints


@dataclass
class NgramParams:
    max_n: int = 3
    heads: int = 4
    load: float = 0.5
    k1: float = 1.2
    b: float = 0.75
    order_weights: tuple[float, ...] = (1.0, 0.5, 0.5)
    max_df: float = 0.5
    seed: int = 0
    stopwords: str = "en"  # "en": drop STOPWORDS_EN and one-character tokens before n-gramming; "" keep all
    stem: str = "english"  # Snowball stemmer language (PyStemmer) applied to tokens; "" = no stemming
    question_words: bool = True  # drop QUESTION_WORDS_EN from queries (not documents), when any other token is left


# Function words that carry no topic (BM25 practice; a superset of bm25s' English list).
STOPWORDS_EN = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split())
STOPWORD_SETS = {"en": STOPWORDS_EN, "": frozenset()}

# The scaffolding of a question: interrogatives, auxiliaries and the asker's own pronouns. A query
# ("when did I go to the support group?") keeps its topic words; a memory keeps all of its words. In a
# conversation many turns are questions themselves ("what do you think?", "did you go?"), so these
# words would match them and nothing the question is about.
QUESTION_WORDS_EN = frozenset(
    "what when where which who whom whose why how did do does doing done can could would should shall may "
    "might must me my mine am have has had many much kind type".split())


_local = threading.local()  # PyStemmer's stemmers are not thread-safe: one per thread and language


def stemmer(language: str):
    """The Snowball stemmer for ``language`` (PyStemmer), one per thread."""
    cache = getattr(_local, "stemmers", None)
    if cache is None:
        cache = _local.stemmers = {}
    if language not in cache:
        import Stemmer

        cache[language] = Stemmer.Stemmer(language)
    return cache[language]


def _grams_of_many(token_fps: Sequence[np.ndarray], max_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All suffix n-grams of many documents at once: (fingerprints, orders, document rows)."""
    lens = np.fromiter((len(t) for t in token_fps), dtype=np.int64, count=len(token_fps))
    if lens.sum() == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(0, np.int64)
    flat = np.concatenate([t for t in token_fps if len(t)])
    doc = np.repeat(np.arange(len(token_fps)), lens)
    fps, orders = ngram_fingerprints(flat, max_n)
    # an n-gram starting at i is valid when tokens i … i+n−1 belong to one document
    docs, keep = [], []
    start = 0
    L = len(flat)
    for n in range(1, max_n + 1):
        count = max(0, L - n + 1)
        d = doc[:count]
        keep.append(d == doc[n - 1:n - 1 + count])
        docs.append(d)
        start += count
    keep_all = np.concatenate(keep)
    return fps[keep_all], orders[keep_all], np.concatenate(docs)[keep_all]


class NgramIndex:
    def __init__(self, params: NgramParams, hasher: TokenHasher):
        self.p = params
        self.hasher = hasher
        self.ids: list[str] = []                 # row → memory id
        self.row_of: dict[str, int] = {}
        self.alive = np.zeros(0, bool)
        self.length = np.zeros(0, np.float32)    # tokens per row
        self.times = np.zeros(0, np.float64)     # creation time per row (for recall ``at``)
        self._token_fps: list[np.ndarray] | None = []  # row → its token fingerprints (for rebuilds)
        self._flat_tokens: tuple[np.ndarray, np.ndarray] | None = None  # restored: all of them, and per-row counts
        self.table = MultiHeadTable(params.heads, params.load, params.seed)
        self.indptr = np.zeros(1, np.int64)
        self.post_doc = np.zeros(0, np.int32)
        self.post_tf = np.zeros(0, np.float32)
        self.slot_order = np.zeros(0, np.uint8)
        self.built_rows = 0                      # rows covered by the CSR; later rows are in the delta
        self.delta: dict[int, list[tuple[int, int]]] = {}
        self.delta_order: dict[int, int] = {}
        self.n_alive = 0
        self.length_sum = 0.0

    def __len__(self) -> int:
        return self.n_alive

    @property
    def token_fps(self) -> list[np.ndarray]:
        """Row → its token fingerprints, for rebuilds and additions; a restored index keeps them as
        one array until something needs them per row (a search never does: ~0.2 s at 100K rows)."""
        if self._token_fps is None:
            flat, counts = self._flat_tokens  # type: ignore[misc]
            self._token_fps = np.split(flat, np.cumsum(counts)[:-1]) if len(counts) else []
            self._flat_tokens = None
        return self._token_fps

    @token_fps.setter
    def token_fps(self, rows: list[np.ndarray]) -> None:
        self._token_fps, self._flat_tokens = rows, None

    # --- writing ---------------------------------------------------------------------------------
    def tokenize(self, text: str, query: bool = False) -> np.ndarray:
        toks = canonical_tokens(text)
        if self.p.stopwords:
            stop = STOPWORD_SETS.get(self.p.stopwords, STOPWORDS_EN)
            toks = [t for t in toks if len(t) > 1 and t not in stop]
            if query and self.p.question_words and self.p.stopwords == "en":
                topic = [t for t in toks if t not in QUESTION_WORDS_EN]
                toks = topic or toks
        if self.p.stem and toks:
            toks = stemmer(self.p.stem).stemWords(toks)
        return self.hasher.tokens(toks)

    def add(self, ids: Sequence[str], texts: Sequence[str], times: Sequence[float] | None = None) -> None:
        again = [m for m in ids if m in self.row_of]
        if again:
            self.remove(again)
        new_rows = []
        for mid, text in zip(ids, texts):
            toks = self.tokenize(text)
            self.row_of[mid] = len(self.ids)
            new_rows.append(len(self.ids))
            self.ids.append(mid)
            self.token_fps.append(toks)
            self.length_sum += len(toks)
        if not new_rows:
            return
        self.alive = np.concatenate([self.alive, np.ones(len(new_rows), bool)])
        self.length = np.concatenate([self.length, np.array([len(self.token_fps[r]) for r in new_rows], np.float32)])
        self.times = np.concatenate([self.times, np.asarray(times if times is not None else np.zeros(len(new_rows)),
                                                            np.float64)])
        self.n_alive += len(new_rows)
        pending = len(self.ids) - self.built_rows
        if pending > max(64, 0.1 * self.built_rows):
            self.build()
            return
        for r in new_rows:
            fps, orders, _ = _grams_of_many([self.token_fps[r]], self.p.max_n)
            uniq, first, counts = np.unique(fps, return_index=True, return_counts=True)
            for fp, o, c in zip(uniq.tolist(), orders[first].tolist(), counts.tolist()):
                self.delta.setdefault(fp, []).append((r, c))
                self.delta_order[fp] = o

    def remove(self, ids: Sequence[str]) -> None:
        for mid in ids:
            r = self.row_of.pop(mid, None)
            if r is None:
                continue
            self.alive[r] = False
            self.n_alive -= 1
            self.length_sum -= float(self.length[r])
        if len(self.ids) - self.n_alive > max(64, 0.25 * len(self.ids)):
            self.build()

    def build(self) -> None:
        """Rebuild the CSR and the head tables from every live row (compacting dead rows)."""
        live = np.flatnonzero(self.alive)
        if len(live) != len(self.ids):
            self.ids = [self.ids[r] for r in live]
            self.token_fps = [self.token_fps[r] for r in live]
            self.row_of = {mid: i for i, mid in enumerate(self.ids)}
            self.alive = np.ones(len(self.ids), bool)
            self.length = self.length[live]
            self.times = self.times[live]
        fps, orders, docs = _grams_of_many(self.token_fps, self.p.max_n)
        order = np.lexsort((docs, fps))
        fps, orders, docs = fps[order], orders[order], docs[order]
        if len(fps):
            new_pair = np.ones(len(fps), bool)
            new_pair[1:] = (fps[1:] != fps[:-1]) | (docs[1:] != docs[:-1])
            starts = np.flatnonzero(new_pair)
            tf = np.diff(np.append(starts, len(fps))).astype(np.float32)
            p_fps, p_docs, p_orders = fps[starts], docs[starts], orders[starts]
            new_gram = np.ones(len(p_fps), bool)
            new_gram[1:] = p_fps[1:] != p_fps[:-1]
            g_starts = np.flatnonzero(new_gram)
            vocab = p_fps[g_starts]
            self.indptr = np.append(g_starts, len(p_fps)).astype(np.int64)
            self.post_doc = p_docs.astype(np.int32)
            self.post_tf = tf
            self.slot_order = p_orders[g_starts]
        else:
            vocab = np.zeros(0, np.uint64)
            self.indptr = np.zeros(1, np.int64)
            self.post_doc = np.zeros(0, np.int32)
            self.post_tf = np.zeros(0, np.float32)
            self.slot_order = np.zeros(0, np.uint8)
        self.table.build(vocab)
        self.built_rows = len(self.ids)
        self.delta, self.delta_order = {}, {}
        self.n_alive = len(self.ids)
        self.length_sum = float(self.length.sum())

    # --- reading ---------------------------------------------------------------------------------
    def query_grams(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        fps, orders, _ = _grams_of_many([self.tokenize(query, query=True)], self.p.max_n)
        uniq, first = np.unique(fps, return_index=True)
        return uniq, orders[first]

    def search(self, query: str, limit: int, before: float | None = None
               ) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
        """The ``limit`` best rows for ``query``: (ids, raw scores S, strengths S/S_max, info);
        ``info["score_of"](ids)`` gives S of any other rows (recall's context keys read neighbours).

        ``before``: only rows created at or before this time (recall's ``at``)."""
        if self.n_alive == 0:
            return [], np.zeros(0), np.zeros(0), {}
        fps, orders = self.query_grams(query)
        if len(fps) == 0:
            return [], np.zeros(0), np.zeros(0), {}
        p = self.p
        N = float(self.n_alive)
        slots = self.table.find(fps)
        found = slots >= 0
        df = np.zeros(len(fps), np.float64)
        df[found] = (self.indptr[slots[found] + 1] - self.indptr[slots[found]])
        delta_posts = [self.delta.get(int(f)) for f in fps.tolist()] if self.delta else [None] * len(fps)
        df += np.array([len(d) if d else 0 for d in delta_posts], np.float64)
        idf = np.log1p((N - df + 0.5) / (df + 0.5))
        w = np.array(p.order_weights + (p.order_weights[-1],) * 8, np.float64)[orders.astype(np.int64) - 1]
        gram_weight = w * idf
        use = (df > 0) & (df <= max(1.0, p.max_df * N))
        s_max = float((gram_weight[use] * (p.k1 + 1)).sum()) or 1.0
        avg_len = self.length_sum / N if N else 1.0
        rows_n = len(self.ids)
        acc = np.zeros(rows_n, np.float64)
        sel = np.flatnonzero(use & found)
        if len(sel):
            s = slots[sel]
            spans = list(zip(self.indptr[s].tolist(), self.indptr[s + 1].tolist()))
            # each gram's postings are one contiguous slice: copy them, no index gather
            docs = np.concatenate([self.post_doc[a:b] for a, b in spans])
            tf = np.concatenate([self.post_tf[a:b] for a, b in spans])
            # BM25 in float32 (the postings' own type): w · tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avg_len))
            gw = np.repeat((gram_weight[sel] * (p.k1 + 1)).astype(np.float32), [b - a for a, b in spans])
            den = self.length[docs] * np.float32(p.k1 * p.b / avg_len)
            den += np.float32(p.k1 * (1 - p.b))
            den += tf
            gw *= tf
            gw /= den
            acc += np.bincount(docs, weights=gw, minlength=rows_n)
        for i in np.flatnonzero(use).tolist():
            posts = delta_posts[i]
            if not posts:
                continue
            for r, c in posts:
                norm = p.k1 * (1 - p.b + p.b * self.length[r] / avg_len)
                acc[r] += gram_weight[i] * c * (p.k1 + 1) / (c + norm)
        row_of = self.row_of

        def score_of(ids: Sequence[str]) -> np.ndarray:
            """S of any memories of this index for the same query (0 where nothing matched)."""
            return np.array([acc[row_of[m]] if m in row_of else 0.0 for m in ids], np.float64)

        nz = np.flatnonzero(acc > 0)
        nz = nz[self.alive[nz]]
        if before is not None:
            nz = nz[self.times[nz] <= before]
        info = {"s_max": s_max, "score_of": score_of}
        if len(nz) == 0:
            return [], np.zeros(0), np.zeros(0), info
        if len(nz) > limit:
            nz = nz[np.argpartition(-acc[nz], limit - 1)[:limit]]
        nz = nz[np.argsort(-acc[nz], kind="stable")]
        return [self.ids[r] for r in nz], acc[nz], acc[nz] / s_max, info

    # --- a built index as arrays (a snapshot reader's cache, ``EngramComponent``) ---------------------
    def state(self) -> dict[str, np.ndarray]:
        """The index as arrays (built first if writes wait in the delta): ``restore`` reads them back."""
        if self.delta or self.built_rows != len(self.ids) or self.n_alive != len(self.ids):
            self.build()
        if self._flat_tokens is not None:
            tokens, lens = self._flat_tokens
        else:
            lens = np.fromiter((len(t) for t in self.token_fps), np.int64, count=len(self.token_fps))
            tokens = np.concatenate([*self.token_fps, np.zeros(0, np.uint64)])
        return {"ids": np.frombuffer("\0".join(self.ids).encode("utf-8"), np.uint8), "times": self.times,
                "length": self.length, "tokens": tokens, "token_counts": lens, "indptr": self.indptr,
                "post_doc": self.post_doc, "post_tf": self.post_tf, "slot_order": self.slot_order,
                **{f"table.{k}": v for k, v in self.table.state().items()}}

    @classmethod
    def restore(cls, params: NgramParams, hasher: TokenHasher, state: dict[str, np.ndarray]) -> "NgramIndex":
        """The index ``state`` describes (``KeyError`` / ``ValueError`` if it is not one)."""
        index = cls(params, hasher)
        raw = state["ids"].tobytes().decode("utf-8")
        index.ids = raw.split("\0") if raw else []
        n = len(index.ids)
        counts = state["token_counts"]
        if len(counts) != n or len(state["times"]) != n or len(state["length"]) != n:
            raise ValueError("the n-gram state's rows disagree")
        index.row_of = {mid: i for i, mid in enumerate(index.ids)}
        index.alive = np.ones(n, bool)
        index.times, index.length = state["times"], state["length"]
        if int(counts.sum()) != len(state["tokens"]):
            raise ValueError("the n-gram state's tokens disagree with their counts")
        index._token_fps, index._flat_tokens = None, (state["tokens"], counts)
        index.indptr, index.post_doc, index.post_tf = state["indptr"], state["post_doc"], state["post_tf"]
        index.slot_order = state["slot_order"]
        index.table.restore({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("table.")})
        index.built_rows = index.n_alive = n
        index.length_sum = float(index.length.sum())
        return index

    def nbytes(self) -> int:
        return int(self.table.nbytes() + self.indptr.nbytes + self.post_doc.nbytes + self.post_tf.nbytes
                   + self.slot_order.nbytes + sum(t.nbytes for t in self.token_fps) + self.length.nbytes)

    def stats(self) -> dict:
        st = self.table.stats()
        return {"docs": self.n_alive, "postings": int(len(self.post_doc)), "delta_grams": len(self.delta), **st}
