"""``NuonuoRetriever``: nuonuo's recall as a LangChain retriever.

    retriever = NuonuoRetriever(memory=open_memory(), k=4)
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | model

Each hit becomes a ``Document`` whose ``page_content`` is the memory's text and whose metadata
holds the memory's own metadata plus nuonuo's fields: ``id``, ``score`` (fused relevance in [0, 1],
higher is more relevant), ``source`` (``hopfield``, ``ngram``, ``exact`` or ``hebbian``), ``hops``,
``scores`` (each channel's figure), ``namespace``, ``key``, ``created_at`` and ``updated_at``
(ISO-8601, UTC).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from langchain_nuonuo._backend import check_memory
from nuonuo.errors import NotFound

NUONUO_FIELDS = ("id", "score", "source", "hops", "scores", "path", "namespace", "key",
                 "timestamp", "created_at", "updated_at")


def hit_to_document(hit: Any, record: Any = None) -> Document:
    """A nuonuo ``Hit`` (and optionally its ``MemoryRecord``) as a LangChain ``Document``."""
    from nuonuo.records import to_iso

    meta: dict[str, Any] = dict(hit.metadata or {})
    meta.update(id=hit.id, score=float(hit.score), source=hit.source, hops=hit.hops,
                scores=dict(hit.scores or {}), path=list(hit.path or []), namespace=hit.namespace,
                key=hit.key, timestamp=hit.timestamp, created_at=hit.timestamp)
    if record is not None:
        meta["updated_at"] = to_iso(record.updated_at) if record.updated_at else hit.timestamp
    return Document(page_content=hit.text, metadata=meta, id=hit.id)


class NuonuoRetriever(BaseRetriever):
    """Recall from a nuonuo memory (embedded ``Memory``, a daemon client, or ``SharedMemory``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Any = Field(description="a nuonuo memory (nuonuo.api.MemoryAPI): Memory, a daemon client or SharedMemory")
    namespace: str = "default"
    k: int = 4
    min_score: float = 0.0
    """Hits below this fused score are left out."""
    with_record_times: bool = True
    """Look each hit's record up for ``updated_at`` (one ``get`` per hit)."""

    def model_post_init(self, context: Any) -> None:
        check_memory(self.memory)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.memory.recall(query, k=self.k, namespace=self.namespace)
        docs = []
        for hit in hits:
            if hit.score < self.min_score:
                continue
            record = None
            if self.with_record_times:
                try:
                    record = self.memory.get(hit.id)
                except NotFound:  # forgotten between recall and get: the hit alone still says enough
                    record = None
            docs.append(hit_to_document(hit, record))
        return docs
