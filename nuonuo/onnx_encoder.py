"""The bundled all-MiniLM-L6-v2 on ONNX Runtime: the same vectors as torch, 3-10× sooner per query.

The graph is exported here, from the installed weights (never downloaded), by ``torch.onnx.export``
the first time it is needed, and cached under ``$NUONUO_CACHE_DIR`` (else the user cache dir,
``platformdirs.user_cache_dir("nuonuo")``) in ``onnx/<name>-<key>.onnx``. The key hashes the model
folder (path, weights size and mtime, config), the export format and the versions of torch,
transformers and onnxruntime: any change exports again. Each export is checked against the torch
encoder on ``CHECK_TEXTS`` (one at a time and in padded batches); below ``MIN_COSINE`` the graph is
not used, a warning says so, and the caller falls back to torch. The verdict is cached beside the
graph (``.json``), so a failed check is not repeated on every call.

The graph holds the whole sentence-transformers pipeline after tokenisation: BERT, then mean pooling
over the attention mask ``m`` and L2 normalisation,

    e = Σ_t m_t h_t / max(Σ_t m_t, 1e-9),     v = e / max(‖e‖, 1e-12)

so ``embed_batch`` is tokenise (``tokenizers``, the model's own ``tokenizer.json``, truncated to
``max_seq_length`` tokens including [CLS]/[SEP], padded to the longest in the batch) and one run.
Neither torch nor transformers is imported on that path. After the export, ONNX Runtime's BERT
fusions rewrite the graph (``_fuse``): ~7% less time per query, ~5% more per text in 64-text
batches (docs/benchmarks.md); the check against torch runs on the fused graph.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from nuonuo.encoder_models import Encoder, TransformerEncoder

EXPORT_VERSION = 2  # bump when the exported graph changes (inputs, pooling, opset, fusion)
OPSET = 17
MIN_COSINE = 0.9999
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# Fixed texts the export is checked on: short, long (truncated at max_seq_length), non-ASCII, empty-ish.
CHECK_TEXTS = [
    "hello",
    "where does my sister live?",
    "My sister Lena lives in Porto and works as a marine biologist",
    "ünïcödé 東京 — emoji 🙂 and Ελληνικά",
    "I moved to Berlin in March 2021; my flat is on Karl-Marx-Allee, third floor, the blue door.",
    "a long turn about trains, weather and the price of bread " * 40,
    "x",
    "The quick brown fox jumps over the lazy dog. " * 12,
]


def onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def cache_dir() -> Path:
    """``$NUONUO_CACHE_DIR`` if set, else the platform's user cache directory."""
    env = os.environ.get("NUONUO_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nuonuo", appauthor=False))


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


def cache_key(path: Path) -> str:
    """Changes when the model folder, the export code or torch/transformers/onnxruntime change."""
    weights = [p for p in ("model.safetensors", "pytorch_model.bin") if (path / p).exists()]
    stats = {name: [(path / name).stat().st_size, (path / name).stat().st_mtime_ns]
             for name in weights + ["tokenizer.json"] if (path / name).exists()}
    parts = {"export": EXPORT_VERSION, "opset": OPSET, "folder": str(path.resolve()), "files": stats,
             "config": (path / "config.json").read_text(),
             "versions": {p: _version(p) for p in ("torch", "transformers", "onnxruntime")}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class OnnxEncoder(Encoder):
    """A mean-pooled, normalised sentence encoder exported to ONNX, run on ONNX Runtime (CPU).

    ``session.run`` and the tokenizer are safe to call from several threads at once: no lock."""

    def __init__(self, graph: Path, folder: Path, max_seq_length: int, threads: int, name: str):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.max_seq_length = min(max_seq_length, int(config.get("max_position_embeddings", max_seq_length)))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_seq_length)  # counts [CLS] and [SEP], as transformers does
        pad_id = int(config.get("pad_token_id") or 0)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=self._tokenizer.id_to_token(pad_id) or "[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        # no busy-waiting workers after a run: on a shared 2-core machine they steal the CPU the next
        # step needs (the cosine scan, the next query); measured at load ~5, interleaved: one query
        # p50 16.9 ms without spinning against 22.0 ms with it, query + 10K scan 32.1 against 37.3 ms
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads > 0:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.graph = graph
        self.name = name
        self.dim = int(config["hidden_size"])

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs: ``(B, T)`` int64 ids, attention mask and token types, T = longest ≤ max."""
        encoded = self._tokenizer.encode_batch(list(texts))
        return {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64)}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        (vecs,) = self._session.run(None, self.tokenize(texts))
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _export(folder: Path, dest: Path) -> None:
    """Trace the transformer + pooling + normalisation with the TorchScript exporter (no onnxscript)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state       # (B, T, d)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)                     # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])  # padded: the mask stays in the graph
    args = (ids, (ids != 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on constant shapes: the check below decides
        torch.onnx.export(Pooled(model).eval(), args, str(dest), dynamo=False, opset_version=OPSET,
                          input_names=list(INPUTS), output_names=["embedding"], dynamic_axes=axes)
    _fuse(dest, model.config.num_attention_heads, model.config.hidden_size)


def _fuse(graph: Path, heads: int, hidden: int) -> None:
    """Rewrite the graph with ONNX Runtime's BERT fusions (``onnxruntime.transformers.optimizer``:
    one ``EmbedLayerNormalization``, an ``Attention`` and a ``BiasGelu`` per layer, ``SkipLayerNormalization``
    around them), which the session's own optimisations do not all find: ~10% less CPU per query,
    the same vectors (the check after the export decides). Where the optimizer is missing or fails,
    the plain graph stays."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fused = optimize_model(str(graph), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
        if fused.get_fused_operator_statistics().get("Attention", 0) == 0:
            return  # nothing fused: keep the graph as exported
        fused.save_model_to_file(str(graph))
    except Exception:  # noqa: BLE001  (an optional speed-up: the exported graph serves as it is)
        return


def agreement(ours: Encoder, reference: Encoder) -> float:
    """Lowest cosine between the two encoders over ``CHECK_TEXTS``, one at a time and batched."""
    ref = reference.embed_many(CHECK_TEXTS, batch_size=len(CHECK_TEXTS))
    batched = ours.embed_batch(CHECK_TEXTS)                 # padded to the longest text
    single = np.stack([ours.embed(t) for t in CHECK_TEXTS])
    return float(min((batched * ref).sum(1).min(), (single * ref).sum(1).min()))


def _export_and_check(folder: Path, graph: Path, verdict: Path, max_seq_length: int, name: str) -> None:
    tmp = graph.with_suffix(f".{os.getpid()}.tmp")
    try:
        _export(folder, tmp)
        reference = TransformerEncoder(folder, "mean", True, max_seq_length, 0, name)
        cosine = agreement(OnnxEncoder(tmp, folder, max_seq_length, 0, name), reference)
        ok = cosine >= MIN_COSINE
        reason = "" if ok else f"lowest cosine to torch {cosine:.6f} < {MIN_COSINE}"
    except Exception as exc:  # an exporter or runtime that cannot do it: torch serves instead
        ok, cosine, reason = False, float("nan"), f"export failed: {type(exc).__name__}: {exc}"[:500]
    if ok:
        os.replace(tmp, graph)
    else:
        tmp.unlink(missing_ok=True)
    pending = verdict.with_suffix(f".{os.getpid()}.tmp")
    pending.write_text(json.dumps({"ok": ok, "min_cosine": cosine, "reason": reason,
                                   "check_texts": len(CHECK_TEXTS), "threshold": MIN_COSINE}))
    os.replace(pending, verdict)


def load_onnx_encoder(folder: Path, max_seq_length: int = 256, threads: int = 0,
                      name: str = "all-MiniLM-L6-v2") -> OnnxEncoder | None:
    """The ONNX encoder for a mean-pooled, normalised model folder, exporting and checking it once
    (under a file lock, so concurrent first calls export once); None, with a warning, when the export
    or its check failed: the caller then uses torch."""
    key = cache_key(folder)
    where = cache_dir() / "onnx"
    graph, verdict = where / f"{name}-{key}.onnx", where / f"{name}-{key}.json"
    try:
        if not verdict.exists():
            where.mkdir(parents=True, exist_ok=True)
            with open(where / f"{name}-{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not verdict.exists():
                    _export_and_check(folder, graph, verdict, max_seq_length, name)
        result = json.loads(verdict.read_text())
    except (OSError, ValueError) as exc:  # a read-only or broken cache folder: torch serves
        result = {"ok": False, "reason": f"cache {where}: {exc}"}
    if result.get("ok") and graph.exists():
        try:
            return OnnxEncoder(graph, folder, max_seq_length, threads, name)
        except Exception as exc:  # a graph damaged on disk since its check
            result = {"ok": False, "reason": f"cannot load {graph}: {type(exc).__name__}: {exc}"[:300]}
    warnings.warn(f"nuonuo: the ONNX encoder is not used ({result.get('reason') or 'graph missing'}); "
                  f"encoding with torch instead (delete {verdict} to try again)", RuntimeWarning, stacklevel=2)
    return None
