"""The cron stores' claim: concurrent schedulers never hold one firing at once.

Against a PostgreSQL database of this module's own (no served app's scheduler in the way)
and a SQLite file opened by two connections: several schedulers claim the same due crons
at the same time, and each cron is claimed by exactly one; a claim that lapsed is taken
over; a firing is recorded only by the claim that holds it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from server.auth.db import open_sqlite
from server.crons.pg_store import PostgresCronStore
from server.crons.records import CronRecord, CronStore
from server.crons.sqlite_store import SqliteCronStore
from server.migrations import migrate
from tests.integration.conftest import ADMIN_URL
from tests.support_runs import until

pytestmark = pytest.mark.integration

SCHEDULERS = 4
CRONS = 60


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    """Create a database for this module alone, migrated; drop it afterwards."""
    name = f"orca_cron_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["postgres", "sqlite"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[CronStore]]:
    """Return one store per scheduler, each on connections of its own, to one database."""
    async with AsyncExitStack() as stack:
        found: list[CronStore] = []
        if request.param == "postgres":
            url = request.getfixturevalue("own_database")
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                await migrate(connection)
                await connection.execute("DELETE FROM orca_crons")
            for _ in range(SCHEDULERS):
                pool = AsyncConnectionPool(
                    url, min_size=1, max_size=2, open=False,
                    kwargs={"autocommit": True, "row_factory": dict_row},
                )  # fmt: skip
                await pool.open()
                stack.push_async_callback(pool.close)
                found.append(PostgresCronStore(pool))
        else:
            for _ in range(SCHEDULERS):
                database = await stack.enter_async_context(open_sqlite(tmp_path / "orca.sqlite"))
                await database.connection.execute("PRAGMA busy_timeout = 30000")
                found.append(SqliteCronStore(database))
        for store in found:
            await store.setup()
        yield found


def due_cron(n: int, clock: datetime) -> CronRecord:
    return CronRecord(
        cron_id=f"cron-{n:03d}",
        owner="racer",
        assistant_id="a",
        schedule="* * * * *",
        payload={},
        next_run_date=clock - timedelta(minutes=1),
    )


async def test_concurrent_claims_take_each_due_cron_once(stores: list[CronStore]) -> None:
    clock = await stores[0].clock()
    for n in range(CRONS):
        await stores[0].insert(due_cron(n, clock))

    first_round = asyncio.Barrier(SCHEDULERS)

    async def drain(store: CronStore) -> list[str]:
        mine: list[str] = []
        claimed = await store.claim_due(uuid.uuid4().hex, 60.0, 5)
        # Every scheduler makes its first claim before any makes a second, so the race
        # does not hang on how the event loop happens to order the connections' turns.
        await first_round.wait()
        while claimed:
            mine += [item.cron.cron_id for item in claimed]
            claimed = await store.claim_due(uuid.uuid4().hex, 60.0, 5)
        return mine

    taken = await asyncio.gather(*(drain(store) for store in stores))
    every = [cron_id for mine in taken for cron_id in mine]
    assert sorted(every) == [f"cron-{n:03d}" for n in range(CRONS)]  # each once, none twice
    # the first round asked for 4 x 5 of the 60 due crons at once: each got its five
    assert [len(mine) >= 5 for mine in taken] == [True] * SCHEDULERS


async def test_a_lapsed_claim_is_taken_over_and_only_the_holder_records(
    stores: list[CronStore],
) -> None:
    first, second = stores[0], stores[1]
    clock = await first.clock()
    await first.insert(due_cron(999, clock))
    (held,) = await first.claim_due("first", 0.2, 10)  # then its process "dies"
    scheduled = held.cron.next_run_date
    assert scheduled is not None
    assert await second.claim_due("second", 60.0, 10) == []  # held: nobody else fires it

    async def taken_over() -> bool:
        return bool(await second.claim_due("second", 60.0, 10))

    await until(taken_over)
    later = scheduled + timedelta(minutes=5)
    assert not await first.finish("cron-999", "first", scheduled, later)  # no longer its claim
    assert await second.finish("cron-999", "second", scheduled, later)
    stored = await second.get("cron-999", "racer")
    assert stored is not None and stored.next_run_date == later and stored.claimed_by is None
    assert await second.claim_due("again", 60.0, 10) == []  # not due until `later`
    wait = await second.seconds_to_next()
    assert wait is not None and 0 < wait <= (later - datetime.now(UTC)).total_seconds() + 1
