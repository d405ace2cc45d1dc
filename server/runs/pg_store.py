"""The run store on PostgreSQL: threads, runs and event buffers shared by every process.

Same semantics as `MemoryRunStore` (server/runs/memory_store.py). What differs is who
keeps the rules: the partial unique index `orca_runs_one_running_per_thread` (migration 3)
is the one-running-run-per-thread guarantee, `FOR UPDATE SKIP LOCKED` keeps two workers
from claiming one run, and every lease is computed with the database's `now()`, so the
clocks of the worker hosts never matter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, LiteralString

from psycopg import OperationalError, errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from server.runs.pg_sql import (
    APPEND_EVENTS,
    CLAIM,
    CLAIM_TRIES,
    FINISH_RUN,
    HELD,
    INSERT_RUN,
    LEASE,
    ONE_RUNNING,
    RUN_COLUMNS,
    SORTS,
    THREAD_COLUMNS,
)
from server.runs.pg_thread_ttl import PostgresThreadTTL
from server.runs.records import (
    ACTIVE,
    Finished,
    OutcomeUnstorable,
    RunRecord,
    RunStatus,
    StoredEvent,
    ThreadBusy,
    ThreadFilter,
    ThreadMissing,
    ThreadOutcome,
    ThreadRecord,
    ThreadStatus,
    worker_lost,
)
from server.runs.serde import dumps


def _jsonb(value: Any) -> Jsonb:
    """Adapt a value for a jsonb column, encoded as the run events are (serde.py)."""
    return Jsonb(value, dumps=dumps)


def _json(value: Any) -> Jsonb | None:
    """Adapt a value for a nullable jsonb column (None stays SQL NULL)."""
    return None if value is None else _jsonb(value)


def _utc(value: Any) -> Any:
    # psycopg answers timestamptz in the session's TimeZone; the memory store's are UTC.
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _thread(row: dict[str, Any]) -> ThreadRecord:
    return ThreadRecord(**{key: _utc(value) for key, value in row.items()})


def _run(row: dict[str, Any]) -> RunRecord:
    return RunRecord(**{key: _utc(value) for key, value in row.items()})


def _where(owner: str, where: ThreadFilter) -> tuple[sql.Composable, list[Any]]:
    """Return the condition (and its parameters) of a thread search.

    For metadata and values, containment (`@>`, which the GIN index serves), as
    langgraph-api: `{"a": [1]}` matches `{"a": [1, 2]}`, `{"k": None}` needs `k`, null.
    """
    clauses: list[sql.Composable] = [sql.SQL("owner = %s")]
    params: list[Any] = [owner]
    for column, wanted in (("metadata", where.metadata), ("values", where.values)):
        name = sql.Identifier(column)
        if wanted:
            clauses.append(sql.SQL("{} @> %s").format(name))
            params.append(_jsonb(wanted))
    if where.status is not None:
        clauses.append(sql.SQL("status = %s"))
        params.append(where.status)
    if where.ids is not None:
        clauses.append(sql.SQL("thread_id = ANY(%s)"))
        params.append(list(where.ids))
    return sql.SQL(" AND ").join(clauses), params


class PostgresRunStore(PostgresThreadTTL):
    """Threads, runs and event buffers in the `orca_*` tables of migration 3."""

    durable = True

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def _fetch(self, query: sql.SQL | sql.Composed, params: Any = ()) -> list[dict[str, Any]]:
        """Run one statement on a pooled connection; return its rows as dicts."""
        async with self.pool.connection() as connection:
            # The pool's connections already answer dicts; asking again keeps this store
            # correct on a pool opened without `row_factory=dict_row`.
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchall() if cursor.description is not None else []

    async def _changed(self, query: sql.SQL | sql.Composed, params: Any) -> int:
        """Run one write on a pooled connection; return how many rows it changed."""
        async with self.pool.connection() as connection:
            cursor = await connection.execute(query, params)
            return cursor.rowcount

    async def _threads(self, query: LiteralString, params: Any) -> list[ThreadRecord]:
        rows = await self._fetch(sql.SQL(query).format(columns=THREAD_COLUMNS), params)
        return [_thread(row) for row in rows]

    async def _runs(
        self, condition: LiteralString, params: Any, tail: LiteralString = "ORDER BY created_at"
    ) -> list[RunRecord]:
        query = sql.SQL("SELECT {} FROM orca_runs WHERE {} {}")
        rows = await self._fetch(
            query.format(RUN_COLUMNS, sql.SQL(condition), sql.SQL(tail)), params
        )
        return [_run(row) for row in rows]

    async def _held(
        self, assignments: LiteralString, run_id: str, worker: str, attempt: int, **more: Any
    ) -> bool:
        """Apply a worker's write if it still holds the attempt; return whether it did."""
        query = sql.SQL("UPDATE orca_runs SET {} WHERE {}")
        assigned = sql.SQL(assignments).format(lease=LEASE)
        held = {"run_id": run_id, "worker": worker, "attempt": attempt, **more}
        return await self._changed(query.format(assigned, HELD), held) > 0

    # Threads ------------------------------------------------------------------
    async def get_thread(self, thread_id: str, owner: str) -> ThreadRecord | None:
        """Return the owner's thread."""
        found = await self._threads(
            "SELECT {columns} FROM orca_threads WHERE thread_id = %s AND owner = %s",
            (thread_id, owner),
        )
        return found[0] if found else None

    async def update_thread(
        self, thread_id: str, owner: str, metadata: dict[str, Any]
    ) -> ThreadRecord | None:
        """Merge metadata into the owner's thread (top-level keys, as `dict` merging)."""
        found = await self._threads(
            """UPDATE orca_threads SET metadata = metadata || %s, updated_at = now()
            WHERE thread_id = %s AND owner = %s RETURNING {columns}""",
            (_jsonb(metadata), thread_id, owner),
        )
        return found[0] if found else None

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
        await self._changed(
            sql.SQL("""UPDATE orca_threads SET status = %s, "values" = coalesce(%s, "values"),
            interrupts = coalesce(%s, interrupts), metadata = metadata || %s,
            updated_at = now(), state_updated_at = now() WHERE thread_id = %s"""),
            (status, _json(values), _json(interrupts), _jsonb(metadata or {}), thread_id),
        )

    async def delete_thread(self, thread_id: str, owner: str, *, keep_runs: bool = False) -> bool:
        """Delete the owner's thread with its runs and their events, in one transaction."""
        async with self.pool.connection() as connection, connection.transaction():
            cursor = await connection.execute(
                "DELETE FROM orca_threads WHERE thread_id = %s AND owner = %s",
                (thread_id, owner),
            )
            if cursor.rowcount == 0:
                return False
            if keep_runs:
                return True
            await connection.execute(
                """DELETE FROM orca_run_events
                WHERE run_id IN (SELECT run_id FROM orca_runs WHERE thread_id = %s)""",
                (thread_id,),
            )
            await connection.execute("DELETE FROM orca_runs WHERE thread_id = %s", (thread_id,))
        return True

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
        condition, params = _where(owner, where)
        # Ties keep creation order whichever the direction, like Python's stable sort.
        query = sql.SQL("""SELECT {} FROM orca_threads WHERE {}
            ORDER BY {} {}, created_at, thread_id COLLATE "C" LIMIT %s OFFSET %s""")
        direction = sql.SQL("DESC" if descending else "ASC")
        rows = await self._fetch(
            query.format(THREAD_COLUMNS, condition, SORTS[sort_by], direction),
            [*params, limit, offset],
        )
        return [_thread(row) for row in rows]

    async def count_threads(self, owner: str, where: ThreadFilter) -> int:
        """Count the owner's matching threads."""
        condition, params = _where(owner, where)
        query = sql.SQL("SELECT count(*) AS n FROM orca_threads WHERE {}").format(condition)
        return int((await self._fetch(query, params))[0]["n"])

    # Runs ---------------------------------------------------------------------
    async def insert_run(
        self,
        run: RunRecord,
        *,
        claim_for: str | None,
        lease_s: float,
        only_if_idle: bool = False,
        thread_metadata: dict[str, Any] | None = None,
    ) -> None:
        """Insert a run on its owner's thread and mark the thread busy, in one statement.

        Raises:
            ThreadMissing: when the thread does not exist or is not the run owner's.
            ThreadBusy: with `claim_for`, when the thread already has a running run; with
                `only_if_idle`, when it has any pending or running run.
        """
        params = {
            **vars(run),
            "kwargs": _jsonb(run.kwargs),
            "metadata": _jsonb(run.metadata),
            "result": _json(run.result),
            "lease_s": float(lease_s),
            "thread_metadata": _jsonb(thread_metadata or {}),
            "only_if_idle": only_if_idle,
        }
        if claim_for is not None:
            params.update(status="running", worker=claim_for, attempt=1)
        try:
            rows = await self._fetch(INSERT_RUN[claim_for is not None], params)
        except errors.UniqueViolation as error:
            if error.diag.constraint_name == ONE_RUNNING:
                raise ThreadBusy(run.thread_id) from None
            raise
        if not rows:  # the statement always answers one row: a connection in a bad state
            raise OperationalError("PostgreSQL answered the run insertion with no row")
        if not rows[0]["owned"]:
            raise ThreadMissing(run.thread_id)
        if not rows[0]["inserted"]:
            raise ThreadBusy(run.thread_id)  # `only_if_idle`, and the thread was not
        if claim_for is not None:
            # Only now, as the memory store: a run refused as busy is left untouched.
            run.status, run.worker, run.attempt = "running", claim_for, 1
            run.lease_until = _utc(rows[0]["lease_until"])

    async def get_run(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """Return the run (only if `owner` owns it, when given)."""
        found = await self._runs(
            "run_id = %s AND (%s::text IS NULL OR owner = %s)", (run_id, owner, owner)
        )
        return found[0] if found else None

    async def list_runs(
        self, thread_id: str, *, limit: int, offset: int, status: str | None
    ) -> list[RunRecord]:
        """Return the thread's runs, newest first."""
        return await self._runs(
            "thread_id = %s AND (%s::text IS NULL OR status = %s)",
            (thread_id, status, status, limit, offset),
            tail="ORDER BY created_at DESC LIMIT %s OFFSET %s",
        )

    async def active_runs(self, thread_id: str) -> list[RunRecord]:
        """Return the thread's pending and running runs, oldest first."""
        return await self._runs("thread_id = %s AND status = ANY(%s)", (thread_id, list(ACTIVE)))

    async def runs_with_status(self, owner: str, statuses: tuple[str, ...]) -> list[RunRecord]:
        """Return the owner's runs in these statuses, oldest first."""
        return await self._runs("owner = %s AND status = ANY(%s)", (owner, list(statuses)))

    async def delete_run(self, run_id: str) -> None:
        """Delete the run and its events."""
        async with self.pool.connection() as connection, connection.transaction():
            await connection.execute("DELETE FROM orca_run_events WHERE run_id = %s", (run_id,))
            await connection.execute("DELETE FROM orca_runs WHERE run_id = %s", (run_id,))

    async def claim_next(self, worker: str, lease_s: float) -> RunRecord | None:
        """Claim the oldest due pending run on a thread that runs nothing."""
        for _ in range(CLAIM_TRIES):
            try:
                rows = await self._fetch(CLAIM, {"worker": worker, "lease_s": float(lease_s)})
            except errors.UniqueViolation as error:
                if error.diag.constraint_name != ONE_RUNNING:
                    raise
                continue
            return _run(rows[0]) if rows else None
        return None

    async def heartbeat(self, run_id: str, worker: str, attempt: int, lease_s: float) -> bool:
        """Extend the lease of a run the worker still holds."""
        return await self._held(
            "lease_until = {lease}", run_id, worker, attempt, lease_s=float(lease_s)
        )

    async def finish_run(
        self,
        run_id: str,
        worker: str,
        attempt: int,
        *,
        status: RunStatus,
        result: Any,
        cancel_reason: str | None = None,
        thread: ThreadOutcome | None = None,
        events: list[StoredEvent] | None = None,
    ) -> Finished:
        """Record the outcome, the thread's state and the last events in one statement.

        It also notifies the readers of every process, and their workers when a run waits
        for the thread (NOTIFY is sent at commit).

        Raises:
            OutcomeUnstorable: PostgreSQL refused the values (a `DataError`: U+0000 in a
                jsonb string, say); retrying the same values would fail the same way.
        """
        events = events or []
        params = {
            "run_id": run_id,
            "worker": worker,
            "attempt": attempt,
            "status": status,
            "result": _json(result),
            "cancel_reason": cancel_reason,
            "set_thread": thread is not None,
            "thread_status": thread.status if thread else None,
            "values": _json(thread.values) if thread else None,
            "interrupts": _jsonb(thread.interrupts) if thread else None,
            "seqs": [event.seq for event in events],
            "names": [event.event for event in events],
            "datas": [event.data for event in events],
        }
        try:
            rows = await self._fetch(FINISH_RUN, params)
        except errors.DataError as error:
            raise OutcomeUnstorable(f"{type(error).__name__}: {error}") from error
        if not rows or not rows[0]["held"]:
            return Finished(held=False)
        return Finished(held=True, queued_on_thread=bool(rows[0]["queued"]))

    async def release_run(self, run_id: str, worker: str, attempt: int) -> bool:
        """Put a held run back to pending."""
        return await self._held(
            "status = 'pending', worker = NULL, lease_until = NULL, updated_at = now()",
            run_id,
            worker,
            attempt,
        )

    async def request_cancel(self, run_id: str, action: str) -> None:
        """Record a cancel for the running run; its worker reads it at its next heartbeat."""
        await self._changed(
            sql.SQL(
                "UPDATE orca_runs SET cancel_action = %s WHERE run_id = %s AND status = 'running'"
            ),
            (action, run_id),
        )

    async def cancel_requested(self, run_id: str) -> str | None:
        """Return the cancel recorded for the running run, if any."""
        rows = await self._fetch(
            sql.SQL("SELECT cancel_action FROM orca_runs WHERE run_id = %s AND status = 'running'"),
            (run_id,),
        )
        return rows[0]["cancel_action"] if rows else None

    async def cancel_pending(self, run_id: str, reason: str) -> bool:
        """Cancel a run that has not started."""
        changed = await self._changed(
            sql.SQL("""UPDATE orca_runs SET status = 'interrupted', cancel_reason = %s,
            updated_at = now() WHERE run_id = %s AND status = 'pending'"""),
            (reason, run_id),
        )
        return changed > 0

    async def count_pending(self) -> int:
        """Count the runs waiting for a worker (the partial index of pending runs serves it)."""
        rows = await self._fetch(
            sql.SQL("SELECT count(*) AS pending FROM orca_runs WHERE status = 'pending'")
        )
        return int(rows[0]["pending"])

    async def requeue_expired(self, max_attempts: int) -> list[str]:
        """Requeue running runs whose lease has expired (`error` after `max_attempts`)."""
        gave_up = worker_lost(max_attempts)
        rows = await self._fetch(
            sql.SQL("""UPDATE orca_runs SET
                status = CASE WHEN attempt < %(max)s THEN 'pending' ELSE 'error' END,
                result = CASE WHEN attempt < %(max)s THEN result ELSE %(gave_up)s END,
                worker = NULL, lease_until = NULL, updated_at = now()
            WHERE status = 'running' AND lease_until < now() RETURNING run_id"""),
            {"max": max_attempts, "gave_up": _jsonb(gave_up)},
        )
        return [row["run_id"] for row in rows]

    # Events -------------------------------------------------------------------
    async def append_events(self, run_id: str, events: list[StoredEvent]) -> None:
        """Buffer a batch of events and notify every process, in one statement."""
        if not events:
            return
        await self._changed(
            APPEND_EVENTS,
            (
                run_id,
                [event.seq for event in events],
                [event.event for event in events],
                [event.data for event in events],
                run_id,
            ),
        )

    async def read_events(self, run_id: str, after: int) -> list[StoredEvent]:
        """Return buffered events after `after`, in order."""
        rows = await self._fetch(
            sql.SQL("""SELECT seq, event, data FROM orca_run_events
            WHERE run_id = %s AND seq > %s ORDER BY seq"""),
            (run_id, after),
        )
        return [StoredEvent(row["seq"], row["event"], bytes(row["data"])) for row in rows]

    async def last_event_seq(self, run_id: str) -> int:
        """Return the highest buffered seq (0 when none)."""
        rows = await self._fetch(
            sql.SQL("SELECT coalesce(max(seq), 0) AS seq FROM orca_run_events WHERE run_id = %s"),
            (run_id,),
        )
        return int(rows[0]["seq"])

    async def prune_events(self, older_than_s: float) -> int:
        """Drop events buffered more than `older_than_s` ago; return how many."""
        return await self._changed(
            sql.SQL("""DELETE FROM orca_run_events
            WHERE created_at < now() - make_interval(secs => %s)"""),
            (float(older_than_s),),
        )
