"""The context gate: may a hash hit (exact key or n-gram match) join the ranking?

A hash hit knows only that some rare tokens match; the gate asks whether the memory is also about
what the query is about. It is a logistic unit on two figures:

.. math::

    g(c, s) = σ\\big(α · (c − τ) + γ · s\\big), \\qquad σ(z) = 1 / (1 + e^{−z})

- ``c = cos(q, x)``: the query vector · the memory's vector (both unit length);
- ``s ∈ [0, 1]``: the match strength (n-gram: ``S / S_max``; exact: the key coverage).

A hit with ``g < threshold`` is dropped before fusion (``g`` is kept in ``Hit.scores["gate"]``), so
a stray rare n-gram in an off-topic memory never pushes out what the query is about, while a strong
match (many rare n-grams, or a fully covered key) opens the gate even for a weaker cosine.

Calibration: α, τ, γ were fitted (``fit_gate``) by logistic regression of "this n-gram candidate
is an evidence turn" on (c, s) over the 1,000 n-gram candidates of the first 20 LongMemEval_S
quick-loop questions whose embeddings were cached (39 evidence turns): α = 3.6, τ = 1.76,
γ = 11.7. The threshold 0.01 keeps ~99% of evidence candidates; 0.032 keeps 95% and drops 88% of
the rest, but cost turn_recall on the next questions, so the looser one is the default.
"""

from __future__ import annotations

import numpy as np


def gate(cos: np.ndarray | float, strength: np.ndarray | float, alpha: float, tau: float,
         gamma: float) -> np.ndarray:
    """g(c, s) = σ(α (c − τ) + γ s), elementwise."""
    z = alpha * (np.asarray(cos, np.float64) - tau) + gamma * np.asarray(strength, np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def fit_gate(cos: np.ndarray, strength: np.ndarray, label: np.ndarray, l2: float = 1e-3,
             steps: int = 500) -> tuple[float, float, float]:
    """Logistic regression of ``label`` on (c, s) by Newton's method; returns (α, τ, γ).

    Model ``P(y=1) = σ(w_0 + w_1 c + w_2 s)`` ⇒ ``α = w_1``, ``τ = −w_0 / w_1``, ``γ = w_2``."""
    X = np.column_stack([np.ones(len(cos)), cos, strength]).astype(np.float64)
    y = np.asarray(label, np.float64)
    w = np.zeros(3)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + l2 * w
        H = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(3)
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    alpha = float(w[1])
    tau = float(-w[0] / w[1]) if abs(w[1]) > 1e-9 else 0.0
    return alpha, tau, float(w[2])
