"""PostgreSQL restarted, stopped or killing connections under a running service.

These tests stop and restart the local cluster (`pg_ctlcluster`), which every test using
PostgreSQL shares: the suite runs serially, and the cluster is started again whatever
happens. `ORCA_TEST_POSTGRES_URL` pointing elsewhere, or no local cluster, skips them.
"""

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.integration.conftest import ADMIN_URL
from tests.support import fake_models, serving

pytestmark = pytest.mark.integration

CLUSTER = ("15", "main")


def pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, action],
        check=True,
        capture_output=True,
        timeout=60,
    )


def cluster_online() -> bool:
    status = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False)
    return any(
        line.split()[:2] == list(CLUSTER) and "online" in line
        for line in status.stdout.splitlines()
    )


@pytest.fixture
def local_cluster() -> Iterator[None]:
    """Let a test stop and start the local cluster; leave it running afterwards."""
    if shutil.which("pg_ctlcluster") is None or "127.0.0.1:5432" not in ADMIN_URL:
        pytest.skip("needs the local PostgreSQL 15 cluster (pg_ctlcluster)")
    try:
        yield
    finally:
        if not cluster_online():
            pg_ctl("start")


@pytest.fixture
async def orca(postgres_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path / "var",
        postgres_url=postgres_url,
        postgres_pool_timeout_s=1.0,
        rate_limit="",  # the load below is the point, not a quota
        rate_limit_runs="",
    )
    async with serving(create_app(settings, models=fake_models(), embedder=fake_embedder())) as c:
        assert (
            await c.post("/workflows/ingest/invoke", json={"input": {"texts": ["F."]}})
        ).is_success
        yield c


async def ask(client: httpx.AsyncClient, thread: str) -> httpx.Response:
    return await client.post(
        "/workflows/rag/invoke",
        json={"input": {"question": "Falcon?"}, "config": {"configurable": {"thread_id": thread}}},
    )


async def answered(client: httpx.AsyncClient, thread: str) -> bool:
    graph = client._transport.app.state.resources.graphs["rag"]  # type: ignore[attr-defined]
    state = await graph.aget_state({"configurable": {"thread_id": thread}})
    return bool(state.values.get("answer"))


async def until_answered(client: httpx.AsyncClient, thread: str) -> float:
    """Ask until the service answers again; return how long that took (seconds)."""
    started = time.perf_counter()
    while (await ask(client, thread)).status_code != 200:
        assert time.perf_counter() - started < 30, "the service never recovered"  # a guard only
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def test_postgres_down_is_a_fast_503_and_the_pool_recovers_on_its_own(
    orca: httpx.AsyncClient, local_cluster: None
) -> None:
    assert (await ask(orca, "before")).status_code == 200
    pg_ctl("stop")
    try:
        down = await ask(orca, "while-down")
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert "PostgreSQL is unavailable" in down.json()["detail"]
        health = await orca.get("/health/detailed")
        assert "checkpointer:postgres" in health.json()["down"]
    finally:
        pg_ctl("start")
    print(f"recovered {await until_answered(orca, 'after'):.2f}s after the start")
    assert await answered(orca, "before") and await answered(orca, "after")


async def test_a_restart_under_load_loses_no_completed_run(
    orca: httpx.AsyncClient, local_cluster: None
) -> None:
    async def load(worker: int) -> list[tuple[str, int]]:
        results = []
        for i in range(15):
            thread = f"load-{worker}-{i}"
            results.append((thread, (await ask(orca, thread)).status_code))
        return results

    running = asyncio.gather(*(load(worker) for worker in range(4)))
    await asyncio.sleep(0.1)
    await asyncio.to_thread(pg_ctl, "restart")
    results = [result for batch in await running for result in batch]
    assert {status for _, status in results} <= {200, 503}  # an answer or a clear 503
    print(f"recovered {await until_answered(orca, 'after-restart'):.2f}s after the restart")
    for thread, status in results:
        if status == 200:  # every answered run kept its checkpoint
            assert await answered(orca, thread), thread


async def test_killed_connections_are_replaced_without_a_restart(
    orca: httpx.AsyncClient, postgres_url: str
) -> None:
    async def load(worker: int) -> list[tuple[str, int]]:
        return [
            (f"kill-{worker}-{i}", (await ask(orca, f"kill-{worker}-{i}")).status_code)
            for i in range(10)
        ]

    running = asyncio.gather(*(load(worker) for worker in range(4)))
    name = postgres_url.rpartition("/")[2]
    for _ in range(3):
        await asyncio.sleep(0.05)
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
    results = [result for batch in await running for result in batch]
    assert {status for _, status in results} <= {200, 503}
    await until_answered(orca, "after-kill")
    for thread, status in results:
        if status == 200:
            assert await answered(orca, thread), thread
