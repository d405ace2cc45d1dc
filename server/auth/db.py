"""The service's own small tables (API keys, thread owners) in PostgreSQL or SQLite.

With PostgreSQL they come from the append-only migrations (`server/migrations.py`); on the
embedded default they live in `$ORCA_DATA_DIR/orca.sqlite`, created here. Queries are
written once with `%s` placeholders; SQLite gets them as `?`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
from psycopg_pool import AsyncConnectionPool

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
    """Statements on one SQLite connection, serialised by aiosqlite's thread."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute with `?` placeholders and commit."""
        cursor = await self.connection.execute(sql.replace("%s", "?"), params)
        rows = await cursor.fetchall()
        await self.connection.commit()
        return [tuple(row) for row in rows]


@asynccontextmanager
async def open_sqlite(path: Path) -> AsyncIterator[SqliteDatabase]:
    """Open (and create) the embedded database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path) as connection:
        for statement in SQLITE_SCHEMA:
            await connection.execute(statement)
        await _add_missing_columns(connection)
        await connection.commit()
        yield SqliteDatabase(connection)


SQLITE_ADDED_COLUMNS = {
    "orca_api_keys": {"scopes": "TEXT NOT NULL DEFAULT 'run ingest'"},
}
"""Columns newer than a database file made by an earlier release, added when it opens."""


async def _add_missing_columns(connection: aiosqlite.Connection) -> None:
    for table, columns in SQLITE_ADDED_COLUMNS.items():
        cursor = await connection.execute(f"PRAGMA table_info({table})")
        present = {row[1] for row in await cursor.fetchall()}
        for name, definition in columns.items():
            if name not in present:
                await connection.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
