"""Large float32 products on the hot path, on the thread pool the encoder uses.

Why: with the torch encoder, a multi-threaded numpy BLAS call (OpenBLAS) leaves its own worker
threads spinning for a while after it returns, and the next torch call (the next query's encoding)
then shares the two cores with them. Measured at 10K memories on the 2-core machine: recall end to
end p50 65–74 ms with the cosine scan in numpy, 27–29 ms with it in torch (same queries, same store;
the scan itself costs the same). So when torch is loaded (the torch encoder, or anything else that
imported it) the product runs on torch's pool; otherwise (the ONNX Runtime encoder) numpy computes
it, and torch, seconds of import, is never loaded just for this. Small products stay in numpy.
"""

from __future__ import annotations

import sys

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for float32 arrays (2-D @ 2-D or 2-D @ 1-D): on torch's pool if torch is loaded."""
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    b32 = np.ascontiguousarray(b, dtype=np.float32)
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "inference_mode"):  # absent, or still being imported
        return a32 @ b32
    with torch.inference_mode():
        return (torch.from_numpy(a32) @ torch.from_numpy(b32)).numpy()
