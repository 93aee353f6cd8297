"""Large float32 products on the hot path, computed by torch rather than numpy's BLAS.

Why: the encoder runs on torch's thread pool. A multi-threaded numpy BLAS call (OpenBLAS) leaves its
own worker threads spinning for a while after it returns, and the next torch call (the next query's
encoding) then shares the two cores with them. Measured at 10K memories on the 2-core machine:
recall end to end p50 65–74 ms with the cosine scan in numpy, 27–29 ms with it in torch (same
queries, same store; the scan itself costs the same). Small products stay in numpy.
"""

from __future__ import annotations

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for float32 arrays (2-D @ 2-D or 2-D @ 1-D), on torch's thread pool."""
    import torch

    a32 = np.ascontiguousarray(a, dtype=np.float32)
    b32 = np.ascontiguousarray(b, dtype=np.float32)
    with torch.inference_mode():
        return (torch.from_numpy(a32) @ torch.from_numpy(b32)).numpy()
