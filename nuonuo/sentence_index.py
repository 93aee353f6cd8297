"""Component: the sentence keys of each memory (``nuonuo.sentences``), one unit vector per sentence,
as float16 rows, in RAM and in the store's ``sentence_keys`` table (the same bytes: half the disk and
snapshot of float32, nothing to convert at open).

Encoding: ``encode`` makes a batch's own vectors and its sentence keys' vectors in one
``embed_many`` call (outside the memory's lock, like every encoding) and stages the latter under
the memories' ids; ``added``, after the memories are committed, writes them to the table and
indexes them. A memory written with vectors given by the caller (``remember_many(vectors=…)``) has
no sentence keys: nothing is encoded for it.

A full disk while the keys are written costs the memories their sentence keys, not the memories:
they are already committed, and recall scores them by their own vector. A forget or an update
deletes a memory's rows; a superseded or merged memory keeps them as history (only active
memories' keys are read back).

Recall (``best``) scores a candidate by its best sentence, ``max_j cos(q, x_j)``; float16 rows
change a cosine by < 1e-3.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pyarrow as pa

from nuonuo.errors import StoreError
from nuonuo.records import MemoryRecord
from nuonuo.sentences import sentence_keys, sentences

if TYPE_CHECKING:
    from nuonuo.component import MemoryView as Memory
    from nuonuo.encoder_models import Encoder

TABLE = "sentence_keys"
SENTENCE_KEYS_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),  # the memory
    pa.field("written_at", pa.float64()),         # the newest row of an id wins (a delete that failed)
    pa.field("vectors", pa.list_(pa.float16())),  # its n sentence vectors, n × dim, row after row
])


def mean_vector(rows: np.ndarray) -> np.ndarray:
    """The unit mean of unit rows, Σ_j x_j / ‖Σ_j x_j‖."""
    total = rows.astype(np.float32).sum(axis=0)
    return total / (float(np.linalg.norm(total)) or 1.0)


class SentenceIndex:
    """Memory id → its sentence vectors ``(n, d)``, float16, unit rows."""

    def __init__(self, max_sentences: int):
        self.max_sentences = max_sentences
        self._keys: dict[str, np.ndarray] = {}
        self._staged: dict[str, np.ndarray] = {}  # encoded, waiting for their memory's commit

    # --- encoding (no lock held) --------------------------------------------------------------------
    def encode(self, encoder: "Encoder", records: Sequence[MemoryRecord], batch_size: int,
               own: bool = True) -> np.ndarray:
        """The records' own vectors (none with ``own=False``); their sentence keys' vectors are
        staged for ``added``. A memory of 2 to ``max_sentences`` sentences x_1 … x_n is vectored by
        their mean, and its whole text is not encoded:

        .. math::

            x = \\frac{\\sum_j x_j}{\\lVert \\sum_j x_j \\rVert}

        any other memory by its text's vector. MiniLM was trained on short texts: the mean keeps each
        sentence's topic where the vector of the whole blurs them (LongMemEval, dense alone,
        turn_recall@10: tuning split 0.766 → 0.834, report split 0.717 → 0.852)."""
        splits = [sentence_keys(r.text, self.max_sentences) for r in records]
        whole = [r.text for r, ss in zip(records, splits) if own and not ss]
        vecs = encoder.embed_many(whole + [s for ss in splits for s in ss], batch_size)
        out = np.empty((len(records) if own else 0, vecs.shape[1]), dtype=np.float32)
        next_whole, pos = 0, len(whole)
        for i, (rec, ss) in enumerate(zip(records, splits)):
            keys = vecs[pos:pos + len(ss)]  # (0, d) for a memory without: a new text drops its old keys
            self._staged[rec.id] = keys  # one dict store: atomic for the GIL
            pos += len(ss)
            if own and len(ss):
                out[i] = mean_vector(keys)
            elif own:
                out[i], next_whole = vecs[next_whole], next_whole + 1
        return out

    def vector(self, encoder: "Encoder", text: str) -> np.ndarray:
        """The vector ``encode`` gives a memory of ``text``, staging nothing."""
        ss = sentence_keys(text, self.max_sentences)
        return mean_vector(encoder.embed_many(ss, len(ss))) if ss else encoder.embed(text)

    def lacking(self, records: Sequence[MemoryRecord], limit: int) -> list[MemoryRecord]:
        """Up to ``limit`` of ``records`` that are active, should have keys and have none (remembered
        before sentence keys existed, with given vectors, or when the disk refused their keys). Needs
        no lock: the caller checks that each is still the memory's record before adding its keys."""
        out: list[MemoryRecord] = []
        for rec in records:
            if len(out) >= limit:
                break
            if rec.status == "active" and rec.id not in self._keys and sentence_keys(rec.text, self.max_sentences):
                out.append(rec)
        return out

    def unstage(self, ids: Sequence[str]) -> None:
        """Forget staged keys that will not be added (their memory changed while they were encoded)."""
        for mid in ids:
            self._staged.pop(mid, None)

    # --- Component hooks ----------------------------------------------------------------------------
    def rebuild(self, memory: "Memory") -> None:
        self._keys.clear()
        self._staged.clear()
        tbl = memory.store.table(TABLE)
        if not tbl.count_rows():
            return
        data = tbl.to_arrow()
        ids = data.column("id").to_pylist()
        written = data.column("written_at").to_numpy(zero_copy_only=False)
        lists = data.column("vectors").combine_chunks()
        flat = lists.values.to_numpy(zero_copy_only=False)  # float16, as stored; offsets index it (one chunk)
        offsets = lists.offsets.to_numpy()
        dim, newest = memory.encoder.dim, {}
        for i in np.argsort(written, kind="stable"):  # the newest row of an id last
            newest[ids[i]] = i
        for mid, i in newest.items():
            rec = memory.record(mid)
            if rec is not None and rec.status == "active":
                self._keys[mid] = flat[offsets[i]:offsets[i + 1]].reshape(-1, dim)

    def added(self, memory: "Memory", records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        """Write and index the staged keys of ``records``; a memory encoded anew (an update) loses its
        old keys, one not encoded here (a metadata update, given vectors) keeps what it had."""
        staged = {r.id: v for r in records if (v := self._staged.pop(r.id, None)) is not None}
        self._drop(memory, [mid for mid in staged if mid in self._keys])
        fresh = {mid: v.astype(np.float16) for mid, v in staged.items()
                 if len(v) and (rec := memory.record(mid)) is not None and rec.status == "active"}
        if not fresh:
            return
        now = time.time()
        rows = pa.Table.from_pydict({
            "id": list(fresh), "written_at": [now] * len(fresh),
            "vectors": [v.reshape(-1) for v in fresh.values()],
        }, schema=SENTENCE_KEYS_SCHEMA)
        try:
            memory.store.table(TABLE).add(rows)
        except StoreError as exc:  # the memories are committed: they go on without their sentence keys
            warnings.warn(f"nuonuo: {len(fresh)} memories stored without their sentence keys: {exc.message}",
                          RuntimeWarning, stacklevel=2)
            return
        self._keys.update(fresh)

    def removed(self, memory: "Memory", records: Sequence[MemoryRecord]) -> None:
        """Forgotten: the keys and their rows go. Superseded or merged (history, kept like the
        memory's own row, and a sleep run that is undone makes it active again): out of RAM only. A
        memory still active (an update in progress: ``added`` follows) keeps them until it is
        encoded anew."""
        inactive = [r.id for r in records if r.id in self._keys
                    and ((cur := memory.record(r.id)) is None or cur.status != "active")]
        for mid in inactive:
            del self._keys[mid]
        # forgotten, history included (a superseded value's rows are not in RAM): every memory that
        # may have rows, i.e. of two sentences or more, whatever the cap was when it was remembered
        self._delete_rows(memory, [r.id for r in records
                                   if memory.record(r.id) is None and len(sentences(r.text)) >= 2])

    def _drop(self, memory: "Memory", gone: list[str]) -> None:
        for mid in gone:
            del self._keys[mid]
        self._delete_rows(memory, gone)

    def _delete_rows(self, memory: "Memory", gone: list[str]) -> None:
        try:
            memory.store.delete(gone, TABLE)
        except StoreError:  # rows of memories that are not active are not read back: harmless
            pass

    def flush(self, memory: "Memory") -> None:
        """Nothing waits: every key is written when its memory is."""

    def stats(self, memory: "Memory") -> dict[str, Any]:
        return {"sentence_keys": sum(len(v) for v in self._keys.values()),
                "memories_with_sentence_keys": len(self._keys)}

    # --- reading ------------------------------------------------------------------------------------
    def best(self, ids: Sequence[str], query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``max_j cos(q, x_j)`` over each memory's sentence keys and the j that gives it (the
        position in ``sentence_keys(text)``); −inf and −1 for a memory without any."""
        out = np.full(len(ids), -np.inf, dtype=np.float32)
        which = np.full(len(ids), -1, dtype=np.int64)
        found = [(i, m) for i, mid in enumerate(ids) if (m := self._keys.get(mid)) is not None]
        if not found:
            return out, which
        counts = np.array([len(m) for _, m in found])
        starts = np.concatenate([[0], np.cumsum(counts[:-1])])
        # (Σ n,): float16 rows widened first (numpy's float16 matmul has no BLAS: 2× slower than this)
        cos = np.concatenate([m for _, m in found]).astype(np.float32) @ query
        top = np.maximum.reduceat(cos, starts)
        pos = np.where(cos == np.repeat(top, counts), np.arange(len(cos)), len(cos))
        at = [i for i, _ in found]
        out[at] = top
        which[at] = np.minimum.reduceat(pos, starts) - starts  # the first sentence with the best cosine
        return out, which

    def __contains__(self, mid: str) -> bool:
        return mid in self._keys
