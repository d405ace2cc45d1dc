"""Crons in the embedded default's SQLite file (`orca_crons` in `$ORCA_DATA_DIR/orca.sqlite`).

Same rows as PostgreSQL's (`pg_store.py`): JSON as text, times as the run store's UTC text
(`server/runs/sqlite_sql.py`). Every call is one transaction on the process's one
connection to the file, so a claim and the writes that follow it never interleave; the
claim is still a compare-and-set, so a second process on the file could not fire twice.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from server.auth.db import SqliteDatabase
from server.crons.records import Claimed, CronFilter, CronRecord
from server.runs.records import now
from server.runs.sqlite_sql import loads, match, parse_time, stamp, text

COLUMNS = (
    "cron_id, owner, owner_kind, owner_scopes, assistant_id, thread_id, schedule, timezone,"
    " end_time, enabled, on_run_completed, payload, metadata, next_run_date, claimed_by,"
    " claimed_until, created_at, updated_at"
)
NAMES = tuple(name.strip() for name in COLUMNS.split(","))
TIMES = ("end_time", "next_run_date", "claimed_until", "created_at", "updated_at")
SORTS = {
    name: name
    for name in (
        "cron_id", "assistant_id", "thread_id", "created_at", "updated_at", "next_run_date",
        "end_time",
    )
}  # fmt: skip
"""The only columns a search sorts by: caller text never reaches the SQL."""

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS orca_crons (
        cron_id TEXT PRIMARY KEY, owner TEXT NOT NULL, owner_kind TEXT NOT NULL,
        owner_scopes TEXT NOT NULL, assistant_id TEXT NOT NULL, thread_id TEXT,
        schedule TEXT NOT NULL, timezone TEXT, end_time TEXT,
        enabled INTEGER NOT NULL DEFAULT 1, on_run_completed TEXT,
        payload TEXT NOT NULL DEFAULT '{}', metadata TEXT NOT NULL DEFAULT '{}',
        next_run_date TEXT, claimed_by TEXT, claimed_until TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS orca_crons_owner ON orca_crons (owner, created_at)",
    "CREATE INDEX IF NOT EXISTS orca_crons_due ON orca_crons (next_run_date) WHERE enabled",
)

CLAIM_DUE = f"""UPDATE orca_crons SET claimed_by = :claim, claimed_until = :until
    WHERE cron_id IN (
        SELECT cron_id FROM orca_crons
        WHERE enabled AND next_run_date <= :now
            AND (claimed_until IS NULL OR claimed_until < :now)
        ORDER BY next_run_date LIMIT :limit)
    RETURNING {COLUMNS}"""


def _row(cron: CronRecord) -> dict[str, Any]:
    values = dict(vars(cron))
    values.update({name: stamp(values[name]) for name in TIMES})
    values.update(payload=text(cron.payload), metadata=text(cron.metadata))
    values["enabled"] = int(cron.enabled)
    return values


def _cron(row: sqlite3.Row) -> CronRecord:
    fields = {name: row[name] for name in NAMES}
    fields.update({name: parse_time(fields[name]) for name in TIMES})
    fields.update(payload=loads(fields["payload"]), metadata=loads(fields["metadata"]))
    fields["enabled"] = bool(fields["enabled"])
    return CronRecord(**fields)


def _where(owner: str, where: CronFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["owner = ?"]
    params: list[Any] = [owner]
    for column, value in (("assistant_id", where.assistant_id), ("thread_id", where.thread_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.enabled is not None:
        clauses.append("enabled = ?")
        params.append(int(where.enabled))
    for key, value in where.metadata.items():
        clauses.append("orca_match(metadata, ?, ?)")
        params += [key, text(value)]
    return " AND ".join(clauses), params


class SqliteCronStore:
    """Crons in the service's SQLite file, on the connection the run store uses."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def _rows(
        self, query: str, params: Any = (), *, write: bool = False
    ) -> list[sqlite3.Row]:
        async def statement(connection: Any) -> list[sqlite3.Row]:
            cursor = await connection.execute(query, params)
            cursor.row_factory = sqlite3.Row
            return list(await cursor.fetchall())

        return await self.db.transaction(statement, immediate=write)

    async def setup(self) -> None:
        """Create the table (and the metadata test searches use)."""
        await self.db.connection.create_function("orca_match", 3, match, deterministic=True)

        async def create(connection: Any) -> None:
            for statement in SCHEMA:
                await connection.execute(statement)

        await self.db.transaction(create, immediate=True)

    async def clock(self) -> datetime:
        """Return this process's time (the embedded default is one process)."""
        return now()

    async def insert(self, cron: CronRecord) -> None:
        """Store a new cron."""
        placeholders = ", ".join(f":{name}" for name in NAMES)
        query = f"INSERT INTO orca_crons ({COLUMNS}) VALUES ({placeholders})"
        await self._rows(query, _row(cron), write=True)

    async def get(self, cron_id: str, owner: str) -> CronRecord | None:
        """Return the owner's cron."""
        rows = await self._rows(
            f"SELECT {COLUMNS} FROM orca_crons WHERE cron_id = ? AND owner = ?", (cron_id, owner)
        )
        return _cron(rows[0]) if rows else None

    async def update(self, cron: CronRecord, *, reschedule: bool) -> CronRecord | None:
        """Write the cron's fields (its `next_run_date` only if `reschedule`); None if gone."""
        values = _row(cron) | {"reschedule": int(reschedule), "now": stamp(now())}
        rows = await self._rows(
            f"""UPDATE orca_crons SET schedule = :schedule, timezone = :timezone,
                end_time = :end_time, enabled = :enabled, on_run_completed = :on_run_completed,
                payload = :payload, metadata = :metadata, updated_at = :now,
                next_run_date = CASE WHEN :reschedule THEN :next_run_date ELSE next_run_date END
            WHERE cron_id = :cron_id AND owner = :owner RETURNING {COLUMNS}""",
            values,
            write=True,
        )
        return _cron(rows[0]) if rows else None

    async def delete(self, cron_id: str, owner: str) -> bool:
        """Delete the owner's cron; return whether it existed."""
        rows = await self._rows(
            "DELETE FROM orca_crons WHERE cron_id = ? AND owner = ? RETURNING cron_id",
            (cron_id, owner),
            write=True,
        )
        return bool(rows)

    async def delete_for_thread(self, thread_id: str, owner: str) -> int:
        """Delete the owner's crons on the thread; return how many there were."""
        rows = await self._rows(
            "DELETE FROM orca_crons WHERE thread_id = ? AND owner = ? RETURNING cron_id",
            (thread_id, owner),
            write=True,
        )
        return len(rows)

    async def search(
        self, owner: str, where: CronFilter, *, limit: int, offset: int, sort_by: str, desc: bool
    ) -> list[CronRecord]:
        """Return the owner's matching crons, sorted and paged (ties in creation order)."""
        condition, params = _where(owner, where)
        direction = "DESC" if desc else "ASC"
        query = f"""SELECT {COLUMNS} FROM orca_crons WHERE {condition}
            ORDER BY {SORTS[sort_by]} {direction} NULLS LAST, created_at, cron_id
            LIMIT ? OFFSET ?"""
        return [_cron(row) for row in await self._rows(query, [*params, limit, offset])]

    async def count(self, owner: str, where: CronFilter) -> int:
        """Count the owner's matching crons."""
        condition, params = _where(owner, where)
        rows = await self._rows(f"SELECT count(*) FROM orca_crons WHERE {condition}", params)
        return int(rows[0][0])

    async def claim_due(self, claim: str, lease_s: float, limit: int) -> list[Claimed]:
        """Claim up to `limit` due crons no live claim holds, in one statement."""
        clock = now()
        until = clock + timedelta(seconds=lease_s)
        rows = await self._rows(
            CLAIM_DUE,
            {"claim": claim, "until": stamp(until), "now": stamp(clock), "limit": limit},
            write=True,
        )
        return [Claimed(_cron(row), clock) for row in rows]

    async def finish(
        self, cron_id: str, claim: str, scheduled: datetime, next_run: datetime | None
    ) -> bool:
        """Release the claim and move `next_run_date` on, if the claim still holds."""
        rows = await self._rows(
            """UPDATE orca_crons SET claimed_by = NULL, claimed_until = NULL,
                next_run_date = CASE WHEN next_run_date = :scheduled THEN :next_run
                    ELSE next_run_date END
            WHERE cron_id = :cron_id AND claimed_by = :claim RETURNING cron_id""",
            {
                "cron_id": cron_id,
                "claim": claim,
                "scheduled": stamp(scheduled),
                "next_run": stamp(next_run),
            },
            write=True,
        )
        return bool(rows)

    async def seconds_to_next(self) -> float | None:
        """Return how long until the earliest enabled cron is due (a claimed one: its lapse)."""
        rows = await self._rows(
            """SELECT min(max(next_run_date, coalesce(claimed_until, next_run_date)))
            FROM orca_crons WHERE enabled AND next_run_date IS NOT NULL"""
        )
        earliest = parse_time(rows[0][0])
        return None if earliest is None else (earliest - now()).total_seconds()
