"""An association link as a value (``Edge``), and the two tables that hold links and W.

A link ``(cue, target, kind)`` carries its weight, namespace, time and the active units of both
codes, so W is rebuilt at open without re-projecting anything (see ``nuonuo.associations``).
Kinds: ``link`` (explicit), ``session`` (temporal neighbours of one conversation), ``corecall``
(recalled together), ``paraphrase`` (an extra cue pattern for a memory; the cue is a generated
text, ``cue_text``), ``tombstone`` (a forgotten link's negative contribution to a W snapshot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from nuonuo.hebbian import SparseW

ASSOCIATION_SCHEMA = pa.schema([
    pa.field("cue", pa.string(), nullable=False),
    pa.field("target", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("weight", pa.float32()),
    pa.field("created_at", pa.float64()),
    pa.field("namespace", pa.string()),
    pa.field("cue_text", pa.string()),            # paraphrase cues: the generated text
    pa.field("cue_units", pa.list_(pa.int32())),   # active units of cue(x_cue)
    pa.field("target_units", pa.list_(pa.int32())),
])
W_SNAPSHOT_SCHEMA = pa.schema([
    pa.field("col", pa.int32(), nullable=False),
    pa.field("rows", pa.list_(pa.int32())),
    pa.field("vals", pa.list_(pa.float32())),
])
KIND_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,31}$")
AUTO_KINDS = {"session", "corecall", "paraphrase", "tombstone"}


@dataclass
class Edge:
    cue: str
    target: str
    kind: str
    weight: float
    created_at: float
    namespace: str
    cue_units: np.ndarray
    target_units: np.ndarray
    cue_text: str | None = None

    def row(self) -> dict[str, Any]:
        return {"cue": self.cue, "target": self.target, "kind": self.kind, "weight": float(self.weight),
                "created_at": self.created_at, "namespace": self.namespace, "cue_text": self.cue_text,
                "cue_units": self.cue_units.tolist(), "target_units": self.target_units.tolist()}

    def public(self) -> dict[str, Any]:
        out = {"cue": self.cue, "target": self.target, "kind": self.kind, "weight": round(float(self.weight), 4),
               "created_at": self.created_at, "namespace": self.namespace}
        if self.cue_text:
            out["cue_text"] = self.cue_text
        return out


def edges_to_arrow(edges: Sequence[Edge]) -> pa.Table:
    return pa.Table.from_pylist([e.row() for e in edges], schema=ASSOCIATION_SCHEMA)


def w_from_snapshot(table: pa.Table, code_dim: int) -> SparseW:
    """The W a sleep run left (``hebbian_w``: one row per non-empty column)."""
    if table.num_rows == 0:
        return SparseW(code_dim)
    rows = [np.asarray(x, dtype=np.int32) for x in table.column("rows").to_pylist()]
    vals = [np.asarray(x, dtype=np.float32) for x in table.column("vals").to_pylist()]
    return SparseW.from_columns(code_dim, table.column("col").to_numpy(), rows, vals)
