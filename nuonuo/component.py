"""The contract between the ``Memory`` facade and its components (the Engram index, the association
memory, the conversation index): two protocols, so a component never imports ``Memory``.

- ``MemoryView``: the narrow view of the memory a component receives in each hook: the config,
  the encoder, the store, and read access to the cached records and vectors.
- ``Component``: what the facade calls. ``rebuild`` runs once at open (every record is in the view);
  ``added``/``removed`` after each committed write; ``flush`` before close and sleep (write what is
  pending); ``stats`` adds the component's figures to ``Memory.stats()``. All run under the memory's
  lock.

Layers (tests/test_layering.py): this module sits between the store and the components; it
imports values and, for types only, the store, the encoder classes and the pattern index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

import numpy as np

from nuonuo.config import Config
from nuonuo.records import MemoryRecord

if TYPE_CHECKING:
    from nuonuo.encoder_models import Encoder
    from nuonuo.hopfield import PatternIndex
    from nuonuo.store import Store


@runtime_checkable
class MemoryView(Protocol):
    """What a component may see of the memory."""

    config: Config
    encoder: "Encoder"
    store: "Store"

    def get(self, id: str) -> MemoryRecord:
        """The record (``NotFound`` if there is none)."""
        ...

    def record(self, id: str) -> MemoryRecord | None:
        """The cached record, or None: a cheap probe for the hot paths (the caller holds the lock)."""
        ...

    def vector(self, id: str) -> np.ndarray:
        """The memory's unit vector."""
        ...

    def records(self) -> list[MemoryRecord]:
        """Every record (history included), in storage order."""
        ...

    def pattern_index(self, namespace: str) -> "PatternIndex | None":
        """The active patterns of a namespace (ids, vectors, creation times)."""
        ...


@runtime_checkable
class Component(Protocol):
    """Something that keeps its own cache in step with the memories (an index, a graph)."""

    def rebuild(self, memory: MemoryView) -> None: ...

    def added(self, memory: MemoryView, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None: ...

    def removed(self, memory: MemoryView, records: Sequence[MemoryRecord]) -> None: ...

    def flush(self, memory: MemoryView) -> None: ...

    def stats(self, memory: MemoryView) -> dict[str, Any]: ...
