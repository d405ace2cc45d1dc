"""Delete the checkpoints of threads that have been idle for longer than a retention period.

A thread is idle when none of its checkpoints (in any namespace, subgraphs included) has a
`ts` at or after the cutoff; LangGraph stamps every checkpoint with `ts`, an ISO-8601 UTC
string (`checkpoint["ts"]`, inside the `checkpoint` JSONB column on PostgreSQL and inside
the serialised `checkpoint` blob on SQLite). A thread goes whole or not at all: the rows
deleted are exactly those `adelete_thread(thread_id)` deletes (PostgreSQL: `checkpoints`,
`checkpoint_blobs`, `checkpoint_writes`; SQLite: `checkpoints`, `writes`), but in one
transaction per batch of threads that first re-checks, inside the transaction, that each
thread is still idle, so a thread that got a new checkpoint since the scan is kept intact.
`adelete_thread` itself cannot be used: it has no such guard and commits per thread.

Limit: a run that loaded a thread before it was pruned and saves its next checkpoint after
leaves a thread holding only that checkpoint (no saver can prevent this without the writer's
cooperation). It needs a thread idle for the whole retention period to be resumed in the
same instant, hence retention periods in days.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from checkpoints.open import CheckpointStore

_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_DURATION = re.compile(r"(?:\d+[wdhms])+")
_PART = re.compile(r"(\d+)([wdhms])")

MAX_BATCH = 500
"""SQLite binds one parameter per thread; 500 stays far below its variable limit."""


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `30d`, `12h`, `90m`, `2w` or `1d12h`.

    Raises:
        ValueError: naming the text and the accepted form.
    """
    cleaned = text.strip().lower()
    if not _DURATION.fullmatch(cleaned):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (w, d, h, m, s), "
            "e.g. 30d, 12h or 1d12h"
        )
    total = sum((int(count) * _UNITS[unit] for count, unit in _PART.findall(cleaned)), timedelta())
    if total <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return total


@dataclass(frozen=True)
class IdleThread:
    """A thread whose newest checkpoint is older than the cutoff."""

    thread_id: str
    last_checkpoint_at: datetime
    """The newest `ts` among the thread's checkpoints (UTC)."""
    checkpoints: int
    """How many checkpoints the thread holds, all namespaces."""
    newest_id: str = ""
    """The greatest checkpoint id seen by the scan (SQLite re-checks it before deleting)."""


@dataclass
class PruneReport:
    """What a prune deleted, or with `dry_run` would delete."""

    cutoff: datetime
    dry_run: bool
    threads: list[IdleThread] = field(default_factory=list)
    """Threads deleted (dry run: that would be deleted)."""
    skipped: list[str] = field(default_factory=list)
    """Threads found idle that got a new checkpoint before their batch ran: kept."""
    checkpoints_deleted: int = 0
    writes_deleted: int = 0
    blobs_deleted: int = 0
    """PostgreSQL only: SQLite keeps channel values inside the checkpoint rows."""


async def prune_idle_threads(
    store: CheckpointStore,
    *,
    older_than: timedelta,
    dry_run: bool = False,
    batch_size: int = 100,
    now: datetime | None = None,
) -> PruneReport:
    """Delete every checkpoint of each thread idle for longer than `older_than`.

    Args:
        store: the checkpointer, opened with `checkpoints.open_checkpointer`.
        older_than: the retention period; a thread with any checkpoint newer stays whole.
        dry_run: only find the threads; delete nothing.
        batch_size: threads deleted per transaction (1 to 500).
        now: the time the cutoff is counted back from (tests); default the current time.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    idle = await find_idle_threads(store, cutoff=cutoff)
    if dry_run:
        return PruneReport(cutoff=cutoff, dry_run=True, threads=idle)
    return await delete_idle_threads(store, idle, cutoff=cutoff, batch_size=batch_size)


async def find_idle_threads(store: CheckpointStore, *, cutoff: datetime) -> list[IdleThread]:
    """Return the threads with no checkpoint at or after `cutoff`, least recent first."""
    return await _backend(store).find_idle(cutoff)


async def delete_idle_threads(
    store: CheckpointStore,
    threads: Sequence[IdleThread],
    *,
    cutoff: datetime,
    batch_size: int = 100,
) -> PruneReport:
    """Delete `threads` whole, one transaction per batch, keeping any no longer idle.

    A thread that got a checkpoint at or after `cutoff` (PostgreSQL), or any new checkpoint
    (SQLite), since `find_idle_threads` saw it is kept intact and listed in `skipped`.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
    backend = _backend(store)
    report = PruneReport(cutoff=cutoff, dry_run=False)
    for start in range(0, len(threads), batch_size):
        await backend.delete(list(threads[start : start + batch_size]), cutoff, report)
    return report


def _backend(store: CheckpointStore) -> _Postgres | _Sqlite:
    if isinstance(store.saver, AsyncPostgresSaver):
        return _Postgres(store.saver)
    if isinstance(store.saver, AsyncSqliteSaver):
        return _Sqlite(store.saver)
    raise TypeError(f"cannot prune a {type(store.saver).__name__}")


class _Postgres:
    """Idle threads found and deleted with SQL over the saver's pool."""

    # `ts` is always written with its UTC offset, so the cast does not depend on the
    # session's TimeZone. A checkpoint without `ts` counts as no time at all.
    FIND_IDLE = """
        SELECT thread_id,
               max((checkpoint ->> 'ts')::timestamptz) AS last_checkpoint_at,
               count(*) AS checkpoints,
               max(checkpoint_id) AS newest_id
        FROM checkpoints
        GROUP BY thread_id
        HAVING max((checkpoint ->> 'ts')::timestamptz) < %(cutoff)s
        ORDER BY last_checkpoint_at, thread_id
    """
    # One statement, one snapshot: the guard and the deletion see the same rows.
    DELETE_CHECKPOINTS = """
        DELETE FROM checkpoints
        WHERE thread_id = ANY(%(threads)s)
          AND thread_id NOT IN (
              SELECT thread_id FROM checkpoints
              WHERE thread_id = ANY(%(threads)s)
                AND (checkpoint ->> 'ts')::timestamptz >= %(cutoff)s
          )
        RETURNING thread_id
    """
    DELETE_WRITES = "DELETE FROM checkpoint_writes WHERE thread_id = ANY(%(threads)s)"
    DELETE_BLOBS = "DELETE FROM checkpoint_blobs WHERE thread_id = ANY(%(threads)s)"
    # Read committed: a checkpoint committed after the DELETE's snapshot shows up here.
    REMAINING = "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id = ANY(%(threads)s)"

    def __init__(self, saver: AsyncPostgresSaver) -> None:
        self.conn: AsyncConnectionPool[Any] | AsyncConnection[Any] = saver.conn

    async def find_idle(self, cutoff: datetime) -> list[IdleThread]:
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.FIND_IDLE, {"cutoff": cutoff})
            rows = await cur.fetchall()
        return [
            IdleThread(
                thread_id=row["thread_id"],
                last_checkpoint_at=row["last_checkpoint_at"].astimezone(UTC),
                checkpoints=int(row["checkpoints"]),
                newest_id=row["newest_id"],
            )
            for row in rows
        ]

    async def delete(self, batch: list[IdleThread], cutoff: datetime, report: PruneReport) -> None:
        wanted = {thread.thread_id: thread for thread in batch}
        while wanted:
            done = await self._delete_once(list(wanted), cutoff)
            if done.raced:
                # A checkpoint was committed to one of these threads while the transaction
                # ran; it was rolled back whole: retry the batch without them.
                report.skipped.extend(sorted(done.raced))
                for thread_id in done.raced:
                    del wanted[thread_id]
                continue
            report.skipped.extend(t for t in wanted if t not in done.per_thread)
            report.threads.extend(wanted[t] for t in wanted if t in done.per_thread)
            report.checkpoints_deleted += sum(done.per_thread.values())
            report.writes_deleted += done.writes
            report.blobs_deleted += done.blobs
            return

    async def _delete_once(self, threads: list[str], cutoff: datetime) -> _Deleted:
        done = _Deleted()
        async with self._connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(self.DELETE_CHECKPOINTS, {"threads": threads, "cutoff": cutoff})
                done.per_thread = Counter(row["thread_id"] for row in await cur.fetchall())
                deleted = {"threads": list(done.per_thread)}
                await cur.execute(self.DELETE_WRITES, deleted)
                done.writes = cur.rowcount
                await cur.execute(self.DELETE_BLOBS, deleted)
                done.blobs = cur.rowcount
                await cur.execute(self.REMAINING, deleted)
                done.raced = {row["thread_id"] for row in await cur.fetchall()}
            if done.raced:
                raise psycopg.Rollback()
        return done

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        if isinstance(self.conn, AsyncConnectionPool):
            return self.conn.connection()
        return nullcontext(self.conn)


@dataclass
class _Deleted:
    """One batch transaction's outcome on PostgreSQL."""

    per_thread: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    blobs: int = 0
    raced: set[str] = field(default_factory=set)


class _Sqlite:
    """Idle threads found by reading each checkpoint's `ts`, deleted under a write lock."""

    def __init__(self, saver: AsyncSqliteSaver) -> None:
        self.saver = saver

    async def find_idle(self, cutoff: datetime) -> list[IdleThread]:
        # The checkpoint is a serialised blob here, so `ts` is read by deserialising each
        # row (the saver's own serde); this runs once a night, not on a request path.
        latest: dict[str, datetime | None] = {}
        counts: Counter[str] = Counter()
        newest: dict[str, str] = {}
        async with self.saver.lock:
            async with self.saver.conn.execute(
                "SELECT thread_id, checkpoint_id, type, checkpoint FROM checkpoints"
            ) as cursor:
                async for thread_id, checkpoint_id, kind, blob in cursor:
                    ts = _ts(self.saver.serde.loads_typed((kind, blob)))
                    known = latest.get(thread_id)
                    latest[thread_id] = max(filter(None, (known, ts)), default=None)
                    counts[thread_id] += 1
                    newest[thread_id] = max(newest.get(thread_id, ""), checkpoint_id)
        idle = [
            IdleThread(thread_id, at, counts[thread_id], newest[thread_id])
            for thread_id, at in latest.items()
            if at is not None and at < cutoff
        ]
        return sorted(idle, key=lambda t: (t.last_checkpoint_at, t.thread_id))

    async def delete(self, batch: list[IdleThread], cutoff: datetime, report: PruneReport) -> None:
        conn = self.saver.conn
        marks = ",".join("?" * len(batch))
        ids = [thread.thread_id for thread in batch]
        async with self.saver.lock:
            # BEGIN IMMEDIATE takes SQLite's write lock now: no other process can add a
            # checkpoint between the re-check below and the commit.
            await conn.execute("BEGIN IMMEDIATE")
            try:
                async with conn.execute(
                    "SELECT thread_id, count(*), max(checkpoint_id) FROM checkpoints "
                    f"WHERE thread_id IN ({marks}) GROUP BY thread_id",
                    ids,
                ) as cursor:
                    now_seen = {row[0]: (row[1], row[2]) async for row in cursor}
                # Unchanged count and newest id: nothing was written since the scan.
                still_idle = [
                    t for t in batch if now_seen.get(t.thread_id) == (t.checkpoints, t.newest_id)
                ]
                gone = [thread.thread_id for thread in still_idle]
                checkpoints = await _delete(conn, "checkpoints", gone)
                writes = await _delete(conn, "writes", gone)
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        kept = {t.thread_id for t in still_idle}
        report.threads.extend(still_idle)
        report.skipped.extend(t.thread_id for t in batch if t.thread_id not in kept)
        report.checkpoints_deleted += checkpoints
        report.writes_deleted += writes


async def _delete(conn: Any, table: str, thread_ids: list[str]) -> int:
    if not thread_ids:
        return 0
    marks = ",".join("?" * len(thread_ids))
    cursor = await conn.execute(f"DELETE FROM {table} WHERE thread_id IN ({marks})", thread_ids)
    return int(cursor.rowcount)


def _ts(checkpoint: Any) -> datetime | None:
    raw = checkpoint.get("ts") if isinstance(checkpoint, dict) else None
    if not raw:
        return None
    stamp = datetime.fromisoformat(str(raw))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
