"""The service's own small tables (API keys, thread owners) in PostgreSQL or SQLite.

With PostgreSQL they come from the append-only migrations (`server/migrations.py`); on the
embedded default they live in `$ORCA_DATA_DIR/orca.sqlite`, created here (the runs store
adds its columns and tables on the same connection: `server/runs/sqlite_threads.py`).
Queries are written once with `%s` placeholders; SQLite gets them as `?`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite
from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")

SQLITE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS orca_api_keys (
        id TEXT PRIMARY KEY, digest BLOB NOT NULL UNIQUE, name TEXT NOT NULL,
        owner TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        revoked_at TEXT, last_used_at TEXT, scopes TEXT NOT NULL DEFAULT 'run ingest')""",
    """CREATE TABLE IF NOT EXISTS orca_threads (
        thread_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)""",
)


class Database(Protocol):
    """Run a statement; return rows as tuples."""

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute `sql` and return its rows (none for writes)."""
        ...


class PostgresDatabase:
    """Statements on a psycopg pool (autocommit)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute on a pooled connection."""
        async with self.pool.connection() as connection:
            cursor = await connection.execute(sql, params)  # type: ignore[arg-type]
            if cursor.description is None:
                return []
            return [
                tuple(row.values()) if isinstance(row, dict) else tuple(row)
                for row in await cursor.fetchall()
            ]


class SqliteDatabase:
    """Statements on one SQLite connection, serialised by aiosqlite's thread.

    The connection is shared by everything that writes `orca.sqlite` in this process (API
    keys, the runs store: one writer to the file), so a transaction must have it to itself
    from its first statement to its commit: `transaction` holds `lock` for that long.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute with `?` placeholders and commit."""

        async def statement(connection: aiosqlite.Connection) -> list[tuple[Any, ...]]:
            cursor = await connection.execute(sql.replace("%s", "?"), params)
            return [tuple(row) for row in await cursor.fetchall()]

        return await self.transaction(statement)

    async def transaction(
        self, work: Callable[[aiosqlite.Connection], Awaitable[T]], *, immediate: bool = False
    ) -> T:
        """Run `work` alone on the connection, then commit (roll back if it raised).

        `immediate` takes the file's write lock first (`BEGIN IMMEDIATE`), for work that
        reads before it writes. The transaction is shielded from its caller's cancellation:
        a cancelled request must not leave it open on the shared connection, where the next
        caller's commit would commit half of it. It runs to its end; the caller stops waiting.
        """
        task = asyncio.ensure_future(self._alone(work, immediate))
        task.add_done_callback(_retrieved)
        return await asyncio.shield(task)

    async def _alone(
        self, work: Callable[[aiosqlite.Connection], Awaitable[T]], immediate: bool
    ) -> T:
        async with self.lock:
            try:
                if immediate:
                    await self.connection.execute("BEGIN IMMEDIATE")
                result = await work(self.connection)
            except BaseException:
                await self.connection.rollback()
                raise
            await self.connection.commit()
            return result


def _retrieved(task: asyncio.Future[Any]) -> None:
    # A transaction whose caller was cancelled still ends; its error has no one to go to.
    if not task.cancelled():
        task.exception()


@asynccontextmanager
async def open_sqlite(path: Path) -> AsyncIterator[SqliteDatabase]:
    """Open (and create) the embedded database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path) as connection:
        # WAL with synchronous=NORMAL: a commit survives the process being killed (only an
        # OS crash or power loss may take the last ones back), and costs no fsync. Measured
        # on the dev VM: 21 ms per commit in the default rollback journal, 3.3 ms in WAL
        # with FULL, 0.008 ms in WAL with NORMAL; a run commits its events every 50 ms.
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        for statement in SQLITE_SCHEMA:
            await connection.execute(statement)
        await add_missing_columns(connection, SQLITE_ADDED_COLUMNS)
        await connection.commit()
        yield SqliteDatabase(connection)


SQLITE_ADDED_COLUMNS = {
    "orca_api_keys": {"scopes": "TEXT NOT NULL DEFAULT 'run ingest'"},
}
"""Columns newer than a database file made by an earlier release, added when it opens."""


async def add_missing_columns(
    connection: aiosqlite.Connection, tables: dict[str, dict[str, str]]
) -> None:
    """Add the columns (`{table: {name: definition}}`) a table of an older file lacks."""
    for table, columns in tables.items():
        cursor = await connection.execute(f"PRAGMA table_info({table})")
        present = {row[1] for row in await cursor.fetchall()}
        for name, definition in columns.items():
            if name not in present:  # quoted: `values` is a keyword
                await connection.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {definition}')
