"""One state write at a time per thread, across every process that shares its store.

A state update reads the thread's head checkpoint and writes a new one after it. Two at
once read the same head and each wrote a child of it: both answered 200, and the thread's
state kept only the later one (ten parallel `POST /threads/{id}/state` left two of ten
updates). langgraph-api serializes them; so does this lock. It is held around the whole
write: the busy check, the rehearsal, the write and the thread row's new status.

Within a process an `asyncio.Lock` per thread queues the writers (so one holds a
connection at a time); across processes on PostgreSQL a transaction-scoped advisory lock
on the thread id does (released by the commit, or by PostgreSQL if the connection dies).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

ADVISORY_SPACE = 0x0C1A_0011
"""The first key of the two-key advisory lock: the thread-write locks' own space."""


class ThreadLocks:
    """Serialize state writes per thread; `pool` (PostgreSQL) reaches other processes."""

    def __init__(self, pool: Any = None) -> None:
        self.pool = pool
        self._local: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def held(self, thread_id: str) -> AsyncIterator[None]:
        """Hold the thread's write lock for the body of the `async with`."""
        lock = self._local.setdefault(thread_id, asyncio.Lock())
        self._users[thread_id] = self._users.get(thread_id, 0) + 1
        try:
            async with lock:
                if self.pool is None:
                    yield
                    return
                async with self.pool.connection() as connection, connection.transaction():
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                        (ADVISORY_SPACE, thread_id),
                    )
                    yield
        finally:
            self._users[thread_id] -= 1
            if not self._users[thread_id]:  # the last one out: no lock kept per thread ever
                del self._users[thread_id], self._local[thread_id]
