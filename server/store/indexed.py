"""LangGraph's SQL store for the items, with semantic search through Qdrant beside it.

`IndexedStore` is a `BaseStore`: items, filters, namespaces and TTLs are the wrapped
`AsyncPostgresStore`'s or `AsyncSqliteStore`'s (run without their pgvector/sqlite-vec
index); a search with a `query` asks the `VectorIndex` for the nearest items, then reads
them from the SQL store, so an item that expired or was deleted is never returned even
if its vectors are still there (they are deleted when such a search meets them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from server.store.expiry import ExpirySweeper
from server.store.rules import matches
from server.store.vectors import VectorIndex

MAX_CANDIDATES = 4096
"""Most vectors one semantic search reads from Qdrant while filling a page."""
SCAN_PAGE = 500
"""Items read per query while a filter is decided here rather than in SQL."""


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def sql_filter(given: dict[str, Any] | None) -> bool:
    """Return whether both SQL stores decide a filter alike (only scalar equalities)."""
    return all(_scalar(value) for value in (given or {}).values())


class LoopStore(BaseStore):
    """A store that works on the server's event loop; `batch` hops onto it from a thread.

    LangGraph runs a synchronous node in a worker thread, so `store.put(...)` in such a
    node waits here for the loop; on the loop thread itself that wait would never end.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `abatch` on the server's loop from another thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("on the event loop, use the store's async methods (aput, aget)")
        return asyncio.run_coroutine_threadsafe(self.abatch(ops), self.loop).result()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:  # pragma: no cover - abstract
        """Execute ops; subclasses say how."""
        raise NotImplementedError


class IndexedStore(LoopStore):
    """Items in a LangGraph SQL store; their vectors, when an index is set, in Qdrant."""

    supports_ttl = True

    def __init__(
        self, items: BaseStore, index: VectorIndex | None, *, expiry: ExpirySweeper | None
    ) -> None:
        """Wrap `items`, and `index` for semantic search.

        `expiry` deletes expired items before reads, for SQLite (whose store returns them
        until they are deleted, where PostgreSQL's queries skip them: `omit_expired`).
        """
        super().__init__()
        self.items = items
        self.index = index
        self.expiry = expiry

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute ops: vectors first (a failed embedding writes nothing), then the items."""
        ops = list(ops)
        await self._index_puts([op for op in ops if isinstance(op, PutOp)])
        semantic = {
            n: op
            for n, op in enumerate(ops)
            if isinstance(op, SearchOp) and op.query and self.index is not None
        }
        scans = {
            n: op
            for n, op in enumerate(ops)
            if isinstance(op, SearchOp) and n not in semantic and not sql_filter(op.filter)
        }
        rest = [(n, op) for n, op in enumerate(ops) if n not in semantic and n not in scans]
        if self.expiry is not None:
            self.expiry.wrote(ops)
            if any(not isinstance(op, PutOp) for op in ops):
                await self.expiry.before_read()
        results: list[Result] = [None] * len(ops)
        if rest:
            done = await self.items.abatch([op for _, op in rest])
            for (n, _), result in zip(rest, done, strict=True):
                results[n] = result
        for n, op in semantic.items():
            results[n] = await self._semantic(op)
        for n, op in scans.items():
            results[n] = await self._scan(op)
        return results

    async def _scan(self, op: SearchOp) -> list[SearchItem]:
        """Return a page of the newest items passing a filter the SQL stores read unalike.

        Its scalar equalities go to SQL; the rest (ordering operators, which PostgreSQL's
        store compares as text, nested objects, lists) is decided here, page by page.
        """
        exact = {k: v for k, v in (op.filter or {}).items() if _scalar(v)} or None
        wanted, start = op.offset + op.limit, 0
        found: list[SearchItem] = []
        while len(found) < wanted:
            page_op = op._replace(filter=exact, limit=SCAN_PAGE, offset=start, refresh_ttl=False)
            page = (await self.items.abatch([page_op]))[0]
            assert isinstance(page, list)
            found.extend(
                item
                for item in page
                if isinstance(item, SearchItem) and matches(item.value, op.filter)
            )
            if len(page) < SCAN_PAGE:
                break
            start += SCAN_PAGE
        chosen = found[op.offset : wanted]
        if op.refresh_ttl and chosen:
            await self.items.abatch(
                [GetOp(item.namespace, item.key, refresh_ttl=True) for item in chosen]
            )
        return chosen

    async def _index_puts(self, puts: list[PutOp]) -> None:
        if self.index is None or not puts:
            return
        last = {(op.namespace, op.key): op for op in puts}  # the last write of an item wins
        indexed = [op for op in last.values() if op.value is not None and op.index is not False]
        removed = [item for item, op in last.items() if op not in indexed]
        if indexed:
            await self.index.write(
                [
                    (
                        op.namespace,
                        op.key,
                        op.value,
                        op.index if isinstance(op.index, list) else None,
                    )
                    for op in indexed
                    if op.value is not None
                ]
            )
        if removed:
            await self.index.remove(removed)

    async def _semantic(self, op: SearchOp) -> list[SearchItem]:
        """Return a page of the items nearest to `op.query` that pass `op.filter`."""
        assert self.index is not None and op.query
        vector = (await self.index.embed([op.query]))[0]
        wanted = op.offset + op.limit
        fetch = max(2 * wanted, 32) * (4 if op.filter else 1)
        while True:
            hits, more = await self.index.nearest(vector, op.namespace_prefix, fetch)
            found = await self.items.abatch(
                [GetOp(hit.namespace, hit.key, refresh_ttl=False) for hit in hits]
            )
            gone = [
                (hit.namespace, hit.key) for hit, item in zip(hits, found, strict=True) if not item
            ]
            if gone:
                await self.index.remove(gone)
            page = [
                (item, hit.score)
                for hit, item in zip(hits, found, strict=True)
                if isinstance(item, Item) and matches(item.value, op.filter)
            ]
            if len(page) >= wanted or not more or fetch >= MAX_CANDIDATES:
                break
            fetch = min(fetch * 4, MAX_CANDIDATES)
        page = page[op.offset : wanted]
        if op.refresh_ttl and page:
            await self.items.abatch(
                [GetOp(item.namespace, item.key, refresh_ttl=True) for item, _ in page]
            )
        return [
            SearchItem(
                item.namespace, item.key, item.value, item.created_at, item.updated_at, score
            )
            for item, score in page
        ]
