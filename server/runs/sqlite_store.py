"""The run store of the embedded default: threads, runs and event buffers in `orca.sqlite`.

Same semantics as the PostgreSQL store (`server/runs/pg_store.py`), in the service's own
SQLite file, so a restart keeps threads, their metadata, runs and stream buffers (threads:
`server/runs/sqlite_threads.py`). Who keeps the rules: the partial unique index
`orca_runs_one_running_per_thread` is the one-running-run-per-thread guarantee, and every
call is one transaction on the process's single connection to the file, so claims, fenced
writes and requeues never interleave. The embedded default is one process (local Qdrant
locks its folder), so leases are computed with this process's clock.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

from server.runs.records import (
    Finished,
    RunRecord,
    RunStatus,
    StoredEvent,
    ThreadBusy,
    ThreadMissing,
    ThreadOutcome,
    now,
    worker_lost,
)
from server.runs.sqlite_sql import (
    APPEND_EVENT,
    CLAIM,
    FINISH_RUN,
    FINISH_THREAD,
    HELD,
    INSERT_RUN,
    MARK_BUSY,
    ONE_RUNNING,
    REQUEUE,
    RUN_COLUMNS,
    json_or_null,
    run_of,
    stamp,
    text,
)
from server.runs.sqlite_threads import Connection, SqliteThreads


class SqliteRunStore(SqliteThreads):
    """Threads, runs and event buffers in the service's SQLite file."""

    durable = True

    async def _runs(
        self, condition: str, params: Any, tail: str = "ORDER BY created_at, rowid"
    ) -> list[RunRecord]:
        query = f"SELECT {RUN_COLUMNS} FROM orca_runs WHERE {condition} {tail}"
        return [run_of(row) for row in await self._rows(query, params)]

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
        """Insert a run on its owner's thread and mark the thread busy, in one transaction.

        Raises:
            ThreadMissing: when the thread does not exist or is not the run owner's.
            ThreadBusy: with `claim_for`, when the thread already has a running run; with
                `only_if_idle`, when it has any pending or running run.
        """
        started = now()
        status, worker, attempt, lease = run.status, run.worker, run.attempt, run.lease_until
        if claim_for is not None:
            status, worker, attempt = "running", claim_for, 1
            lease = started + timedelta(seconds=lease_s)

        async def insert(connection: Connection) -> None:
            cursor = await connection.execute(
                "SELECT 1 FROM orca_threads WHERE thread_id = ? AND owner = ?",
                (run.thread_id, run.owner),
            )
            if await cursor.fetchone() is None:
                raise ThreadMissing(run.thread_id)
            if only_if_idle:
                cursor = await connection.execute(
                    """SELECT 1 FROM orca_runs WHERE thread_id = ?
                    AND status IN ('pending', 'running') LIMIT 1""",
                    (run.thread_id,),
                )
                if await cursor.fetchone() is not None:
                    raise ThreadBusy(run.thread_id)
            await connection.execute(
                INSERT_RUN,
                (
                    *(run.run_id, run.thread_id, run.assistant_id, run.graph_id, run.owner),
                    *(text(run.kwargs), text(run.metadata), run.multitask_strategy),
                    *(status, attempt, worker, stamp(lease), stamp(run.not_before)),
                    *(json_or_null(run.result), run.cancel_reason),
                    *(stamp(run.created_at), stamp(run.updated_at)),
                ),
            )
            await connection.execute(
                MARK_BUSY, (text(thread_metadata or {}), stamp(started), run.thread_id)
            )

        try:
            await self.db.transaction(insert, immediate=True)
        except sqlite3.IntegrityError as error:
            if ONE_RUNNING in str(error):
                raise ThreadBusy(run.thread_id) from None
            raise
        # Only now, as the memory store: a run refused as busy is left untouched.
        run.status, run.worker, run.attempt, run.lease_until = status, worker, attempt, lease

    async def get_run(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """Return the run (only if `owner` owns it, when given)."""
        found = await self._runs("run_id = ? AND (? IS NULL OR owner = ?)", (run_id, owner, owner))
        return found[0] if found else None

    async def list_runs(
        self, thread_id: str, *, limit: int, offset: int, status: str | None
    ) -> list[RunRecord]:
        """Return the thread's runs, newest first."""
        return await self._runs(
            "thread_id = ? AND (? IS NULL OR status = ?)",
            (thread_id, status, status, limit, offset),
            tail="ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
        )

    async def active_runs(self, thread_id: str) -> list[RunRecord]:
        """Return the thread's pending and running runs, oldest first."""
        return await self._runs("thread_id = ? AND status IN ('pending', 'running')", (thread_id,))

    async def runs_with_status(self, owner: str, statuses: tuple[str, ...]) -> list[RunRecord]:
        """Return the owner's runs in these statuses, oldest first."""
        return await self._runs(
            "owner = ? AND status IN (SELECT value FROM json_each(?))",
            (owner, text(list(statuses))),
        )

    async def delete_run(self, run_id: str) -> None:
        """Delete the run and its events."""

        async def delete(connection: Connection) -> None:
            await connection.execute("DELETE FROM orca_run_events WHERE run_id = ?", (run_id,))
            await connection.execute("DELETE FROM orca_runs WHERE run_id = ?", (run_id,))

        await self.db.transaction(delete, immediate=True)

    async def claim_next(self, worker: str, lease_s: float) -> RunRecord | None:
        """Claim the oldest due pending run on a thread that runs nothing."""
        moment = now()
        rows = await self._rows(
            CLAIM,
            {
                "worker": worker,
                "now": stamp(moment),
                "lease_until": stamp(moment + timedelta(seconds=lease_s)),
            },
            write=True,
        )
        return run_of(rows[0]) if rows else None

    async def _held(self, assignments: str, params: tuple[Any, ...], *fence: Any) -> bool:
        """Apply a worker's write if it still holds the attempt; return whether it did."""
        query = f"UPDATE orca_runs SET {assignments} WHERE {HELD}"
        return await self._changed(query, (*params, *fence)) > 0

    async def heartbeat(self, run_id: str, worker: str, attempt: int, lease_s: float) -> bool:
        """Extend the lease of a run the worker still holds."""
        lease = stamp(now() + timedelta(seconds=lease_s))
        return await self._held("lease_until = ?", (lease,), run_id, worker, attempt)

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
        """Record the outcome, the thread's state and the last events in one transaction.

        SQLite stores any JSON text (U+0000 included), so this never raises
        `OutcomeUnstorable`.
        """
        at = stamp(now())

        async def finish(connection: Connection) -> Finished:
            cursor = await connection.execute(
                FINISH_RUN,
                (status, json_or_null(result), cancel_reason, at, run_id, worker, attempt),
            )
            held = list(await cursor.fetchall())
            if not held:
                return Finished(held=False)  # taken over: nothing of this attempt is written
            if thread is not None:
                await connection.execute(
                    FINISH_THREAD,
                    (
                        *(thread.status, json_or_null(thread.values), text(thread.interrupts)),
                        *(at, at, held[0][0]),
                    ),
                )
            await _append(connection, run_id, events or [], at)
            return Finished(held=True, queued_on_thread=bool(held[0][1]))

        return await self.db.transaction(finish, immediate=True)

    async def release_run(self, run_id: str, worker: str, attempt: int) -> bool:
        """Put a held run back to pending."""
        assignments = "status = 'pending', worker = NULL, lease_until = NULL, updated_at = ?"
        return await self._held(assignments, (stamp(now()),), run_id, worker, attempt)

    async def request_cancel(self, run_id: str, action: str) -> None:
        """Record a cancel for the running run; its worker reads it at its next heartbeat."""
        await self._changed(
            "UPDATE orca_runs SET cancel_action = ? WHERE run_id = ? AND status = 'running'",
            (action, run_id),
        )

    async def cancel_requested(self, run_id: str) -> str | None:
        """Return the cancel recorded for the running run, if any."""
        rows = await self._rows(
            "SELECT cancel_action FROM orca_runs WHERE run_id = ? AND status = 'running'",
            (run_id,),
        )
        return rows[0][0] if rows else None

    async def cancel_pending(self, run_id: str, reason: str) -> bool:
        """Cancel a run that has not started."""
        changed = await self._changed(
            """UPDATE orca_runs SET status = 'interrupted', cancel_reason = ?, updated_at = ?
            WHERE run_id = ? AND status = 'pending'""",
            (reason, stamp(now()), run_id),
        )
        return changed > 0

    async def count_pending(self) -> int:
        """Count the runs waiting for a worker (the partial index of pending runs serves it)."""
        rows = await self._rows("SELECT count(*) FROM orca_runs WHERE status = 'pending'")
        return int(rows[0][0])

    async def requeue_expired(self, max_attempts: int) -> list[str]:
        """Requeue running runs whose lease has expired (`error` after `max_attempts`)."""
        gave_up = text(worker_lost(max_attempts))
        rows = await self._rows(
            REQUEUE, {"max": max_attempts, "gave_up": gave_up, "now": stamp(now())}, write=True
        )
        return [row[0] for row in rows]

    # Events -------------------------------------------------------------------
    async def append_events(self, run_id: str, events: list[StoredEvent]) -> None:
        """Buffer a batch of events (readers in this process were woken at `emit`)."""
        if not events:
            return
        at = stamp(now())

        async def append(connection: Connection) -> None:
            await _append(connection, run_id, events, at)

        await self.db.transaction(append, immediate=True)

    async def read_events(self, run_id: str, after: int) -> list[StoredEvent]:
        """Return buffered events after `after`, in order."""
        rows = await self._rows(
            """SELECT seq, event, data FROM orca_run_events WHERE run_id = ? AND seq > ?
            ORDER BY seq""",
            (run_id, after),
        )
        return [StoredEvent(row[0], row[1], bytes(row[2])) for row in rows]

    async def last_event_seq(self, run_id: str) -> int:
        """Return the highest buffered seq (0 when none)."""
        rows = await self._rows(
            "SELECT coalesce(max(seq), 0) FROM orca_run_events WHERE run_id = ?", (run_id,)
        )
        return int(rows[0][0])

    async def prune_events(self, older_than_s: float) -> int:
        """Drop events buffered more than `older_than_s` ago; return how many."""
        cutoff = stamp(now() - timedelta(seconds=older_than_s))
        return await self._changed("DELETE FROM orca_run_events WHERE created_at < ?", (cutoff,))


async def _append(
    connection: Connection, run_id: str, events: list[StoredEvent], at: str | None
) -> None:
    """Insert events; a seq already stored is skipped (a batch may be sent twice)."""
    await connection.executemany(
        APPEND_EVENT, [(run_id, event.seq, event.event, event.data, at) for event in events]
    )
