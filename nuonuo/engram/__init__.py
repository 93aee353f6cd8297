"""Engram: deterministic O(1) hashed lookup of exact keys and rare n-grams, behind a context gate.

- ``hashing``: seeded token / n-gram fingerprints, H hash heads into prime-sized tables;
- ``keys``: exact keys → current value, verified against the stored canonical key;
- ``ngram``: the lexical channel (hashed n-gram postings, BM25-weighted);
- ``gate``: whether a hash hit may join the ranking;
- ``component``: keeps them in step with ``Memory`` and answers the recall channels.
"""

from nuonuo.engram.component import EngramComponent

__all__ = ["EngramComponent"]
