"""The run store's `state_updated_at`, held by the memory store, SQLite and PostgreSQL alike.

Beside `test_run_store.py` (whose fixtures it shares) to keep that file under 500 lines.
"""

from __future__ import annotations

import asyncio

from server.runs.records import RunStore, ThreadFilter, ThreadOutcome
from tests.integration.test_run_store import (  # noqa: F401 - `store`, `stores`: fixtures
    LEASE_S,
    insert,
    make_run,
    store,
    stores,
)


async def test_state_updated_at_moves_with_the_state_not_the_metadata(
    store: RunStore,  # noqa: F811 - the fixture imported above
) -> None:
    for name in ("t1", "t2"):
        await store.create_thread(name, "alice", {}, if_exists="raise")
        await asyncio.sleep(0.002)
    created = await store.get_thread("t1", "alice")
    assert created is not None and created.state_updated_at >= created.created_at
    # The memory store hands out its own records: keep the times, not the record.
    state_updated_at, updated_at = created.state_updated_at, created.updated_at
    patched = await store.update_thread("t1", "alice", {"title": "renamed"})
    assert patched is not None and patched.state_updated_at == state_updated_at
    assert patched.updated_at > updated_at

    async def ids(sort_by: str) -> list[str]:
        found = await store.search_threads(
            "alice", ThreadFilter(), limit=10, offset=0, sort_by=sort_by, descending=True
        )
        return [thread.thread_id for thread in found]

    assert await ids("updated_at") == ["t1", "t2"]
    assert await ids("state_updated_at") == ["t2", "t1"]
    await store.set_thread_state("t1", status="idle", values={"n": 1})
    assert await ids("state_updated_at") == ["t1", "t2"]
    run = make_run("t2")
    await insert(store, run, claim_for="w1", lease_s=LEASE_S)
    assert await ids("state_updated_at") == ["t1", "t2"]  # a run starting is no state change
    await store.finish_run(
        run.run_id, "w1", 1, status="success", result={}, thread=ThreadOutcome("idle")
    )
    assert await ids("state_updated_at") == ["t2", "t1"]
