"""A PostgreSQL advisory lock taken by polling, for set-up steps several processes may run.

LangGraph's checkpointer and store migrations build indexes with `CREATE INDEX
CONCURRENTLY`, which waits for every transaction that holds a snapshot. A process blocked in
`SELECT pg_advisory_lock(...)` holds one for as long as it waits, so two processes starting
together (`orca serve --workers 2`) deadlocked: one held the lock and waited in its index
build for the other's waiting statement. `pg_try_advisory_lock` returns at once, and between
tries the waiting process has no transaction open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

RETRY_S = 0.05
"""Pause between tries while another process holds the lock (set-up takes ~0.1-1 s)."""


@asynccontextmanager
async def advisory_lock(connection: Any, key: int) -> AsyncIterator[None]:
    """Hold session-level advisory lock `key` on `connection` (autocommit) for the block."""
    while True:
        cursor = await connection.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cursor.fetchone()
        taken = row[0] if isinstance(row, tuple) else next(iter(row.values()))
        if taken:
            break
        await asyncio.sleep(RETRY_S)
    try:
        yield
    finally:
        await connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
