"""``NuonuoStore``: LangGraph's long-term memory (``BaseStore``) on nuonuo.

    store = NuonuoStore(open_memory(), index={"fields": ["content"]})
    agent = create_react_agent(model, tools, store=store)      # or graph.compile(store=store)

How the interface maps onto nuonuo:

- a namespace tuple is a nuonuo namespace under ``root`` (``("memories", "ana")`` →
  ``langgraph.memories.ana``, escaped so that every tuple stays distinct: ``store_names``);
- a key is a nuonuo exact key (canonical-stable encoding: ``store_names.encode_key``): a new
  value for a key supersedes the old one, which nuonuo keeps as history (``NuonuoStore.history``);
  ``get`` returns the latest. A put whose indexed text equals the current value's text changes
  that value in place (nuonuo stores one copy of a text per key), so it adds no history entry;
- the value is stored whole, as JSON, in the memory's metadata (``metadata["langgraph"]``: key,
  value, created_at, updated_at, indexed); the memory's *text*, which recall encodes and matches,
  is the value's ``index`` fields (LangGraph paths; default ``["$"]``, the whole value as JSON),
  joined by newlines;
- ``search`` with a query ranks by nuonuo's recall (per namespace; several namespaces merged by
  query cosine, each keeping its own order: ``merge_rankings``): each result
  is a ``NuonuoSearchItem`` with ``score`` (nuonuo's fused relevance, in [0, 1]), ``source``
  (hopfield, ngram, exact or hebbian), ``hops`` and ``memory_id``. Without a query, results come
  namespace by namespace (sorted), newest first within one;
- a delete (``PutOp`` with value None) forgets the key and its whole history; deleting a missing
  key does nothing.

Like ``InMemoryStore``: in one batch, reads see the store as it was before the batch's writes,
and of several writes to one key the last wins; a query search returns the indexed matches ranked,
then fills up to ``limit`` with matches that have no indexed text (``score=None``).

What the interface offers and nuonuo cannot, said rather than ignored:

- TTL: nuonuo keeps a memory until it is forgotten; ``supports_ttl`` is False, so ``put(...,
  ttl=N)`` and a ``PutOp`` with a ttl raise ``NotImplementedError``; ``refresh_ttl`` is ignored.
- ``index={"embed": ..., "dims": ...}``: nuonuo encodes with its own encoder (``[encoder] model``);
  only ``fields`` is accepted, anything else is a ``ValueError``.
- a namespace lives while it holds memories: deleting its last item removes it from
  ``list_namespaces`` (``InMemoryStore`` keeps listing an emptied namespace).
- recall reaches the top 1000 memories of a namespace (nuonuo's ``k`` limit): a filtered query
  search that needs more returns the remaining matches after the ranked ones, with ``score=None``.
- memories written into a store namespace by other means (``nuonuo remember --ns langgraph.x``)
  are not items: the store shows only what it wrote.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from langgraph.store.base import (BaseStore, GetOp, Item, ListNamespacesOp, Op, PutOp, Result, SearchItem,
                                  SearchOp, get_text_at_path, tokenize_path)

from langchain_nuonuo._backend import check_memory, open_memory
from nuonuo.validate import MAX_K  # nuonuo's recall limit
from langchain_nuonuo.store_names import (check_filter, check_labels, check_root, encode_key, from_nuonuo,
                                          matches, passes, to_nuonuo)

ALL = 10**9
PAGE = 256
COMMIT = 256
LIST_ABOVE = 32  # a put batch of more keys than this into one namespace reads it once instead of key by key


class NuonuoSearchItem(SearchItem):
    """A search result with where nuonuo's recall found it: ``source``, ``hops``, ``memory_id``."""

    __slots__ = ("source", "hops", "memory_id")

    def __init__(self, *, source: str | None = None, hops: int = 0, memory_id: str | None = None,
                 **fields: Any) -> None:
        super().__init__(**fields)
        self.source, self.hops, self.memory_id = source, hops, memory_id

    def dict(self) -> dict:
        return {**super().dict(), "source": self.source, "hops": self.hops, "memory_id": self.memory_id}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _fields(index: Any, what: str) -> list[tuple[str, Any]]:
    if not isinstance(index, list) or not all(isinstance(p, str) and p for p in index):
        raise ValueError(f"{what} must be a list of field paths (e.g. ['content']), not {index!r}")
    return [(p, p if p == "$" else tokenize_path(p)) for p in index]


def merge_rankings(lists: list[list[tuple[Any, Any]]]) -> list[tuple[Any, Any]]:
    """One ranking from each namespace's recall ranking, keeping every namespace's own order.

    Fused scores are rank-based (reciprocal-rank fusion), so the best hit of every namespace gets
    about the same score, however weak it is: the merge instead takes, at each step, the head with
    the highest query cosine ``scores["cosine"]`` (the fused score where a hit has none)."""
    heads = [0] * len(lists)
    out: list[tuple[Any, Any]] = []
    while True:
        best = None
        for i, ranking in enumerate(lists):
            if heads[i] < len(ranking):
                hit = ranking[heads[i]][0]
                key = (hit.scores or {}).get("cosine", hit.score)
                if best is None or key > best[0]:
                    best = (key, i)
        if best is None:
            return out
        out.append(lists[best[1]][heads[best[1]]])
        heads[best[1]] += 1


class NuonuoStore(BaseStore):
    """LangGraph ``BaseStore`` on a nuonuo memory: ``Memory``, the daemon's client or ``SharedMemory``.

    ``memory``: the memory to use (None: ``open_memory()``, closed by ``close()``). ``index``:
    ``{"fields": [...]}``, the value fields recall sees (default ``["$"]``, the whole value).
    ``root``: the nuonuo namespace every store namespace lives under."""

    supports_ttl = False

    def __init__(self, memory: Any = None, *, index: dict[str, Any] | None = None, root: str = "langgraph"):
        unknown = set(index or {}) - {"fields"}
        if unknown:
            raise ValueError(f"NuonuoStore's index takes only 'fields' (nuonuo encodes with its own encoder, "
                             f"[encoder] model); remove {', '.join(sorted(unknown))}")
        self.fields = _fields((index or {}).get("fields") or ["$"], "index['fields']")
        self.root = check_root(root)
        self._owned = memory is None
        self.memory = check_memory(open_memory() if memory is None else memory)

    def close(self) -> None:
        """Close the memory if this store opened it."""
        if self._owned:
            self.memory.close()

    def __enter__(self) -> "NuonuoStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- the batch ---------------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        puts = self._check(ops)
        # namespace → memories: what searches, listings and writes start from (gets need none)
        counts = self.memory.namespaces() if any(not isinstance(op, GetOp) for op in ops) else {}
        results: list[Result] = []
        for op in ops:
            if isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op, counts))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op, counts))
            else:
                results.append(None)
        if puts:
            self._write(puts, counts)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """``batch`` in a worker thread (nuonuo's memories are thread-safe)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, list(ops))

    def _check(self, ops: list[Op]) -> dict[tuple[str, str], PutOp]:
        """Validate every op before running any (a bad op runs nothing); the puts, last per key."""
        puts: dict[tuple[str, str], PutOp] = {}
        for op in ops:
            if isinstance(op, (GetOp, PutOp)):
                to_nuonuo(self.root, op.namespace)
                encode_key(op.key)
            if isinstance(op, SearchOp):
                check_labels(op.namespace_prefix)
                check_filter(op.filter)
                if op.query is not None and not isinstance(op.query, str):
                    raise ValueError(f"a search query is a string, not {type(op.query).__name__}")
            elif isinstance(op, ListNamespacesOp):
                for cond in op.match_conditions or ():
                    check_labels(tuple(label for label in cond.path if label != "*"))
            elif isinstance(op, PutOp):
                if op.ttl is not None:
                    raise NotImplementedError("NuonuoStore does not expire items: nuonuo keeps a memory until it "
                                              "is forgotten; put without ttl (or delete the item yourself)")
                if op.value is not None:
                    self._check_value(op)
                puts[(to_nuonuo(self.root, op.namespace, for_write=True), op.key)] = op
            elif not isinstance(op, GetOp):
                raise ValueError(f"unknown store operation {type(op).__name__}")
        return puts

    def _check_value(self, op: PutOp) -> None:
        if not isinstance(op.value, Mapping) or not all(isinstance(k, str) for k in op.value):
            raise ValueError(f"a store value is a mapping with string keys, not {type(op.value).__name__}")
        try:
            json.dumps(op.value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the value for key {op.key!r} is not JSON ({exc}); nuonuo stores values as JSON") from None
        if op.index not in (None, False):
            _fields(op.index, "index")

    # --- reading -------------------------------------------------------------------------------------
    def _get(self, op: GetOp) -> Item | None:
        rec = self.memory.lookup(encode_key(op.key), to_nuonuo(self.root, op.namespace))
        return self._item(op.namespace, rec.metadata) if rec is not None and self._ours(rec.metadata) else None

    def history(self, namespace: tuple[str, ...], key: str) -> list[Item]:
        """Every value ``key`` has had, newest first (what ``get`` returns is the first)."""
        recs = self.memory.history(encode_key(key), to_nuonuo(self.root, namespace))
        return [self._item(namespace, r.metadata) for r in recs if self._ours(r.metadata)]

    @staticmethod
    def _ours(metadata: dict[str, Any] | None) -> bool:
        return isinstance((metadata or {}).get("langgraph"), dict)

    @staticmethod
    def _item(namespace: tuple[str, ...], metadata: dict[str, Any], cls: type = Item, **extra: Any) -> Any:
        lg = metadata["langgraph"]
        return cls(value=lg["value"], key=lg["key"], namespace=namespace,
                   created_at=datetime.fromisoformat(lg["created_at"]),
                   updated_at=datetime.fromisoformat(lg["updated_at"]), **extra)

    def _namespaces(self, counts: dict[str, int], prefix: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        """(nuonuo name, tuple) of the store's namespaces under ``prefix``, sorted by tuple."""
        found = []
        for name in counts:
            ns = from_nuonuo(self.root, name)
            if ns is not None and ns[:len(prefix)] == prefix:
                found.append((name, ns))
        return sorted(found, key=lambda pair: pair[1])

    def _list_namespaces(self, op: ListNamespacesOp, counts: dict[str, int]) -> list[tuple[str, ...]]:
        spaces = [ns for _, ns in self._namespaces(counts, ())
                  if all(matches(ns, c.match_type, tuple(c.path)) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            spaces = sorted({ns[:op.max_depth] for ns in spaces})
        return spaces[op.offset:op.offset + op.limit]

    def _search(self, op: SearchOp, counts: dict[str, int]) -> list[SearchItem]:
        spaces = self._namespaces(counts, op.namespace_prefix)
        if not spaces or op.limit <= 0:
            return []
        if op.query:
            return self._ranked(op, spaces, counts)
        return self._scan(spaces, op.filter, op.offset, op.limit, lambda lg: True)

    def _scan(self, spaces: list[tuple[str, tuple[str, ...]]], flt: dict | None, skip: int, limit: int,
              keep: Any) -> list[SearchItem]:
        """Items in namespace order, newest first within one, that pass ``flt`` and ``keep``: the
        ``limit`` after the first ``skip``; read a page at a time."""
        out: list[SearchItem] = []
        for name, ns in spaces:
            offset = 0
            while len(out) < limit:
                page = self.memory.list(name, limit=PAGE, offset=offset)
                for rec in page:
                    lg = (rec.metadata or {}).get("langgraph")
                    if not isinstance(lg, dict) or not keep(lg) or not passes(lg["value"], flt):
                        continue
                    if skip:
                        skip -= 1
                    elif len(out) < limit:
                        out.append(self._item(ns, rec.metadata, SearchItem))
                if len(page) < PAGE:
                    break
                offset += PAGE
        return out

    def _ranked(self, op: SearchOp, spaces: list[tuple[str, tuple[str, ...]]],
                counts: dict[str, int]) -> list[SearchItem]:
        """Recall in each namespace, merged by score. k grows (×4, up to 1000) until enough indexed
        items pass the filter or every namespace is exhausted."""
        want = op.offset + op.limit
        k = min(MAX_K, max(want, 1) * (4 if op.filter else 1))
        while True:
            lists, exhausted = [], True
            for name, ns in spaces:
                found = self.memory.recall(op.query, k=min(k, counts[name]), namespace=name)
                exhausted &= len(found) >= counts[name] or len(found) < min(k, counts[name])
                lists.append([(h, ns) for h in found if self._ours(h.metadata)
                              and h.metadata["langgraph"].get("indexed")
                              and passes(h.metadata["langgraph"]["value"], op.filter)])
            if sum(map(len, lists)) >= want or exhausted or k >= MAX_K:
                break
            k = min(MAX_K, k * 4)
        ranked = [self._item(ns, h.metadata, NuonuoSearchItem, score=float(h.score), source=h.source,
                             hops=int(h.hops or 0), memory_id=h.id) for h, ns in merge_rankings(lists)]
        if len(ranked) < want and not exhausted:  # past recall's reach: the other matches, unranked
            seen = {(i.namespace, i.key) for i in ranked}
            rest = self._scan(spaces, op.filter, 0, ALL, lambda lg: lg.get("indexed"))
            ranked += [i for i in rest if (i.namespace, i.key) not in seen]
        kept = ranked[op.offset:want]
        if len(kept) < op.limit:  # as InMemoryStore: items without indexed text fill up, unscored
            kept += self._scan(spaces, op.filter, 0, op.limit - len(kept), lambda lg: not lg.get("indexed"))
        return kept

    # --- writing -------------------------------------------------------------------------------------
    def _text(self, op: PutOp) -> str | None:
        """What recall sees: the value's index fields, one line each (None: nothing to index)."""
        if op.index is False:
            return None
        fields = self.fields if op.index is None else _fields(op.index, "index")
        texts = [t for _, path in fields for t in get_text_at_path(op.value, path)]
        text = "\n".join(t.strip() for t in texts if t and t.strip())
        return text or None

    def _write(self, puts: dict[tuple[str, str], PutOp], counts: dict[str, int]) -> None:
        by_ns: dict[str, list[PutOp]] = {}
        for (name, _), op in puts.items():
            by_ns.setdefault(name, []).append(op)
        for name, ops in by_ns.items():
            current = self._current(name, [op.key for op in ops], counts)
            fresh = []
            for op in ops:
                rec = current.get(op.key)
                if op.value is None:
                    if rec is not None:
                        self._forget(name, op.key)
                    continue
                text = self._text(op)
                now = _now()
                lg = {"key": op.key, "value": dict(op.value), "indexed": text is not None, "updated_at": now,
                      "created_at": rec.metadata["langgraph"]["created_at"] if rec is not None else now}
                text = text or f"(not indexed) {op.key}"
                if rec is not None and rec.text == text:  # nuonuo keeps one copy of a text per key
                    self.memory.update(rec.id, metadata={**rec.metadata, "langgraph": lg})
                else:
                    fresh.append({"text": text, "key": encode_key(op.key), "metadata": {"langgraph": lg}})
            if fresh:  # commits of 256: nuonuo's supersede check costs O(batch²) for keyed items
                self.memory.remember_many(fresh, namespace=name, batch_size=COMMIT)

    def _current(self, name: str, keys: list[str], counts: dict[str, int]) -> dict[str, Any]:
        """The current record of each key that has one: none in a new namespace; one ``list`` of the
        namespace for a large batch; else one O(1) ``lookup`` per key."""
        if not counts.get(name):
            return {}
        if len(keys) > LIST_ABOVE:
            wanted = set(keys)
            recs = self.memory.list(name, limit=ALL)
            return {r.metadata["langgraph"]["key"]: r for r in recs
                    if self._ours(r.metadata) and r.metadata["langgraph"]["key"] in wanted}
        found = {}
        for key in keys:
            rec = self.memory.lookup(encode_key(key), name)
            if rec is not None and self._ours(rec.metadata):
                found[key] = rec
        return found

    def _forget(self, name: str, key: str) -> None:
        from nuonuo.errors import NotFound

        try:
            self.memory.forget(key=encode_key(key), namespace=name)
        except NotFound:  # forgotten meanwhile by someone else: what a delete wants
            pass
