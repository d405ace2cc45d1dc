"""SQLite's expired items are deleted before reads, and only when one may be due."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from langgraph.store.base import GetOp, PutOp
from langgraph.store.sqlite import AsyncSqliteStore

from server.store.expiry import ExpirySweeper


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncSqliteStore]:
    async with aiosqlite.connect(tmp_path / "store.sqlite", isolation_level=None) as connection:
        store = AsyncSqliteStore(connection)
        await store.setup()
        yield store


async def test_reads_sweep_only_once_an_item_may_have_expired(store: AsyncSqliteStore) -> None:
    sweeps = 0
    sweep = store.sweep_ttl

    async def counted() -> int:
        nonlocal sweeps
        sweeps += 1
        return await sweep()

    store.sweep_ttl = counted  # type: ignore[method-assign]
    expiry = ExpirySweeper(store)
    lasting = PutOp(("n",), "lasting", {"v": 1}, ttl=60)
    await store.abatch([lasting])
    expiry.wrote([lasting])
    await expiry.before_read()  # the bound is unknown at first: one sweep learns it
    for _ in range(5):
        await expiry.before_read()
    assert sweeps == 1
    brief = PutOp(("n",), "brief", {"v": 2}, ttl=0.001)
    expiry.wrote([brief])
    await store.abatch([brief])
    deadline = asyncio.get_running_loop().time() + 30
    while (await store.abatch([GetOp(("n",), "brief")]))[0] is not None:
        assert asyncio.get_running_loop().time() < deadline, "the brief item never went"
        await asyncio.sleep(0.05)
        await expiry.before_read()
    assert (await store.abatch([GetOp(("n",), "lasting")]))[0] is not None
    settled = sweeps
    await expiry.before_read()
    assert sweeps == settled  # the next expiry is an hour away
