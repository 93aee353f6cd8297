"""Batched writes: encoding the next batch while the current one is committed.

Encoding (ONNX Runtime or torch) runs outside the GIL, and so does most of a LanceDB commit, so a
one-thread pool encodes batch j+1 while the calling thread commits batch j.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

from nuonuo.errors import StoreError

T = TypeVar("T")


def encode_and_commit(batches: Sequence[list[T]], encode: Callable[[list[T]], Any],
                      commit: Callable[[list[T], Any], None], progress: Callable[[int], Any] | None) -> None:
    """``commit(batch, encode(batch))`` for each batch in order, the next one encoded meanwhile.

    A ``StoreError`` after the first batch says how many items the batches before it stored (doing
    it again skips them: they are duplicates by then)."""
    if not batches:
        return
    if len(batches) == 1:
        commit(batches[0], encode(batches[0]))
        if progress:
            progress(len(batches[0]))
        return
    total = sum(len(b) for b in batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nuonuo-encode") as pool:
        pending = pool.submit(encode, batches[0])
        for j, batch in enumerate(batches):
            vectors = pending.result()
            if j + 1 < len(batches):
                pending = pool.submit(encode, batches[j + 1])
            try:
                commit(batch, vectors)
            except StoreError as exc:
                if j == 0:
                    raise
                stored = sum(len(b) for b in batches[:j])
                raise type(exc)(f"{exc.message} ({stored} of {total} new memories were stored "
                                "before it; doing it again skips them)") from None
            if progress:
                progress(len(batch))
