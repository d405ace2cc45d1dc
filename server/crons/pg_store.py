"""Crons in PostgreSQL (`orca_crons`, migration 7), shared by every process on the database.

Who keeps the exactly-once rule: `CLAIM_DUE` claims due crons in one statement, its
`FOR UPDATE SKIP LOCKED` letting concurrent schedulers pass each other, and a claim lasts
until the database's `now()` passes `claimed_until`, so host clocks never matter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, LiteralString

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from server.crons.records import Claimed, CronFilter, CronRecord
from server.runs.serde import dumps

COLUMNS: LiteralString = (
    "cron_id, owner, owner_kind, owner_scopes, assistant_id, thread_id, schedule, timezone,"
    " end_time, enabled, on_run_completed, payload, metadata, next_run_date, claimed_by,"
    " claimed_until, created_at, updated_at"
)
SORTS = {
    name: sql.SQL(f'{name} COLLATE "C"' if name.endswith("_id") else name)
    for name in (
        "cron_id", "assistant_id", "thread_id", "created_at", "updated_at", "next_run_date",
        "end_time",
    )
}  # fmt: skip
"""The only columns a search sorts by: caller text never reaches the SQL."""

CLAIM_DUE: LiteralString = f"""
    UPDATE orca_crons SET claimed_by = %(claim)s,
        claimed_until = now() + make_interval(secs => %(lease_s)s)
    WHERE cron_id IN (
        SELECT cron_id FROM orca_crons
        WHERE enabled AND next_run_date <= now()
            AND (claimed_until IS NULL OR claimed_until < now())
        ORDER BY next_run_date LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING {COLUMNS}, now() AS clock"""

FINISH: LiteralString = """
    UPDATE orca_crons SET claimed_by = NULL, claimed_until = NULL,
        next_run_date = CASE WHEN next_run_date = %(scheduled)s THEN %(next_run)s
            ELSE next_run_date END
    WHERE cron_id = %(cron_id)s AND claimed_by = %(claim)s"""


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _cron(row: dict[str, Any]) -> CronRecord:
    return CronRecord(**{key: _utc(value) for key, value in row.items() if key != "clock"})


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dumps)


def _where(owner: str, where: CronFilter) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = [sql.SQL("owner = %s")]
    params: list[Any] = [owner]
    for column, value in (("assistant_id", where.assistant_id), ("thread_id", where.thread_id)):
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if where.enabled is not None:
        clauses.append(sql.SQL("enabled = %s"))
        params.append(where.enabled)
    for key, value in where.metadata.items():
        clauses.append(sql.SQL("coalesce(metadata -> %s, 'null'::jsonb) = %s"))
        params += [key, _jsonb(value)]
    return sql.SQL(" AND ").join(clauses), params


class PostgresCronStore:
    """Crons in `orca_crons`, on the checkpointer's pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def _fetch(
        self, query: sql.Composed | LiteralString, params: Any = ()
    ) -> list[dict[str, Any]]:
        async with self.pool.connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchall() if cursor.description is not None else []

    async def setup(self) -> None:
        """Do nothing: migration 7 made the table."""

    async def clock(self) -> datetime:
        """Return the database's time."""
        clock: datetime = (await self._fetch("SELECT now() AS clock"))[0]["clock"]
        return clock.astimezone(UTC)

    async def insert(self, cron: CronRecord) -> None:
        """Store a new cron."""
        values = vars(cron) | {"payload": _jsonb(cron.payload), "metadata": _jsonb(cron.metadata)}
        names = COLUMNS.replace(" ", "").split(",")
        query = sql.SQL("INSERT INTO orca_crons ({}) VALUES ({})").format(
            sql.SQL(COLUMNS), sql.SQL(", ").join(sql.Placeholder(name) for name in names)
        )
        await self._fetch(query, values)

    async def get(self, cron_id: str, owner: str) -> CronRecord | None:
        """Return the owner's cron."""
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM orca_crons WHERE cron_id = %s AND owner = %s", (cron_id, owner)
        )
        return _cron(rows[0]) if rows else None

    async def update(self, cron: CronRecord, *, reschedule: bool) -> CronRecord | None:
        """Write the cron's fields (its `next_run_date` only if `reschedule`); None if gone."""
        rows = await self._fetch(
            f"""UPDATE orca_crons SET schedule = %(schedule)s, timezone = %(timezone)s,
                end_time = %(end_time)s, enabled = %(enabled)s,
                on_run_completed = %(on_run_completed)s, payload = %(payload)s,
                metadata = %(metadata)s, updated_at = now(),
                next_run_date = CASE WHEN %(reschedule)s THEN %(next_run_date)s
                    ELSE next_run_date END
            WHERE cron_id = %(cron_id)s AND owner = %(owner)s RETURNING {COLUMNS}""",
            vars(cron)
            | {
                "payload": _jsonb(cron.payload),
                "metadata": _jsonb(cron.metadata),
                "reschedule": reschedule,
            },
        )
        return _cron(rows[0]) if rows else None

    async def delete(self, cron_id: str, owner: str) -> bool:
        """Delete the owner's cron; return whether it existed."""
        rows = await self._fetch(
            "DELETE FROM orca_crons WHERE cron_id = %s AND owner = %s RETURNING cron_id",
            (cron_id, owner),
        )
        return bool(rows)

    async def delete_for_thread(self, thread_id: str, owner: str) -> int:
        """Delete the owner's crons on the thread; return how many there were."""
        rows = await self._fetch(
            "DELETE FROM orca_crons WHERE thread_id = %s AND owner = %s RETURNING cron_id",
            (thread_id, owner),
        )
        return len(rows)

    async def search(
        self, owner: str, where: CronFilter, *, limit: int, offset: int, sort_by: str, desc: bool
    ) -> list[CronRecord]:
        """Return the owner's matching crons, sorted and paged (ties in creation order)."""
        condition, params = _where(owner, where)
        query = sql.SQL(
            "SELECT {} FROM orca_crons WHERE {} ORDER BY {} {} NULLS LAST, created_at, cron_id"
            " LIMIT %s OFFSET %s"
        ).format(sql.SQL(COLUMNS), condition, SORTS[sort_by], sql.SQL("DESC" if desc else "ASC"))
        return [_cron(row) for row in await self._fetch(query, [*params, limit, offset])]

    async def count(self, owner: str, where: CronFilter) -> int:
        """Count the owner's matching crons."""
        condition, params = _where(owner, where)
        query = sql.SQL("SELECT count(*) AS n FROM orca_crons WHERE {}").format(condition)
        return int((await self._fetch(query, params))[0]["n"])

    async def claim_due(self, claim: str, lease_s: float, limit: int) -> list[Claimed]:
        """Claim up to `limit` due crons no live claim holds, in one statement."""
        rows = await self._fetch(
            CLAIM_DUE, {"claim": claim, "lease_s": float(lease_s), "limit": limit}
        )
        return [Claimed(_cron(row), _utc(row["clock"])) for row in rows]

    async def finish(
        self, cron_id: str, claim: str, scheduled: datetime, next_run: datetime | None
    ) -> bool:
        """Release the claim and move `next_run_date` on, if the claim still holds."""
        async with self.pool.connection() as connection:
            cursor = await connection.execute(
                FINISH,
                {"cron_id": cron_id, "claim": claim, "scheduled": scheduled, "next_run": next_run},
            )
            return cursor.rowcount > 0

    async def seconds_to_next(self) -> float | None:
        """Return how long (by the database's clock) until the earliest enabled cron is due."""
        rows = await self._fetch(
            # A claimed cron becomes due again only when its claim lapses.
            """SELECT extract(epoch FROM min(greatest(next_run_date,
                coalesce(claimed_until, next_run_date))) - now()) AS wait
            FROM orca_crons WHERE enabled AND next_run_date IS NOT NULL"""
        )
        wait = rows[0]["wait"]
        return None if wait is None else float(wait)
