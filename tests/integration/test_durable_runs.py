"""Durable runs across real processes sharing one PostgreSQL: killed, drained, side by side.

The processes are `tests.doubles.runs_runner`: the real app and `orca worker` loop on fake
models. Runs execute `tests.doubles.slow_graph` (`first → slow → last`), whose `slow` step
waits for the test's release file and whose nodes log every execution, so each test kills,
drains or cancels a run at a known step and counts what ran again. Sleeps below only poll;
none decides an outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import AsyncConnection

from server.migrations import migrate
from server.runs.events import EventLog, RunEvents
from server.runs.execute import Outcome
from server.runs.memory_store import MemoryRunStore
from server.runs.records import RunRecord, StoredEvent, now
from server.runs.signals import Signals
from server.runs.workers import RunWorkers
from tests.support import eventually
from tests.support_processes import GUARD_S, Cluster, Orca, follow, until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("durable-runs")


@pytest.fixture(scope="module")
def database(postgres_url: str) -> str:
    """Migrate the session's database and empty its run tables (other tests leave runs)."""

    async def reset() -> None:
        async with await AsyncConnection.connect(postgres_url, autocommit=True) as connection:
            await migrate(connection)
            await connection.execute("TRUNCATE orca_threads, orca_runs, orca_run_events")

    asyncio.run(reset())
    return postgres_url


@pytest.fixture(scope="module")
def api(database: str, workdir: Path) -> Iterator[Orca]:
    """The HTTP server every test talks to; `ORCA_RUN_WORKERS=0`: it only queues runs."""
    cluster = Cluster(database, workdir)
    orca = cluster.start("api", "serve", run_workers="0")
    try:
        yield orca
    finally:
        cluster.stop_all()


@pytest.fixture
async def client(api: Orca) -> AsyncIterator[httpx.AsyncClient]:
    await api.started()
    async with httpx.AsyncClient(base_url=api.url, timeout=GUARD_S) as client:
        yield client


@pytest.fixture
def cluster(database: str, workdir: Path) -> Iterator[Cluster]:
    cluster = Cluster(database, workdir)
    try:
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database, autocommit=True) as connection:
        yield connection


def holder(db: psycopg.Connection[Any], run_id: str) -> tuple[int | None, int]:
    """Return the pid of the process holding the run (None: nobody) and its attempt."""
    row = db.execute("SELECT worker, attempt FROM orca_runs WHERE run_id = %s", (run_id,))
    worker, attempt = row.fetchone() or (None, 0)
    return (int(worker.split(":")[1]) if worker else None), attempt


async def create_run(client: httpx.AsyncClient, thread_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/threads/{thread_id}/runs",
        json={
            "assistant_id": "slow",
            "input": {"topic": "falcons"},
            "if_not_exists": "create",
            **body,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def run_status(client: httpx.AsyncClient, thread_id: str, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/threads/{thread_id}/runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def finished(client: httpx.AsyncClient, thread_id: str, run_id: str) -> dict[str, Any]:
    """Wait until the run is no longer pending or running; return it."""
    run: dict[str, Any] = {}

    async def final() -> bool:
        run.update(await run_status(client, thread_id, run_id))
        return run["status"] not in ("pending", "running")

    await until(final, f"run {run_id} finishing")
    return run


def new_thread() -> str:
    return f"durable-{uuid.uuid4().hex[:8]}"


def ids_and_attempts(events: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """Return the stream's event ids and the attempts its `metadata` events announce."""
    ids = [int(event["id"]) for event in events]
    attempts = [event["data"]["attempt"] for event in events if event["event"] == "metadata"]
    return ids, attempts


# 1. A worker killed mid-run ---------------------------------------------------------
async def test_a_run_whose_worker_is_killed_resumes_on_another_worker(
    client: httpx.AsyncClient, cluster: Cluster, db: psycopg.Connection[Any]
) -> None:
    first_worker = cluster.start("worker-a", "work")
    await first_worker.started()
    thread_id = new_thread()
    run = await create_run(client, thread_id)
    run_id = run["run_id"]
    seen: list[dict[str, Any]] = []
    reader = asyncio.create_task(follow(client, f"/threads/{thread_id}/runs/{run_id}/stream", seen))

    def first_done_in_a() -> bool:
        # `slow` is running in A, and the reader has attempt 1's events up to `first`
        steps = [event["data"].get("steps") for event in seen if event["event"] == "values"]
        return ("slow", 1) in cluster.executions(thread_id) and ["first"] in steps

    await until(first_done_in_a, "slow starting in worker A, seen by the reader")
    assert holder(db, run_id) == (first_worker.process.pid, 1)

    os.kill(first_worker.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert await first_worker.exited() == -signal.SIGKILL
    second_worker = cluster.start("worker-b", "work")
    cluster.release(thread_id)
    # Timings, printed for the record (`pytest -s`): none decides the outcome.
    await until(lambda: holder(db, run_id)[0] != first_worker.process.pid, "the requeue")
    requeued_s = time.monotonic() - killed_at
    await second_worker.started()
    started_s = time.monotonic() - killed_at

    final = await finished(client, thread_id, run_id)
    recovery_s = time.monotonic() - killed_at
    assert final["status"] == "success", final
    assert final["attempt"] == 2
    assert holder(db, run_id) == (None, 2)
    # `first` completed in A and its checkpoint survived it: it did not run again;
    # `slow` never completed in A, so it ran again from its start in B.
    assert cluster.executions(thread_id) == [("first", 1), ("slow", 1), ("slow", 2), ("last", 2)]
    joined = await client.get(f"/threads/{thread_id}/runs/{run_id}/join")
    assert joined.json()["steps"] == ["first", "slow", "last"]

    await asyncio.wait_for(reader, GUARD_S)
    ids, attempts = ids_and_attempts(seen)
    assert attempts == [1, 2]  # one stream, across the kill: both attempts' events
    assert ids == sorted(set(ids)), "an event id came twice or out of order"
    assert seen[-1]["data"]["steps"] == ["first", "slow", "last"]  # then the stream closed
    assert second_worker.process.poll() is None
    print(
        f"after SIGKILL: requeued {requeued_s:.2f}s, worker B up {started_s:.2f}s,"
        f" run success {recovery_s:.2f}s"
    )


# 2. Two servers on one database ------------------------------------------------------
async def test_two_servers_share_runs_streams_cancels_and_the_one_running_run_rule(
    client: httpx.AsyncClient, cluster: Cluster, db: psycopg.Connection[Any]
) -> None:
    server = cluster.start("server-1", "serve", run_workers="2")
    await server.started()
    async with httpx.AsyncClient(base_url=server.url, timeout=GUARD_S) as first_server:
        joined_thread, cancelled_thread = new_thread(), new_thread()
        joined = await create_run(first_server, joined_thread)
        cancelled = await create_run(first_server, cancelled_thread)
        for thread_id, run in ((joined_thread, joined), (cancelled_thread, cancelled)):
            await until(lambda t=thread_id: ("slow", 1) in cluster.executions(t), "slow starting")
            assert holder(db, run["run_id"]) == (server.process.pid, 1)

        # Streamed from the other server: events cross processes through the store.
        seen: list[dict[str, Any]] = []
        stream = f"/threads/{joined_thread}/runs/{joined['run_id']}/stream"
        reader = asyncio.create_task(follow(client, stream, seen))
        await until(lambda: any(event["event"] == "values" for event in seen), "the replay")

        # One running run per thread, whichever server is asked.
        busy = await client.post(
            f"/threads/{joined_thread}/runs",
            json={"assistant_id": "slow", "input": {}, "multitask_strategy": "reject"},
        )
        assert busy.status_code == 409, busy.text
        assert "already running" in busy.json()["detail"]

        cluster.release(joined_thread)
        answer = await client.get(f"/threads/{joined_thread}/runs/{joined['run_id']}/join")
        assert answer.json()["steps"] == ["first", "slow", "last"]
        await asyncio.wait_for(reader, GUARD_S)
        assert seen[-1]["data"]["steps"] == ["first", "slow", "last"]  # then it closes

        # Cancelled from the server that does not execute it.
        stopped = await client.post(
            f"/threads/{cancelled_thread}/runs/{cancelled['run_id']}/cancel",
            params={"wait": "true"},
        )
        # As langgraph-api, `wait` answers what the run's join answers (its kept values).
        assert stopped.status_code == 200, stopped.text
        assert "__error__" not in stopped.json()
        executing = await run_status(first_server, cancelled_thread, cancelled["run_id"])
        assert (executing["status"], executing["cancel_reason"]) == ("interrupted", "interrupt")
        assert cluster.executions(cancelled_thread) == [("first", 1), ("slow", 1)]
        thread = await first_server.get(f"/threads/{cancelled_thread}")
        assert thread.json()["status"] == "idle"


# 3. A graceful drain ----------------------------------------------------------------
async def test_a_stopped_worker_puts_its_unfinished_run_back_for_another(
    client: httpx.AsyncClient, cluster: Cluster, db: psycopg.Connection[Any]
) -> None:
    draining = cluster.start("worker-c", "work", run_drain_s="0.5")
    await draining.started()
    thread_id = new_thread()
    run_id = (await create_run(client, thread_id))["run_id"]
    await until(lambda: ("slow", 1) in cluster.executions(thread_id), "slow starting")
    assert holder(db, run_id) == (draining.process.pid, 1)

    draining.process.send_signal(signal.SIGTERM)
    assert await draining.exited() == 0, draining.tail()
    requeued = await run_status(client, thread_id, run_id)
    assert (requeued["status"], requeued["attempt"]) == ("pending", 1)  # not `error`
    assert holder(db, run_id) == (None, 1)
    assert "draining 1 runs" in draining.log.read_text()

    taker = cluster.start("worker-d", "work")
    cluster.release(thread_id)
    final = await finished(client, thread_id, run_id)
    assert (final["status"], final["attempt"]) == ("success", 2)
    assert cluster.executions(thread_id) == [("first", 1), ("slow", 1), ("slow", 2), ("last", 2)]
    assert taker.process.poll() is None


# 4. In one process: giving up, stopping without grace, losing a lease ----------------
DOOMED_LEASE_S = 0.05
"""The lease of a worker that claims a run and dies at once."""


def memory_workers(*, max_attempts: int = 3, drain_s: float = 0.5) -> RunWorkers:
    """Return workers on the memory store whose runs block until cancelled."""

    async def blocks(run: RunRecord, events: RunEvents) -> Outcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    store, signals = MemoryRunStore(), Signals()
    return RunWorkers(
        store,
        EventLog(store, signals, poll_s=0.05),
        signals,
        blocks,
        slots=1,
        lease_s=5.0,  # far longer than a heartbeat even on a loaded machine
        heartbeat_s=0.02,
        sweep_interval_s=0.02,
        poll_s=0.05,
        drain_s=drain_s,
        max_attempts=max_attempts,
        timeout_s=60,
    )


async def queued(workers: RunWorkers) -> RunRecord:
    thread = await workers.store.create_thread(new_thread(), "alice", {}, if_exists="raise")
    await workers.store.set_thread_state(thread.thread_id, status="busy")
    run = RunRecord(str(uuid.uuid4()), thread.thread_id, "slow", "slow", "alice", kwargs={})
    await workers.store.insert_run(run, claim_for=None, lease_s=workers.lease_s)
    return run


async def replay(log: EventLog, run_id: str) -> list[StoredEvent]:
    """Return the run's events up to its `end`, as a reader in this process gets them."""

    async def read() -> list[StoredEvent]:
        return [event async for event in log.follow(run_id)]

    return await asyncio.wait_for(read(), GUARD_S)


async def test_a_run_whose_workers_keep_dying_ends_in_error_saying_why() -> None:
    workers = memory_workers(max_attempts=2)
    workers.slots = 0  # a sweeper only, as in a process that only serves HTTP
    store: MemoryRunStore = workers.store  # type: ignore[assignment]
    run = await queued(workers)
    await workers.start()
    try:
        for attempt in (1, 2):
            # A worker claims the run and dies at once: it never heart-beats.
            claimed = await store.claim_next(f"doomed-{attempt}", DOOMED_LEASE_S)
            assert claimed is not None and claimed.attempt == attempt
            await eventually(lambda: store.runs[run.run_id].status != "running")
        events = await replay(workers.events, run.run_id)  # its readers are told, and stop
    finally:
        await workers.stop()

    lost = store.runs[run.run_id]
    assert (lost.status, lost.attempt) == ("error", 2)
    error = lost.result["__error__"]
    assert error["error"] == "WorkerLost"
    assert "lease expired" in error["message"] and "2 attempts" in error["message"]
    assert store.threads[run.thread_id].status == "error"  # not left `busy` for ever
    assert [event.event for event in events] == ["error", "end"]
    assert json.loads(events[0].data) == error


async def test_without_drain_time_a_stopping_worker_requeues_at_once() -> None:
    workers = memory_workers(drain_s=0)
    store: MemoryRunStore = workers.store  # type: ignore[assignment]
    run = await queued(workers)
    await workers.start()
    await eventually(lambda: run.run_id in workers.running)
    await asyncio.wait_for(workers.stop(), 5)  # ORCA_RUN_DRAIN_S=0 once waited for ever
    assert (store.runs[run.run_id].status, store.runs[run.run_id].attempt) == ("pending", 1)


async def test_a_cancel_whose_notification_was_missed_arrives_with_the_heartbeat() -> None:
    workers = memory_workers()
    store: MemoryRunStore = workers.store  # type: ignore[assignment]
    run = await queued(workers)
    await workers.start()
    try:
        await eventually(lambda: run.run_id in workers.running)
        # Recorded in the store only: no signal reaches this process.
        await store.request_cancel(run.run_id, "interrupt")
        await eventually(lambda: store.runs[run.run_id].status == "interrupted")
        events = await replay(workers.events, run.run_id)
    finally:
        await workers.stop()
    assert store.runs[run.run_id].cancel_reason == "interrupt"
    assert [event.event for event in events][-1] == "end"


async def test_a_worker_that_lost_its_lease_leaves_the_stream_to_the_next_attempt() -> None:
    workers = memory_workers()
    store: MemoryRunStore = workers.store  # type: ignore[assignment]
    run = await queued(workers)
    await workers.start()
    try:
        await eventually(lambda: run.run_id in workers.running)
        # This worker stalled past its lease and another took the run over.
        taken = store.runs[run.run_id]
        taken.worker, taken.attempt, taken.lease_until = "another", 2, now() + timedelta(hours=1)
        await eventually(lambda: run.run_id not in workers.running)  # its heartbeat saw it
        newer = [StoredEvent(1, "metadata", b'{"attempt": 2}'), StoredEvent(2, "end", b"")]
        await store.append_events(run.run_id, newer)
        # Readers in this process follow the new attempt, not the abandoned one in memory.
        assert await replay(workers.events, run.run_id) == newer
    finally:
        await workers.stop()


async def test_a_task_cancelled_while_closing_a_stream_is_cancelled() -> None:
    store, signals = MemoryRunStore(), Signals()
    events = await EventLog(store, signals).open("run-1")
    events.emit("values", {"steps": []})  # a flush is due
    closing = asyncio.create_task(events.close())
    await asyncio.sleep(0)  # `closing` now waits for the flush it cancelled
    closing.cancel()  # as `RunWorkers.stop()` cancels its sweeper
    with pytest.raises(asyncio.CancelledError):
        await closing  # once swallowed: the sweeper kept sweeping and stop() never returned
