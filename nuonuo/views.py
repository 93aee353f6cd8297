"""What recall and sleep see of ``Memory``: a protocol, so that ``nuonuo.recall`` and
``nuonuo.consolidation`` (which ``Memory`` calls) never import ``nuonuo.memory``.

``FacadeView`` is the components' ``MemoryView`` plus the facade's lock, its three components
and the few cache operations a sleep run applies through.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from nuonuo.component import Component, MemoryView
from nuonuo.records import MemoryRecord

if TYPE_CHECKING:
    from nuonuo.associations import AssociationMemory
    from nuonuo.conversation import ConversationIndex
    from nuonuo.engram import EngramComponent
    from nuonuo.hopfield import PatternIndex
    from nuonuo.sentence_index import SentenceIndex


@runtime_checkable
class FacadeView(MemoryView, Protocol):
    engram: "EngramComponent"
    hebbian: "AssociationMemory"
    conversations: "ConversationIndex"
    sentences: "SentenceIndex"
    components: list[Component]

    @property
    def lock(self) -> threading.RLock:
        """Held for a whole recall or sleep run (re-entrant)."""
        ...

    def check_open(self) -> None: ...

    def flush(self) -> None: ...

    def pattern_indexes(self) -> dict[str, "PatternIndex"]: ...

    def replace_records(self, records: Sequence[MemoryRecord]) -> None: ...
