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

Calibration: α, τ, γ were fitted by logistic regression (Newton's method, L2 = 1e-3; the unused
``fit_gate`` that did it is in git history, commit e910a5d) of "this n-gram candidate
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
