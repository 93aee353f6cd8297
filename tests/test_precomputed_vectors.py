"""``remember_many(..., vectors=...)``: memories stored with embeddings made beforehand (an import,
a cache) hold exactly those vectors, survive a reopen, are found by recall, and bad arrays store
nothing."""

from __future__ import annotations

import numpy as np
import pytest

from nuonuo.errors import InvalidInput


def test_given_vectors_are_stored_as_given_and_recalled(mem, reopen):
    texts = ["My sister Lena lives in Porto", "The dentist moved to Thursday", "Uncle Joe has the kayak"]
    vecs = mem.encoder.embed_many(texts, 8) * 3.0  # any scale: rows are normalised
    ids = mem.remember_many(texts, vectors=vecs)
    for mid, v in zip(ids, vecs):
        np.testing.assert_allclose(mem.vector(mid), v / np.linalg.norm(v), atol=1e-6)
    assert mem.remember_many(texts[:1], vectors=vecs[:1]) == ids[:1]  # a duplicate: the stored id
    hits = mem.recall("where does my sister live?", k=1)
    assert hits[0].id == ids[0]
    mem.close()
    again = reopen()
    np.testing.assert_allclose(again.vector(ids[1]), vecs[1] / np.linalg.norm(vecs[1]), atol=1e-6)
    assert again.recall("who has the kayak?", k=1)[0].id == ids[2]


@pytest.mark.parametrize("bad", [np.zeros((2, 384)), np.ones((3, 384)), np.full((2, 384), np.nan), np.ones((2, 5))])
def test_bad_vectors_store_nothing(mem, bad):
    with pytest.raises(InvalidInput):
        mem.remember_many(["one memory", "another memory"], vectors=bad)
    assert mem.stats()["memories"] == 0
