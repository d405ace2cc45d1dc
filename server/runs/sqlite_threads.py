"""The threads half of the SQLite run store (`server/runs/sqlite_store.py`), and its schema.

Threads are the rows of `orca_threads` in `$ORCA_DATA_DIR/orca.sqlite`: the table thread
ownership has been claimed in since before the runs API kept anything there, so a thread is
one row whichever surface started it, and a file of an earlier release gets the new columns
when it opens. Every call is one transaction on the process's one connection to the file
(`SqliteDatabase.transaction`), shared with the API keys.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from server.auth.db import SqliteDatabase, add_missing_columns
from server.runs.records import (
    ThreadExists,
    ThreadExpiry,
    ThreadFilter,
    ThreadRecord,
    ThreadStatus,
    now,
)
from server.runs.sqlite_sql import (
    EXPIRED_THREADS,
    SCHEMA,
    SORTS,
    THREAD_COLUMNS,
    THREAD_COLUMNS_ADDED,
    holds,
    json_or_null,
    match,
    merge,
    stamp,
    text,
    thread_of,
    where_sql,
)

Connection = aiosqlite.Connection
Rows = list[sqlite3.Row]


def _expiry(ttl: ThreadExpiry | None, moment: datetime) -> tuple[Any, Any, Any]:
    """Return the TTL columns of a thread given `ttl` at `moment` (NULLs for none)."""
    if ttl is None:
        return None, None, None
    return ttl.strategy, ttl.minutes, stamp(moment + timedelta(minutes=ttl.minutes))


class SqliteThreads:
    """The store's connection, schema and threads (`SqliteRunStore` adds runs and events)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def setup(self) -> None:
        """Create the tables (and the columns a file of an earlier release lacks)."""
        connection = self.db.connection
        await connection.create_function("orca_merge", 2, merge, deterministic=True)
        await connection.create_function("orca_match", 3, match, deterministic=True)
        await connection.create_function("orca_holds", 3, holds, deterministic=True)

        async def create(connection: Connection) -> None:
            await add_missing_columns(connection, THREAD_COLUMNS_ADDED)
            for statement in SCHEMA:
                await connection.execute(statement)

        await self.db.transaction(create, immediate=True)

    async def _rows(self, query: str, params: Any = (), *, write: bool = False) -> Rows:
        """Run one statement in a transaction of its own; return its rows."""

        async def statement(connection: Connection) -> Rows:
            cursor = await connection.execute(query, params)
            cursor.row_factory = sqlite3.Row
            return list(await cursor.fetchall())

        return await self.db.transaction(statement, immediate=write)

    async def _changed(self, query: str, params: Any) -> int:
        """Run one write; return how many rows it changed."""

        async def statement(connection: Connection) -> int:
            return (await connection.execute(query, params)).rowcount

        return await self.db.transaction(statement, immediate=True)

    async def _threads(self, condition: str, params: Any, tail: str = "") -> list[ThreadRecord]:
        query = f"SELECT {THREAD_COLUMNS} FROM orca_threads WHERE {condition} {tail}"
        return [thread_of(row) for row in await self._rows(query, params)]

    # Threads ------------------------------------------------------------------
    async def create_thread(
        self,
        thread_id: str,
        owner: str,
        metadata: dict[str, Any],
        *,
        if_exists: str,
        ttl: ThreadExpiry | None = None,
    ) -> ThreadRecord:
        """Create a thread, or return the owner's existing one with `do_nothing`."""
        moment = now()
        at = stamp(moment)
        strategy, minutes, expires_at = _expiry(ttl, moment)
        created = await self._rows(
            f"""INSERT INTO orca_threads (thread_id, owner, metadata, created_at, updated_at,
            state_updated_at, ttl_strategy, ttl_minutes, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO NOTHING
            RETURNING {THREAD_COLUMNS}""",
            (thread_id, owner, text(metadata), at, at, at, strategy, minutes, expires_at),
            write=True,
        )
        if created:
            return thread_of(created[0])
        if if_exists == "do_nothing":
            existing = await self.get_thread(thread_id, owner)
            if existing is not None:
                return existing
        raise ThreadExists(thread_id)

    async def get_thread(self, thread_id: str, owner: str) -> ThreadRecord | None:
        """Return the owner's thread."""
        found = await self._threads("thread_id = ? AND owner = ?", (thread_id, owner))
        return found[0] if found else None

    async def update_thread(
        self, thread_id: str, owner: str, metadata: dict[str, Any]
    ) -> ThreadRecord | None:
        """Merge metadata into the owner's thread (top-level keys, as `dict` merging)."""
        found = await self._rows(
            f"""UPDATE orca_threads SET metadata = orca_merge(metadata, ?), updated_at = ?
            WHERE thread_id = ? AND owner = ? RETURNING {THREAD_COLUMNS}""",
            (text(metadata), stamp(now()), thread_id, owner),
            write=True,
        )
        return thread_of(found[0]) if found else None

    async def set_thread_ttl(
        self, thread_id: str, owner: str, ttl: ThreadExpiry
    ) -> ThreadRecord | None:
        """Give the owner's thread `ttl`, from now."""
        found = await self._rows(
            f"""UPDATE orca_threads SET ttl_strategy = ?, ttl_minutes = ?, expires_at = ?
            WHERE thread_id = ? AND owner = ? RETURNING {THREAD_COLUMNS}""",
            (*_expiry(ttl, now()), thread_id, owner),
            write=True,
        )
        return thread_of(found[0]) if found else None

    async def expired_threads(self, limit: int) -> list[ThreadRecord]:
        """Return idle threads past their expiry, the longest expired first."""
        rows = await self._rows(EXPIRED_THREADS, (stamp(now()), limit))
        return [thread_of(row) for row in rows]

    @asynccontextmanager
    async def sweep_turn(self) -> AsyncIterator[bool]:
        """Always this process's turn: the file has one process (`SqliteDatabase`)."""
        yield True

    async def set_thread_state(
        self,
        thread_id: str,
        *,
        status: ThreadStatus,
        values: Any = None,
        interrupts: dict[str, list[Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record the thread's status (and values, interrupts, metadata when given)."""
        at = stamp(now())
        await self._changed(
            """UPDATE orca_threads SET status = ?, "values" = coalesce(?, "values"),
            interrupts = coalesce(?, interrupts), metadata = orca_merge(metadata, ?),
            updated_at = ?, state_updated_at = ? WHERE thread_id = ?""",
            (
                status,
                json_or_null(values),
                json_or_null(interrupts),
                text(metadata or {}),
                at,
                at,
                thread_id,
            ),
        )

    async def delete_thread(self, thread_id: str, owner: str, *, keep_runs: bool = False) -> bool:
        """Delete the owner's thread with its runs and their events, in one transaction."""

        async def delete(connection: Connection) -> bool:
            cursor = await connection.execute(
                "DELETE FROM orca_threads WHERE thread_id = ? AND owner = ?", (thread_id, owner)
            )
            if cursor.rowcount == 0 or keep_runs:
                return cursor.rowcount > 0
            await connection.execute(
                """DELETE FROM orca_run_events
                WHERE run_id IN (SELECT run_id FROM orca_runs WHERE thread_id = ?)""",
                (thread_id,),
            )
            await connection.execute("DELETE FROM orca_runs WHERE thread_id = ?", (thread_id,))
            return True

        return await self.db.transaction(delete, immediate=True)

    async def search_threads(
        self,
        owner: str,
        where: ThreadFilter,
        *,
        limit: int,
        offset: int,
        sort_by: str,
        descending: bool,
    ) -> list[ThreadRecord]:
        """Return the owner's matching threads, sorted and paged.

        Raises:
            ValueError: when `sort_by` is not a sortable column.
        """
        if sort_by not in SORTS:
            raise ValueError(f"cannot sort threads by {sort_by!r}")
        condition, params = where_sql(owner, where)
        # Ties keep creation order whichever the direction, like Python's stable sort.
        order = f"{SORTS[sort_by]} {'DESC' if descending else 'ASC'}, created_at, thread_id"
        return await self._threads(
            condition, [*params, limit, offset], f"ORDER BY {order} LIMIT ? OFFSET ?"
        )

    async def count_threads(self, owner: str, where: ThreadFilter) -> int:
        """Count the owner's matching threads."""
        condition, params = where_sql(owner, where)
        rows = await self._rows(f"SELECT count(*) FROM orca_threads WHERE {condition}", params)
        return int(rows[0][0])
