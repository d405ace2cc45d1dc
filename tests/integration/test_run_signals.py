"""Run signals between two processes sharing one PostgreSQL database (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from server.runs.pg_signals import PgSignals
from tests.support import eventually

pytestmark = pytest.mark.integration

TIMEOUT_S = 10.0


@pytest.fixture
async def processes(postgres_url: str) -> AsyncIterator[tuple[PgSignals, PgSignals]]:
    """Yield the signals of two "processes", each with its own pool and listener."""
    pools = []
    signals = []
    try:
        for _ in range(2):
            pool = AsyncConnectionPool(
                postgres_url,
                min_size=1,
                max_size=2,
                kwargs={"autocommit": True, "row_factory": dict_row},
                open=False,
            )
            await pool.open(wait=True, timeout=10)
            pools.append(pool)
            signal = PgSignals(postgres_url, pool, max_backoff_s=0.5)
            await signal.start()
            signals.append(signal)
        yield signals[0], signals[1]
    finally:
        for signal in signals:
            await signal.stop()
        for pool in pools:
            await pool.close()


async def test_work_published_anywhere_wakes_every_worker(
    processes: tuple[PgSignals, PgSignals],
) -> None:
    one, other = processes
    one.work.clear()
    other.work.clear()
    await one.publish_work()
    assert one.work.is_set()  # at once, without a round trip
    await asyncio.wait_for(other.work.wait(), TIMEOUT_S)


async def test_new_events_wake_the_readers_of_that_run(
    processes: tuple[PgSignals, PgSignals],
) -> None:
    one, other = processes
    with other.watch_events("run-1") as watched, other.watch_events("run-2") as unrelated:
        await one.publish_events("run-1")
        await asyncio.wait_for(watched.wait(), TIMEOUT_S)
        assert not unrelated.is_set()


async def test_a_cancel_reaches_every_process_once(
    processes: tuple[PgSignals, PgSignals],
) -> None:
    one, other = processes
    heard: dict[str, list[tuple[str, str]]] = {"one": [], "other": []}
    one.on_cancel(lambda run_id, action: heard["one"].append((run_id, action)))
    other.on_cancel(lambda run_id, action: heard["other"].append((run_id, action)))

    await one.publish_cancel("run:7", "rollback")
    assert heard["one"] == [("run:7", "rollback")]
    await eventually(lambda: heard["other"] == [("run:7", "rollback")], TIMEOUT_S)
    # The publisher's own notification comes back through its listener and is dropped.
    await eventually(lambda: not one._own, TIMEOUT_S)
    assert heard["one"] == [("run:7", "rollback")]


async def test_the_listener_reconnects_and_wakes_workers(
    processes: tuple[PgSignals, PgSignals],
) -> None:
    one, other = processes
    connection = other._connection
    assert connection is not None
    lost = connection.info.backend_pid
    other.work.clear()
    async with await psycopg.AsyncConnection.connect(one.conninfo, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (lost,))
    # Notifications sent while nobody listened are lost: the workers are woken to look.
    await asyncio.wait_for(other.work.wait(), TIMEOUT_S)
    await eventually(
        lambda: other._connection is not None and other._connection.info.backend_pid != lost,
        TIMEOUT_S,
    )
    other.work.clear()
    await one.publish_work()
    await asyncio.wait_for(other.work.wait(), TIMEOUT_S)
