"""Open crons for the lifespan: their store beside the run store, and the scheduler.

The scheduler runs in every process that executes runs (`orca serve` with
`ORCA_RUN_WORKERS` > 0, `orca worker`): any number of them may, each firing still runs
once. A process that only serves HTTP (`ORCA_RUN_WORKERS=0`) fires none, and
`ORCA_CRON_POLL_S=0` turns a process's scheduler off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from checkpoints import CheckpointStore
from server.auth.db import Database, SqliteDatabase
from server.crons.records import CronStore
from server.crons.scheduler import CronScheduler
from server.crons.service import CronsService
from server.runs.service import RunsService
from server.settings import Settings


async def open_store(checkpoints: CheckpointStore, database: Database) -> CronStore:
    """Return the cron store where the run store is: PostgreSQL, or the SQLite file."""
    store: CronStore
    if checkpoints.kind == "postgres":
        from server.crons.pg_store import PostgresCronStore

        store = PostgresCronStore(checkpoints.pool)
    else:
        if not isinstance(database, SqliteDatabase):
            raise TypeError(f"the embedded cron store needs the SQLite database, not {database}")
        from server.crons.sqlite_store import SqliteCronStore

        store = SqliteCronStore(database)
    await store.setup()
    return store


@asynccontextmanager
async def open_crons(
    settings: Settings,
    *,
    runs: RunsService,
    checkpoints: CheckpointStore,
    database: Database,
) -> AsyncIterator[CronsService]:
    """Yield the cron service, with this process's scheduler started; stop it on exit."""
    store = await open_store(checkpoints, database)
    service = CronsService(store=store, runs=runs)
    scheduler = None
    if settings.cron_poll_s > 0 and settings.run_workers > 0:
        scheduler = CronScheduler(store, runs, poll_s=settings.cron_poll_s)
        service.on_change = scheduler.wake
        await scheduler.start()
    runs.thread_deleted.append(store.delete_for_thread)  # no cron outlives its thread
    try:
        yield service
    finally:
        runs.thread_deleted.remove(store.delete_for_thread)
        if scheduler is not None:
            await scheduler.stop()
