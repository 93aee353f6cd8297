"""The bundled encoder: ONNX Runtime by default, the direct transformers path as the reference, both
giving sentence-transformers' vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nuonuo import onnx_encoder
from nuonuo.encoder import (SentenceTransformerEncoder, TransformerEncoder, bundled_model_path,
                            make_encoder, plain_pooling)
from nuonuo.errors import ConfigError, ModelMissing
from nuonuo.onnx_encoder import OnnxEncoder

# 300 repeats are ~900 tokens: truncated at max_seq_length = 256, as sentence-transformers does
TEXTS = ["hello", "My sister Lena lives in Porto and works as a marine biologist",
         "ünïcödé 東京 — emoji 🙂", "a long turn " * 300,
         " ".join(f"token{i}" for i in range(400))]  # distinct words: truncation at a different length shows


@pytest.fixture(scope="module")
def reference():
    return SentenceTransformerEncoder("bundled").embed_many(TEXTS, batch_size=3)


def test_bundled_model_runs_on_onnx_with_sentence_transformers_vectors(encoder, reference):
    assert isinstance(encoder, OnnxEncoder)
    assert (encoder.name, encoder.dim, encoder.max_seq_length) == ("all-MiniLM-L6-v2", 384, 256)
    ours = encoder.embed_many(TEXTS, batch_size=3)  # mixed lengths in one batch: padding is masked out
    cosines = (ours * reference).sum(1)
    assert cosines.min() >= onnx_encoder.MIN_COSINE, cosines
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    for i, text in enumerate(TEXTS):  # one at a time equals batched
        np.testing.assert_allclose(encoder.embed(text), ours[i], atol=1e-5)


def test_onnx_tokens_are_transformers_tokens_truncated_at_256(encoder):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(bundled_model_path()), local_files_only=True)
    theirs = hf(TEXTS, padding=True, truncation=True, max_length=256)
    ours = encoder.tokenize(TEXTS)
    assert ours["input_ids"].tolist() == theirs["input_ids"]
    assert ours["attention_mask"].tolist() == theirs["attention_mask"]
    assert ours["token_type_ids"].tolist() == theirs["token_type_ids"]
    assert ours["attention_mask"].sum(1).max() == 256


def test_the_torch_path_stays_as_the_reference(reference):
    torch_encoder = make_encoder(backend="torch")
    assert isinstance(torch_encoder, TransformerEncoder)
    assert (torch_encoder.name, torch_encoder.dim, torch_encoder.pooling, torch_encoder.normalize) == (
        "all-MiniLM-L6-v2", 384, "mean", True)
    np.testing.assert_allclose(torch_encoder.embed_many(TEXTS, batch_size=3), reference, atol=1e-5)


def test_the_export_is_cached_by_model_and_versions_with_its_check(encoder):
    folder = bundled_model_path()
    key = onnx_encoder.cache_key(folder)
    assert encoder.graph.name == f"all-MiniLM-L6-v2-{key}.onnx"
    verdict = json.loads(encoder.graph.with_suffix(".json").read_text())
    assert verdict["ok"] and verdict["min_cosine"] >= onnx_encoder.MIN_COSINE
    assert verdict["check_texts"] == len(onnx_encoder.CHECK_TEXTS)
    before = encoder.graph.stat().st_mtime_ns
    again = onnx_encoder.load_onnx_encoder(folder)  # a second process: loads the cached graph, no export
    assert again.graph == encoder.graph and again.graph.stat().st_mtime_ns == before


def test_the_cached_graph_has_onnx_runtimes_bert_fusions(encoder):
    """One fused attention and GELU per layer, layer norms fused with the residual adds: the graph
    the check above passed is the fused one (the speed-up is measured in benchmarks/latency.py)."""
    import onnx

    ops = [node.op_type for node in onnx.load(str(encoder.graph)).graph.node]
    assert ops.count("Attention") == 6 and ops.count("BiasGelu") == 6
    assert ops.count("EmbedLayerNormalization") == 1 and "LayerNormalization" not in ops


def test_a_failed_check_falls_back_to_torch_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("NUONUO_CACHE_DIR", str(tmp_path))
    folder = bundled_model_path()
    where = tmp_path / "onnx"
    where.mkdir()
    stem = f"all-MiniLM-L6-v2-{onnx_encoder.cache_key(folder)}"
    (where / f"{stem}.json").write_text(json.dumps({"ok": False, "reason": "lowest cosine to torch 0.98 < 0.9999"}))
    with pytest.warns(RuntimeWarning, match="lowest cosine to torch 0.98"):
        enc = make_encoder()
    assert isinstance(enc, TransformerEncoder)
    assert not (where / f"{stem}.onnx").exists()


def test_a_damaged_cached_graph_falls_back_to_torch_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("NUONUO_CACHE_DIR", str(tmp_path))
    where = tmp_path / "onnx"
    where.mkdir()
    stem = f"all-MiniLM-L6-v2-{onnx_encoder.cache_key(bundled_model_path())}"
    (where / f"{stem}.json").write_text(json.dumps({"ok": True, "min_cosine": 1.0}))
    (where / f"{stem}.onnx").write_bytes(b"not a graph, cut short by a full disk")
    with pytest.warns(RuntimeWarning, match="cannot load"):
        enc = make_encoder()
    assert isinstance(enc, TransformerEncoder)


def test_an_unknown_backend_is_a_config_error(monkeypatch):
    monkeypatch.setenv("NUONUO_ENCODER_BACKEND", "tensorflow")
    with pytest.raises(ConfigError, match="tensorflow"):
        make_encoder()

