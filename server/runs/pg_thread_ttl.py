"""Threads created with a TTL, TTLs set, expired threads found: the PostgreSQL run store's.

`PostgresRunStore` inherits these. Expiries are computed with the database's `now()`, as
leases are, so the clocks of the hosts never matter. With `orca serve --workers N` every
process has a sweeper; a session advisory lock taken with `pg_try_advisory_lock` lets one
sweep at a time, and the others skip their turn instead of waiting for it. A sweep that
dies halfway leaves nothing the next one cannot finish: deleting a thread is idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from server.runs.pg_sql import EXPIRED_THREADS, INSERT_THREAD, SET_TTL
from server.runs.records import ThreadExists, ThreadExpiry, ThreadRecord
from server.runs.serde import dumps

SWEEP_LOCK = 0x0C1A_0009
"""`pg_try_advisory_lock` key held by the process sweeping expired threads (the
migrations' lock is 0x0C1A_0001)."""


def _ttl(ttl: ThreadExpiry | None) -> dict[str, Any]:
    """Return the TTL parameters of `INSERT_THREAD` and `SET_TTL` (NULLs for none)."""
    return {"strategy": ttl.strategy if ttl else None, "minutes": ttl.minutes if ttl else None}


class PostgresThreadTTL:
    """Create threads with their TTL, set TTLs, find the expired threads, take turns."""

    pool: AsyncConnectionPool

    async def _threads(self, query: LiteralString, params: Any) -> list[ThreadRecord]:
        raise NotImplementedError  # `PostgresRunStore._threads`

    async def get_thread(self, thread_id: str, owner: str) -> ThreadRecord | None:
        """Return the owner's thread (`PostgresRunStore.get_thread`)."""
        raise NotImplementedError

    async def create_thread(
        self,
        thread_id: str,
        owner: str,
        metadata: dict[str, Any],
        *,
        if_exists: str,
        ttl: ThreadExpiry | None = None,
    ) -> ThreadRecord:
        """Create a thread, or return the owner's existing one with `do_nothing`.

        The id may already be taken by a LangServe or AG-UI thread of the same owner (they
        claim ids in the same table): that is an existing thread like any other.
        """
        new = {"thread_id": thread_id, "owner": owner, "metadata": Jsonb(metadata, dumps=dumps)}
        created = await self._threads(INSERT_THREAD, {**new, **_ttl(ttl)})
        if created:
            return created[0]
        if if_exists == "do_nothing":
            existing = await self.get_thread(thread_id, owner)
            if existing is not None:
                return existing
        raise ThreadExists(thread_id)

    async def set_thread_ttl(
        self, thread_id: str, owner: str, ttl: ThreadExpiry
    ) -> ThreadRecord | None:
        """Give the owner's thread `ttl`, from now."""
        owned = {"thread_id": thread_id, "owner": owner}
        found = await self._threads(SET_TTL, {**owned, **_ttl(ttl)})
        return found[0] if found else None

    async def expired_threads(self, limit: int) -> list[ThreadRecord]:
        """Return idle threads past their expiry, the longest expired first."""
        return await self._threads(EXPIRED_THREADS, (limit,))

    @asynccontextmanager
    async def sweep_turn(self) -> AsyncIterator[bool]:
        """Hold the sweepers' advisory lock for the block; False if another process has it."""
        async with self.pool.connection() as connection:
            cursor = connection.cursor(row_factory=tuple_row)
            await cursor.execute("SELECT pg_try_advisory_lock(%s)", (SWEEP_LOCK,))
            row = await cursor.fetchone()
            taken = bool(row and row[0])
            try:
                yield taken
            finally:
                if taken:
                    await cursor.execute("SELECT pg_advisory_unlock(%s)", (SWEEP_LOCK,))
