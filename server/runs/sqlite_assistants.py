"""Saved assistants on the embedded default, in `$ORCA_DATA_DIR/orca.sqlite`.

The same tables as PostgreSQL's migration 6, on the connection the API keys and the run
store share (one writer to the file). JSON is text and times UTC text, as in the run store
(`sqlite_sql.py`); every call is one transaction, so a `PATCH` reads the last version and
writes the next one with nothing in between.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite

from server.auth.db import SqliteDatabase
from server.runs.assistants import (
    Assistant,
    AssistantChange,
    AssistantExists,
    AssistantFilter,
    AssistantSort,
)
from server.runs.records import now
from server.runs.sqlite_sql import loads, match, parse_time, stamp, text

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS orca_assistants (
        assistant_id TEXT PRIMARY KEY, owner TEXT NOT NULL, graph_id TEXT NOT NULL,
        name TEXT NOT NULL, description TEXT, config TEXT NOT NULL DEFAULT '{}',
        context TEXT NOT NULL DEFAULT '{}', metadata TEXT NOT NULL DEFAULT '{}',
        version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS orca_assistants_owner ON orca_assistants (owner, created_at)",
    """CREATE TABLE IF NOT EXISTS orca_assistant_versions (
        assistant_id TEXT NOT NULL, version INTEGER NOT NULL, graph_id TEXT NOT NULL,
        name TEXT NOT NULL, description TEXT, config TEXT NOT NULL DEFAULT '{}',
        context TEXT NOT NULL DEFAULT '{}', metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL, PRIMARY KEY (assistant_id, version)) WITHOUT ROWID""",
)
COLUMNS = (
    "assistant_id, owner, graph_id, name, description, config, context, metadata, version,"
    " created_at, updated_at"
)
VERSION_COLUMNS = (
    "assistant_id, version, graph_id, name, description, config, context, metadata, created_at"
)
SORTS = {
    # SQLite's BINARY collation is code-point order, as Python's sort of the system ones.
    "assistant_id": "assistant_id",
    "graph_id": "graph_id",
    "name": "name",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
"""The only columns `search` sorts by: caller text never reaches the SQL."""
SET_CURRENT = f"""UPDATE orca_assistants SET graph_id = ?, name = ?, description = ?,
    config = ?, context = ?, metadata = ?, version = ?, updated_at = ?
    WHERE assistant_id = ? RETURNING {COLUMNS}"""

Connection = aiosqlite.Connection


def contains(name: str | None, wanted: str) -> bool:
    """`orca_contains(name, wanted)`: a case-insensitive substring, as Python lowers text.

    SQLite's own `lower` folds ASCII only; this matches PostgreSQL's `lower` on UTF-8.
    """
    return wanted.lower() in (name or "").lower()


def _assistant(row: sqlite3.Row, owner: str | None = None) -> Assistant:
    fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 - a Row is no mapping
    fields.update({key: loads(fields[key]) for key in ("config", "context", "metadata")})
    fields["created_at"] = parse_time(fields["created_at"])
    fields["updated_at"] = parse_time(fields.get("updated_at")) or fields["created_at"]
    if owner is not None:  # a version row
        fields["owner"] = owner
    return Assistant(**fields)


def _where(owner: str, where: AssistantFilter) -> tuple[str, list[Any]]:
    clauses, params = ["owner = ?"], [owner]
    if where.graph_id is not None:
        clauses.append("graph_id = ?")
        params.append(where.graph_id)
    if where.name is not None:
        clauses.append("orca_contains(name, ?)")
        params.append(where.name)
    clauses.extend(_metadata(where.metadata, params))
    return " AND ".join(clauses), params


def _metadata(wanted: dict[str, Any], params: list[Any]) -> list[str]:
    clauses = []
    for key, value in wanted.items():
        clauses.append("orca_match(metadata, ?, ?)")
        params += [key, text(value)]
    return clauses


async def _select(connection: Connection, query: str, params: Any) -> list[sqlite3.Row]:
    cursor = await connection.execute(query, params)
    cursor.row_factory = sqlite3.Row
    return list(await cursor.fetchall())


class SqliteAssistants:
    """Saved assistants of every identity in the service's SQLite file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def setup(self) -> None:
        """Create the tables, and the functions their searches call."""
        connection = self.db.connection
        await connection.create_function("orca_match", 3, match, deterministic=True)
        await connection.create_function("orca_contains", 2, contains, deterministic=True)

        async def create(connection: Connection) -> None:
            for statement in SCHEMA:
                await connection.execute(statement)

        await self.db.transaction(create, immediate=True)

    async def _rows(self, query: str, params: Any, *, write: bool = False) -> list[sqlite3.Row]:
        async def statement(connection: Connection) -> list[sqlite3.Row]:
            return await _select(connection, query, params)

        return await self.db.transaction(statement, immediate=write)

    async def create(self, assistant: Assistant, *, if_exists: str) -> Assistant:
        """Save version 1, or return the owner's existing one with `do_nothing`."""
        at = stamp(now())
        a = assistant
        values = (
            *(a.graph_id, a.name, a.description),
            *(text(a.config), text(a.context), text(a.metadata)),
        )

        async def create(connection: Connection) -> list[sqlite3.Row]:
            rows = await _select(
                connection,
                f"""INSERT INTO orca_assistants ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                ON CONFLICT (assistant_id) DO NOTHING RETURNING {COLUMNS}""",
                (a.assistant_id, a.owner, *values, at, at),
            )
            if rows:
                await connection.execute(
                    f"INSERT INTO orca_assistant_versions ({VERSION_COLUMNS})"
                    " VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
                    (a.assistant_id, *values, at),
                )
            return rows

        rows = await self.db.transaction(create, immediate=True)
        if rows:
            return _assistant(rows[0])
        if if_exists == "do_nothing" and a.owner is not None:
            existing = await self.get(a.assistant_id, a.owner)
            if existing is not None:
                return existing
        raise AssistantExists(a.assistant_id)

    async def get(self, assistant_id: str, owner: str) -> Assistant | None:
        """Return the owner's assistant."""
        rows = await self._rows(
            f"SELECT {COLUMNS} FROM orca_assistants WHERE assistant_id = ? AND owner = ?",
            (assistant_id, owner),
        )
        return _assistant(rows[0]) if rows else None

    async def update(
        self, assistant_id: str, owner: str, change: AssistantChange
    ) -> Assistant | None:
        """Add a version (the latest one changed) and make it the current row."""

        async def update(connection: Connection) -> Assistant | None:
            rows = await _select(
                connection,
                f"SELECT {COLUMNS} FROM orca_assistants WHERE assistant_id = ? AND owner = ?",
                (assistant_id, owner),
            )
            if not rows:
                return None
            last = await _select(
                connection,
                "SELECT max(version) FROM orca_assistant_versions WHERE assistant_id = ?",
                (assistant_id,),
            )
            new = change.applied(_assistant(rows[0]), version=last[0][0] + 1, at=now())
            at = stamp(new.updated_at)
            values = (
                *(new.graph_id, new.name, new.description),
                *(text(new.config), text(new.context), text(new.metadata)),
            )
            await connection.execute(
                f"INSERT INTO orca_assistant_versions ({VERSION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (assistant_id, new.version, *values, at),
            )
            updated = await _select(
                connection, SET_CURRENT, (*values, new.version, at, assistant_id)
            )
            return _assistant(updated[0])

        return await self.db.transaction(update, immediate=True)

    async def set_latest(self, assistant_id: str, owner: str, version: int) -> Assistant | None:
        """Copy `version` back into the current row."""

        async def set_latest(connection: Connection) -> Assistant | None:
            rows = await _select(
                connection,
                f"""SELECT {VERSION_COLUMNS} FROM orca_assistant_versions v
                WHERE assistant_id = ? AND version = ? AND EXISTS (SELECT 1 FROM
                orca_assistants a WHERE a.assistant_id = v.assistant_id AND a.owner = ?)""",
                (assistant_id, version, owner),
            )
            if not rows:
                return None
            found = rows[0]
            values = [found[key] for key in ("graph_id", "name", "description")]
            values += [found[key] for key in ("config", "context", "metadata")]
            updated = await _select(
                connection, SET_CURRENT, (*values, version, stamp(now()), assistant_id)
            )
            return _assistant(updated[0])

        return await self.db.transaction(set_latest, immediate=True)

    async def delete(self, assistant_id: str, owner: str) -> bool:
        """Delete the owner's assistant and its versions, in one transaction."""

        async def delete(connection: Connection) -> bool:
            cursor = await connection.execute(
                "DELETE FROM orca_assistants WHERE assistant_id = ? AND owner = ?",
                (assistant_id, owner),
            )
            if cursor.rowcount == 0:
                return False
            await connection.execute(
                "DELETE FROM orca_assistant_versions WHERE assistant_id = ?", (assistant_id,)
            )
            return True

        return await self.db.transaction(delete, immediate=True)

    async def versions(
        self, assistant_id: str, owner: str, *, metadata: dict[str, Any], limit: int, offset: int
    ) -> list[Assistant]:
        """Return the owner's assistant's versions, newest first."""
        params: list[Any] = [assistant_id, owner]
        clauses = ["1", *_metadata(metadata, params)]
        rows = await self._rows(
            f"""SELECT {VERSION_COLUMNS} FROM orca_assistant_versions v WHERE assistant_id = ?
            AND EXISTS (SELECT 1 FROM orca_assistants a
                WHERE a.assistant_id = v.assistant_id AND a.owner = ?)
            AND {" AND ".join(clauses)} ORDER BY version DESC LIMIT ? OFFSET ?""",
            [*params, limit, offset],
        )
        return [_assistant(row, owner) for row in rows]

    async def search(
        self,
        owner: str,
        where: AssistantFilter,
        *,
        limit: int,
        offset: int,
        sort_by: AssistantSort,
        descending: bool,
    ) -> list[Assistant]:
        """Return the owner's matching assistants, sorted (ties by id) and paged."""
        condition, params = _where(owner, where)
        direction = "DESC" if descending else "ASC"
        rows = await self._rows(
            f"""SELECT {COLUMNS} FROM orca_assistants WHERE {condition}
            ORDER BY {SORTS[sort_by]} {direction}, assistant_id {direction} LIMIT ? OFFSET ?""",
            [*params, limit, offset],
        )
        return [_assistant(row) for row in rows]

    async def count(self, owner: str, where: AssistantFilter) -> int:
        """Count the owner's matching assistants."""
        condition, params = _where(owner, where)
        rows = await self._rows(f"SELECT count(*) FROM orca_assistants WHERE {condition}", params)
        return int(rows[0][0])
