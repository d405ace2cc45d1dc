"""Open the runs API for the lifespan: store, signals, event log, workers, service.

PostgreSQL configured: runs, threads, stream buffers and saved assistants are rows shared
by every process on the database, and survive restarts. Embedded default: the same rows in
the service's SQLite file (`$ORCA_DATA_DIR/orca.sqlite`, on the connection the API keys
use), which also survive restarts; signals stay in this process, the only one on that file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from checkpoints import CheckpointStore
from checkpoints.rollback import delete_run_checkpoints
from server.auth.db import Database, SqliteDatabase
from server.observability.metrics import Metrics
from server.observability.runs import RunTelemetry
from server.run_policy import RunPolicy
from server.runs.assistants import Assistants, AssistantStore
from server.runs.events import EventLog
from server.runs.execute import Outcome
from server.runs.records import RunRecord, RunStore
from server.runs.serde import jsonable
from server.runs.service import Graph, RunsService
from server.runs.signals import Signals
from server.runs.sqlite_assistants import SqliteAssistants
from server.runs.sqlite_store import SqliteRunStore
from server.runs.state import thread_config
from server.runs.stream_metrics import StreamBufferMetrics
from server.runs.thread_locks import ThreadLocks
from server.runs.thread_sweeper import ThreadSweeper
from server.runs.webhooks import WebhookSender
from server.runs.workers import RunWorkers
from server.settings import Settings


async def _store_and_signals(
    settings: Settings, checkpoints: CheckpointStore, database: Database
) -> tuple[RunStore, Signals, AssistantStore]:
    if checkpoints.kind != "postgres":
        if not isinstance(database, SqliteDatabase):
            raise TypeError(f"the embedded run store needs the SQLite database, not {database}")
        store = SqliteRunStore(database)
        await store.setup()
        assistants = SqliteAssistants(database)
        await assistants.setup()
        return store, Signals(), assistants
    from server.runs.pg_assistants import PgAssistants
    from server.runs.pg_signals import PgSignals
    from server.runs.pg_store import PostgresRunStore

    return (
        PostgresRunStore(checkpoints.pool),
        PgSignals(str(settings.postgres_url), checkpoints.pool),
        PgAssistants(checkpoints.pool),
    )


@asynccontextmanager
async def open_runs(
    settings: Settings,
    *,
    checkpoints: CheckpointStore,
    database: Database,
    graphs: dict[str, Graph],
    descriptions: dict[str, str],
    policy: RunPolicy,
    telemetry: RunTelemetry | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[RunsService]:
    """Yield the runs service with this process's workers started; drain them on exit.

    `database` is the service's own (`server.auth.setup.open_database`): on the embedded
    default, runs and threads share its SQLite connection, so the file has one writer.
    """
    store, signals, saved = await _store_and_signals(settings, checkpoints, database)
    events = EventLog(store, signals, poll_s=settings.run_poll_s)
    service = RunsService(
        store=store,
        events=events,
        signals=signals,
        workers=None,  # type: ignore[arg-type]  # set below: the workers call the service
        graphs=graphs,
        assistants=Assistants(descriptions),
        saved=saved,
        policy=policy,
        recursion_limit=settings.recursion_limit,
        webhook_allow_private=settings.webhook_allow_private,
        telemetry=telemetry,
        thread_locks=ThreadLocks(checkpoints.pool),  # no pool (SQLite): this process's own
        default_ttl=settings.thread_ttl.default(),
    )

    async def before_finish(run: RunRecord) -> None:
        await delete_run_checkpoints(checkpoints, run.thread_id, run.run_id)

    async def kept_values(run: RunRecord) -> Any:
        snapshot = await graphs[run.graph_id].aget_state(thread_config(run.thread_id))
        return jsonable(snapshot.values)

    webhooks = WebhookSender(allow_private=settings.webhook_allow_private)

    async def after_run(run: RunRecord, outcome: Outcome, cancel_reason: str | None) -> None:
        if cancel_reason == "rollback":
            await store.delete_run(run.run_id)
        if run.kwargs.get("temporary"):
            await checkpoints.saver.adelete_thread(run.thread_id)
            await store.delete_thread(run.thread_id, run.owner, keep_runs=True)
        if webhook := run.kwargs.get("webhook"):
            payload: dict[str, Any] = {**run.public(), "status": outcome.status}
            payload["cancel_reason"] = cancel_reason  # a cancelled run is `interrupted`
            payload["values"] = outcome.values
            if outcome.status in ("error", "timeout"):
                payload["error"] = outcome.result.get("__error__")
            webhooks.send(webhook, payload)  # a slow receiver holds up no waiter, no slot

    workers = RunWorkers(
        store,
        events,
        signals,
        service.execute,
        slots=settings.run_workers,
        lease_s=settings.run_lease_s,
        heartbeat_s=settings.run_heartbeat_s,
        sweep_interval_s=settings.run_sweep_interval_s,
        poll_s=settings.run_poll_s,
        drain_s=settings.run_drain_s,
        max_attempts=settings.run_max_attempts,
        timeout_s=settings.run_timeout_s,
        events_ttl_s=settings.stream_buffer_ttl_s,
        after_run=after_run,
        before_finish=before_finish,
        kept_values=kept_values,
    )
    service.workers = workers
    if metrics is not None:
        metrics.run_slots.labels("busy").set_function(lambda: len(workers.running))
        metrics.run_slots.labels("total").set_function(lambda: workers.slots)
        metrics.runs_queued.set_function(lambda: workers.queued)
        buffers = StreamBufferMetrics(events)
        metrics.registry.register(buffers)
    await signals.start()
    await workers.start()
    sweeper = ThreadSweeper(service, settings.thread_ttl)
    sweeper.start()
    try:
        yield service
    finally:
        await sweeper.stop()  # before the workers drain: it deletes through the service
        await workers.stop()
        await webhooks.aclose(settings.run_drain_s)
        await signals.stop()
        if metrics is not None:
            metrics.registry.unregister(buffers)
