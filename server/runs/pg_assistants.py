"""Saved assistants in PostgreSQL: `orca_assistants` and `orca_assistant_versions` (migration 6).

Every read and write names the owner, so another identity's assistant is missing, never
forbidden. A `PATCH` and a `set_latest` are each one transaction that locks the current
row, so two concurrent patches get versions n+1 and n+2, never the same number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from server.runs.assistants import (
    Assistant,
    AssistantChange,
    AssistantExists,
    AssistantFilter,
    AssistantSort,
)
from server.runs.serde import dumps

COLUMNS = sql.SQL(
    "assistant_id, owner, graph_id, name, description, config, context, metadata, version,"
    " created_at, updated_at"
)
VERSION_COLUMNS = sql.SQL(
    "assistant_id, version, graph_id, name, description, config, context, metadata, created_at"
)
SORTS = {
    # "C" collation: code-point order, as Python's sort of the system assistants.
    "assistant_id": sql.SQL('assistant_id COLLATE "C"'),
    "graph_id": sql.SQL('graph_id COLLATE "C"'),
    "name": sql.SQL('name COLLATE "C"'),
    "created_at": sql.SQL("created_at"),
    "updated_at": sql.SQL("updated_at"),
}
"""The only columns `search` sorts by: caller text never reaches the SQL."""

CREATE = sql.SQL("""
    WITH created AS (
        INSERT INTO orca_assistants ({columns})
        VALUES (%(assistant_id)s, %(owner)s, %(graph_id)s, %(name)s, %(description)s,
            %(config)s, %(context)s, %(metadata)s, 1, now(), now())
        ON CONFLICT (assistant_id) DO NOTHING
        RETURNING {columns}
    ), first AS (
        INSERT INTO orca_assistant_versions ({versions})
        SELECT assistant_id, version, graph_id, name, description, config, context, metadata,
            created_at FROM created
    )
    SELECT {columns} FROM created
""").format(columns=COLUMNS, versions=VERSION_COLUMNS)
"""Version 1 and the current row together; no row back when the id is taken."""


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dumps)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _assistant(row: dict[str, Any]) -> Assistant:
    return Assistant(
        **{**row, "created_at": _utc(row["created_at"]), "updated_at": _utc(row["updated_at"])}
    )


def _version(row: dict[str, Any], owner: str) -> Assistant:
    created = _utc(row["created_at"])
    return Assistant(**{**row, "created_at": created, "updated_at": created, "owner": owner})


def _where(owner: str, where: AssistantFilter) -> tuple[sql.Composable, list[Any]]:
    """Return the condition of a search: exact metadata values per key, as for threads."""
    clauses: list[sql.Composable] = [sql.SQL("owner = %s")]
    params: list[Any] = [owner]
    if where.graph_id is not None:
        clauses.append(sql.SQL("graph_id = %s"))
        params.append(where.graph_id)
    if where.name is not None:
        clauses.append(sql.SQL("strpos(lower(name), lower(%s)) > 0"))
        params.append(where.name)
    clauses.extend(_metadata(where.metadata, params))
    return sql.SQL(" AND ").join(clauses), params


def _metadata(wanted: dict[str, Any], params: list[Any]) -> list[sql.Composable]:
    """Containment (`@>`, which the GIN index serves) narrows; per key makes it exact."""
    clauses: list[sql.Composable] = []
    if present := {key: value for key, value in wanted.items() if value is not None}:
        clauses.append(sql.SQL("metadata @> %s"))
        params.append(_jsonb(present))
    for key, value in wanted.items():
        clauses.append(sql.SQL("coalesce(metadata -> %s, 'null'::jsonb) = %s"))
        params += [key, _jsonb(value)]
    return clauses


class PgAssistants:
    """Saved assistants of every identity in the service's PostgreSQL database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def setup(self) -> None:
        """Nothing to create: migration 6 made the tables."""

    async def _fetch(self, query: sql.SQL | sql.Composed, params: Any = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as connection:
            return await _rows(connection, query, params)

    async def create(self, assistant: Assistant, *, if_exists: str) -> Assistant:
        """Save version 1, or return the owner's existing one with `do_nothing`."""
        assert assistant.owner is not None, "a saved assistant has an owner"
        rows = await self._fetch(
            CREATE,
            {
                "assistant_id": assistant.assistant_id,
                "owner": assistant.owner,
                "graph_id": assistant.graph_id,
                "name": assistant.name,
                "description": assistant.description,
                "config": _jsonb(assistant.config),
                "context": _jsonb(assistant.context),
                "metadata": _jsonb(assistant.metadata),
            },
        )
        if rows:
            return _assistant(rows[0])
        if if_exists == "do_nothing":
            existing = await self.get(assistant.assistant_id, assistant.owner)
            if existing is not None:
                return existing
        raise AssistantExists(assistant.assistant_id)

    async def get(self, assistant_id: str, owner: str) -> Assistant | None:
        """Return the owner's assistant."""
        rows = await self._fetch(
            sql.SQL("SELECT {} FROM orca_assistants WHERE assistant_id = %s AND owner = %s").format(
                COLUMNS
            ),
            (assistant_id, owner),
        )
        return _assistant(rows[0]) if rows else None

    async def update(
        self, assistant_id: str, owner: str, change: AssistantChange
    ) -> Assistant | None:
        """Add a version (the latest one changed) and make it the current row."""
        async with self.pool.connection() as connection, connection.transaction():
            current = await _locked(connection, assistant_id, owner)
            if current is None:
                return None
            rows = await _rows(
                connection,
                sql.SQL(
                    "SELECT max(version) AS last, now() AS at FROM orca_assistant_versions"
                    " WHERE assistant_id = %s"
                ),
                (assistant_id,),
            )
            new = change.applied(current, version=rows[0]["last"] + 1, at=rows[0]["at"])
            values = (
                *(new.graph_id, new.name, new.description),
                *(_jsonb(new.config), _jsonb(new.context), _jsonb(new.metadata)),
            )
            await connection.execute(
                sql.SQL("INSERT INTO orca_assistant_versions ({}) VALUES ({})").format(
                    VERSION_COLUMNS, sql.SQL(", ").join([sql.Placeholder()] * 9)
                ),
                (assistant_id, new.version, *values, new.updated_at),
            )
            return await _set_current(connection, assistant_id, new.version, values)

    async def set_latest(self, assistant_id: str, owner: str, version: int) -> Assistant | None:
        """Copy `version` back into the current row."""
        async with self.pool.connection() as connection, connection.transaction():
            if await _locked(connection, assistant_id, owner) is None:
                return None
            rows = await _rows(
                connection,
                sql.SQL(
                    "SELECT {} FROM orca_assistant_versions WHERE assistant_id = %s"
                    " AND version = %s"
                ).format(VERSION_COLUMNS),
                (assistant_id, version),
            )
            if not rows:
                return None
            found = rows[0]
            values = (
                *(found["graph_id"], found["name"], found["description"]),
                *(_jsonb(found[key]) for key in ("config", "context", "metadata")),
            )
            return await _set_current(connection, assistant_id, version, values)

    async def delete(self, assistant_id: str, owner: str) -> bool:
        """Delete the owner's assistant (its versions go with it)."""
        async with self.pool.connection() as connection:
            cursor = await connection.execute(
                "DELETE FROM orca_assistants WHERE assistant_id = %s AND owner = %s",
                (assistant_id, owner),
            )
            return cursor.rowcount > 0

    async def versions(
        self, assistant_id: str, owner: str, *, metadata: dict[str, Any], limit: int, offset: int
    ) -> list[Assistant]:
        """Return the owner's assistant's versions, newest first."""
        params: list[Any] = [assistant_id, owner]
        clauses = [sql.SQL("TRUE"), *_metadata(metadata, params)]
        query = sql.SQL(
            """SELECT {columns} FROM orca_assistant_versions WHERE assistant_id = %s
            AND EXISTS (SELECT 1 FROM orca_assistants a
                WHERE a.assistant_id = orca_assistant_versions.assistant_id AND a.owner = %s)
            AND {where} ORDER BY version DESC LIMIT %s OFFSET %s"""
        ).format(columns=VERSION_COLUMNS, where=sql.SQL(" AND ").join(clauses))
        rows = await self._fetch(query, [*params, limit, offset])
        return [_version(row, owner) for row in rows]

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
        direction = sql.SQL("DESC" if descending else "ASC")
        query = sql.SQL(
            "SELECT {columns} FROM orca_assistants WHERE {condition}"
            ' ORDER BY {sort} {direction}, assistant_id COLLATE "C" {direction}'
            " LIMIT %s OFFSET %s"
        ).format(columns=COLUMNS, condition=condition, sort=SORTS[sort_by], direction=direction)
        return [_assistant(row) for row in await self._fetch(query, [*params, limit, offset])]

    async def count(self, owner: str, where: AssistantFilter) -> int:
        """Count the owner's matching assistants."""
        condition, params = _where(owner, where)
        query = sql.SQL("SELECT count(*) AS n FROM orca_assistants WHERE {}").format(condition)
        return int((await self._fetch(query, params))[0]["n"])


async def _rows(
    connection: AsyncConnection[Any], query: sql.SQL | sql.Composed, params: Any
) -> list[dict[str, Any]]:
    cursor = connection.cursor(row_factory=dict_row)
    await cursor.execute(query, params)
    return await cursor.fetchall() if cursor.description is not None else []


async def _locked(
    connection: AsyncConnection[Any], assistant_id: str, owner: str
) -> Assistant | None:
    """Return the owner's current row, locked until the transaction ends."""
    rows = await _rows(
        connection,
        sql.SQL(
            "SELECT {} FROM orca_assistants WHERE assistant_id = %s AND owner = %s FOR UPDATE"
        ).format(COLUMNS),
        (assistant_id, owner),
    )
    return _assistant(rows[0]) if rows else None


async def _set_current(
    connection: AsyncConnection[Any], assistant_id: str, version: int, values: tuple[Any, ...]
) -> Assistant:
    """Make the current row `version` with its (graph, name, description, config...)."""
    rows = await _rows(
        connection,
        sql.SQL(
            """UPDATE orca_assistants SET graph_id = %s, name = %s, description = %s,
            config = %s, context = %s, metadata = %s, version = %s, updated_at = now()
            WHERE assistant_id = %s RETURNING {}"""
        ).format(COLUMNS),
        (*values, version, assistant_id),
    )
    return _assistant(rows[0])
