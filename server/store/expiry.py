"""Keep expired items out of SQLite reads, sweeping only when one may have expired.

LangGraph's `AsyncSqliteStore` returns an expired row until its sweeper deletes it (its
PostgreSQL sibling skips them, `omit_expired`), so expired rows are deleted before a read.
A delete is a write transaction, so it runs only once the earliest expiry the file can hold
has passed: read from the file at start and after each sweep, and lowered by every put
with a TTL. Refreshing a TTL only moves expiries later, so the bound stays on the safe side.
The embedded default is one process (local Qdrant locks its folder): it sees every put.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

from langgraph.store.base import Op, PutOp
from langgraph.store.sqlite import AsyncSqliteStore


class ExpirySweeper:
    """Delete a SQLite store's expired items before a read, when any may be due."""

    def __init__(self, store: AsyncSqliteStore) -> None:
        self.store = store
        self.due = 0.0
        """Unix time before which no item can have expired (0: unknown yet)."""

    def wrote(self, ops: Iterable[Op]) -> None:
        """Lower the bound by the expiries of puts with a TTL."""
        for op in ops:
            if isinstance(op, PutOp) and op.value is not None and op.ttl is not None:
                self.due = min(self.due, time.time() + op.ttl * 60)

    async def before_read(self) -> None:
        """Sweep if an item may have expired; then learn the next expiry from the file."""
        if time.time() < self.due:
            return
        await self.store.sweep_ttl()
        async with self.store.lock:
            cursor = await self.store.conn.execute("SELECT min(expires_at) FROM store")
            row = await cursor.fetchone()
            await cursor.close()
        self.due = _timestamp(row[0]) if row and row[0] else float("inf")


def _timestamp(stored: str) -> float:
    """Read an `expires_at` as written by LangGraph (ISO, with or without its UTC offset)."""
    moment = datetime.fromisoformat(str(stored))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # SQLite's DATETIME() is UTC
    return moment.timestamp()
