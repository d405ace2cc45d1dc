"""The run store's contract, held by the memory store, SQLite and real PostgreSQL alike."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from server.auth.db import open_sqlite
from server.migrations import migrate
from server.runs.memory_store import MemoryRunStore
from server.runs.pg_store import PostgresRunStore
from server.runs.records import (
    RunRecord,
    RunStore,
    StoredEvent,
    ThreadBusy,
    ThreadExists,
    ThreadFilter,
    ThreadMissing,
    now,
    worker_lost,
)
from server.runs.sqlite_store import SqliteRunStore

LEASE_S = 30.0


async def open_pool(url: str) -> AsyncConnectionPool:
    """Open a pool configured as the service's (checkpoints/open.py)."""
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=4,
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    return pool


@asynccontextmanager
async def sqlite_store(path: Path) -> AsyncIterator[SqliteRunStore]:
    """Yield the embedded default's store on the SQLite file at `path`."""
    async with open_sqlite(path) as database:
        store = SqliteRunStore(database)
        await store.setup()
        yield store


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RunStore, RunStore]]:
    """Yield two stores on the same data (for memory: the same store twice).

    SQLite's two are two connections to one file, as two processes would have: the
    embedded default has one, but the file's locks must keep the rules all the same.
    """
    if request.param == "memory":
        store = MemoryRunStore()
        yield store, store
        return
    if request.param == "sqlite":
        path = tmp_path / "orca.sqlite"
        async with sqlite_store(path) as first, sqlite_store(path) as second:
            yield first, second
        return
    url: str = request.getfixturevalue("postgres_url")
    async with await AsyncConnection.connect(url, autocommit=True) as connection:
        await migrate(connection)
        # The database is shared by the session's tests; claims see every run in it.
        await connection.execute("TRUNCATE orca_threads, orca_runs, orca_run_events")
    first, second = await open_pool(url), await open_pool(url)
    try:
        yield PostgresRunStore(first), PostgresRunStore(second)
    finally:
        await first.close()
        await second.close()


@pytest.fixture
def store(stores: tuple[RunStore, RunStore]) -> RunStore:
    return stores[0]


def make_run(thread_id: str, *, owner: str = "alice", age_ms: int = 0, **more: Any) -> RunRecord:
    """Return a pending run created `age_ms` before the others (older claims first)."""
    stamp = now() - timedelta(milliseconds=age_ms)
    return RunRecord(
        run_id=str(uuid.uuid4()),
        thread_id=thread_id,
        assistant_id="rag",
        graph_id="rag",
        owner=owner,
        kwargs={"input": {"question": "why?"}},
        created_at=stamp,
        updated_at=stamp,
        **more,
    )


async def insert(store: RunStore, run: RunRecord, **claim: Any) -> None:
    """Insert the run, creating its owner's thread first when new (a run needs one)."""
    await store.create_thread(run.thread_id, run.owner, {}, if_exists="do_nothing")
    await store.insert_run(run, **claim)


async def expire_leases(store: RunStore, max_attempts: int) -> list[str]:
    """Requeue until the (tiny) leases have run out."""
    for _ in range(1000):
        if requeued := await store.requeue_expired(max_attempts):
            return requeued
        await asyncio.sleep(0.01)
    raise AssertionError("no lease expired")


# Threads ----------------------------------------------------------------------
async def test_threads_belong_to_their_creator(store: RunStore) -> None:
    created = await store.create_thread("t1", "alice", {"topic": "a"}, if_exists="raise")
    assert (created.status, created.metadata, created.values) == ("idle", {"topic": "a"}, None)
    assert created.created_at.tzinfo is not None
    with pytest.raises(ThreadExists):
        await store.create_thread("t1", "alice", {}, if_exists="raise")
    again = await store.create_thread("t1", "alice", {"topic": "b"}, if_exists="do_nothing")
    assert again.metadata == {"topic": "a"}
    with pytest.raises(ThreadExists):
        await store.create_thread("t1", "mallory", {}, if_exists="do_nothing")
    assert await store.get_thread("t1", "mallory") is None
    assert await store.update_thread("t1", "mallory", {"x": 1}) is None
    assert not await store.delete_thread("t1", "mallory")
    assert (await store.get_thread("t1", "alice")) is not None


async def test_thread_metadata_merges_and_state_is_recorded(store: RunStore) -> None:
    await store.create_thread("t1", "alice", {"a": 1, "b": 2}, if_exists="raise")
    updated = await store.update_thread("t1", "alice", {"b": 3, "c": 4})
    assert updated is not None and updated.metadata == {"a": 1, "b": 3, "c": 4}
    await store.set_thread_state(
        "t1", status="interrupted", values={"answer": 42}, interrupts={"task": [{"value": "?"}]}
    )
    await store.set_thread_state("t1", status="idle", metadata={"d": 5})
    thread = await store.get_thread("t1", "alice")
    assert thread is not None
    assert (thread.status, thread.values) == ("idle", {"answer": 42})
    assert thread.interrupts == {"task": [{"value": "?"}]}
    assert thread.metadata == {"a": 1, "b": 3, "c": 4, "d": 5}
    assert thread.updated_at >= thread.created_at


async def test_search_matches_metadata_values_status_and_ids(store: RunStore) -> None:
    for name, metadata, values, status in [
        ("t1", {"team": "red", "tags": ["x"]}, {"step": 1}, "idle"),
        ("t2", {"team": "red", "tags": ["x", "y"]}, {"step": 2}, "busy"),
        ("t3", {"team": "blue", "note": None}, [1, 2], "idle"),
    ]:
        await store.create_thread(name, "alice", metadata, if_exists="raise")
        await store.set_thread_state(name, status=status, values=values)  # type: ignore[arg-type]
    await store.create_thread("theirs", "bob", {"team": "red"}, if_exists="raise")

    async def ids(where: ThreadFilter, **order: Any) -> list[str]:
        paging = {"limit": 10, "offset": 0, "sort_by": "thread_id", "descending": False}
        found = await store.search_threads("alice", where, **{**paging, **order})
        return [thread.thread_id for thread in found]

    assert await ids(ThreadFilter()) == ["t1", "t2", "t3"]
    assert await ids(ThreadFilter(metadata={"team": "red"})) == ["t1", "t2"]
    # Contained, as PostgreSQL's `@>` and langgraph-api: ["x"] is in ["x", "y"] too.
    assert await ids(ThreadFilter(metadata={"tags": ["x"]})) == ["t1", "t2"]
    assert await ids(ThreadFilter(metadata={"tags": ["y", "x"]})) == ["t2"]
    assert await ids(ThreadFilter(metadata={"tags": "x"})) == []  # a list holds no scalar
    assert await ids(ThreadFilter(metadata={"team": None})) == []
    # A wanted None needs the key, null (PostgreSQL's `@>`, langgraph-api): no key, no match.
    assert await ids(ThreadFilter(metadata={"missing": None})) == []
    assert await ids(ThreadFilter(metadata={"note": None})) == ["t3"]
    assert await ids(ThreadFilter(metadata={"team": "blue", "note": None})) == ["t3"]
    assert await store.count_threads("alice", ThreadFilter(metadata={"missing": None})) == 0
    assert await store.count_threads("alice", ThreadFilter(metadata={"note": None})) == 1
    assert await ids(ThreadFilter(values={"step": None})) == []
    assert await ids(ThreadFilter(values={"step": 2})) == ["t2"]
    assert await ids(ThreadFilter(values={"step": True})) == []  # true is not 1
    assert await ids(ThreadFilter(status="idle")) == ["t1", "t3"]
    assert await ids(ThreadFilter(ids=["t3", "theirs"])) == ["t3"]
    assert await ids(ThreadFilter(), descending=True) == ["t3", "t2", "t1"]
    assert await ids(ThreadFilter(), limit=1, offset=1) == ["t2"]
    assert await ids(ThreadFilter(), sort_by="status") == ["t2", "t1", "t3"]
    assert await store.count_threads("alice", ThreadFilter()) == 3
    assert await store.count_threads("alice", ThreadFilter(metadata={"team": "red"})) == 2
    assert await store.count_threads("alice", ThreadFilter(values={"step": 1})) == 1
    assert await store.count_threads("bob", ThreadFilter(metadata={"team": "red"})) == 1


# Runs -------------------------------------------------------------------------
async def test_a_thread_runs_one_run_at_a_time(store: RunStore) -> None:
    first = make_run("t1")
    await insert(store, first, claim_for="w1", lease_s=LEASE_S)
    assert (first.status, first.worker, first.attempt) == ("running", "w1", 1)
    assert first.lease_until is not None and first.lease_until > now()
    second = make_run("t1")
    with pytest.raises(ThreadBusy):
        await insert(store, second, claim_for="w2", lease_s=LEASE_S)
    assert second.status == "pending" and await store.get_run(second.run_id) is None
    await insert(store, second, claim_for=None, lease_s=LEASE_S)
    assert await store.claim_next("w2", LEASE_S) is None
    assert [r.run_id for r in await store.active_runs("t1")] == [first.run_id, second.run_id]


async def test_a_run_needs_a_thread_of_its_owner(store: RunStore) -> None:
    await store.create_thread("t1", "alice", {}, if_exists="raise")
    for run in (make_run("t1", owner="mallory"), make_run("nowhere")):
        for claim_for in ("w1", None):
            with pytest.raises(ThreadMissing):
                await store.insert_run(run, claim_for=claim_for, lease_s=LEASE_S, only_if_idle=True)
            assert run.status == "pending" and await store.get_run(run.run_id) is None
    assert (await store.get_thread("t1", "alice")).status == "idle"  # type: ignore[union-attr]
    busy = make_run("t1")
    await store.insert_run(busy, claim_for="w1", lease_s=LEASE_S, only_if_idle=True)
    with pytest.raises(ThreadBusy):  # the thread is the owner's: busy, not missing
        await store.insert_run(make_run("t1"), claim_for="w2", lease_s=LEASE_S, only_if_idle=True)


async def test_runs_are_read_by_owner_thread_and_status(store: RunStore) -> None:
    old, new = make_run("t1", age_ms=10), make_run("t1", metadata={"k": "v"})
    for run in (old, new):
        await insert(store, run, claim_for=None, lease_s=LEASE_S)
    assert await store.get_run(old.run_id, "mallory") is None
    fetched = await store.get_run(new.run_id, "alice")
    assert fetched is not None and fetched.public() == new.public()
    assert [r.run_id for r in await store.list_runs("t1", limit=10, offset=0, status=None)] == [
        new.run_id,
        old.run_id,
    ]
    assert await store.cancel_pending(old.run_id, "user")
    assert not await store.cancel_pending(old.run_id, "user")
    cancelled = await store.get_run(old.run_id)
    assert cancelled is not None and (cancelled.status, cancelled.cancel_reason) == (
        "interrupted",
        "user",
    )
    listed = await store.list_runs("t1", limit=10, offset=0, status="interrupted")
    assert [r.run_id for r in listed] == [old.run_id]
    assert [r.run_id for r in await store.runs_with_status("alice", ("pending",))] == [new.run_id]
    await store.delete_run(new.run_id)
    assert await store.get_run(new.run_id) is None


async def test_claims_take_the_oldest_due_run_of_a_free_thread(store: RunStore) -> None:
    busy = make_run("busy", age_ms=50)
    await insert(store, busy, claim_for="w0", lease_s=LEASE_S)
    waiting = make_run("busy", age_ms=40)
    later = make_run("later", age_ms=30, not_before=now() + timedelta(hours=1))
    oldest, newer = make_run("a", age_ms=20), make_run("b", age_ms=10)
    for run in (newer, later, waiting, oldest):
        await insert(store, run, claim_for=None, lease_s=LEASE_S)

    claimed = await store.claim_next("w1", LEASE_S)
    assert claimed is not None and claimed.run_id == oldest.run_id
    assert (claimed.status, claimed.worker, claimed.attempt) == ("running", "w1", 1)
    assert claimed.lease_until is not None and claimed.lease_until > now()
    claimed = await store.claim_next("w1", LEASE_S)
    assert claimed is not None and claimed.run_id == newer.run_id
    assert await store.claim_next("w1", LEASE_S) is None

    finished = await store.finish_run(busy.run_id, "w0", 1, status="success", result={"ok": 1})
    assert finished.held and finished.queued_on_thread  # `waiting` waits for this thread
    claimed = await store.claim_next("w1", LEASE_S)
    assert claimed is not None and claimed.run_id == waiting.run_id
    finished = await store.finish_run(waiting.run_id, "w1", 1, status="success", result={})
    assert finished.held and not finished.queued_on_thread


async def test_a_worker_that_lost_its_lease_writes_nothing(store: RunStore) -> None:
    run = make_run("t1")
    await insert(store, run, claim_for="w1", lease_s=0.01)
    assert await expire_leases(store, max_attempts=3) == [run.run_id]
    requeued = await store.get_run(run.run_id)
    assert requeued is not None and (requeued.status, requeued.worker) == ("pending", None)

    again = await store.claim_next("w2", LEASE_S)
    assert again is not None and (again.worker, again.attempt) == ("w2", 2)
    assert not await store.heartbeat(run.run_id, "w1", 1, LEASE_S)
    assert not (await store.finish_run(run.run_id, "w1", 1, status="error", result=None)).held
    assert not await store.release_run(run.run_id, "w1", 1)
    assert await store.heartbeat(run.run_id, "w2", 2, LEASE_S)
    assert (await store.finish_run(run.run_id, "w2", 2, status="success", result={"n": 1})).held
    done = await store.get_run(run.run_id)
    assert done is not None
    assert (done.status, done.result, done.worker, done.lease_until) == (
        "success",
        {"n": 1},
        None,
        None,
    )
    assert not await store.heartbeat(run.run_id, "w2", 2, LEASE_S)


async def test_released_runs_are_claimed_again(store: RunStore) -> None:
    run = make_run("t1")
    await insert(store, run, claim_for="w1", lease_s=LEASE_S)
    assert await store.release_run(run.run_id, "w1", 1)
    again = await store.claim_next("w2", LEASE_S)
    assert again is not None and (again.run_id, again.attempt) == (run.run_id, 2)


async def test_a_run_whose_workers_keep_dying_ends_in_error(store: RunStore) -> None:
    run = make_run("t1")
    await insert(store, run, claim_for="w1", lease_s=0.01)
    assert await expire_leases(store, max_attempts=1) == [run.run_id]
    lost = await store.get_run(run.run_id)
    assert lost is not None and lost.status == "error"
    assert lost.result == worker_lost(1)
    assert await store.claim_next("w2", LEASE_S) is None


async def test_two_stores_never_claim_one_run_twice(stores: tuple[RunStore, RunStore]) -> None:
    first, second = stores
    for index in range(20):
        await insert(first, make_run(f"t{index}"), claim_for=None, lease_s=LEASE_S)
    # Two pending runs of one thread: only one may run.
    for _ in range(2):
        await insert(first, make_run("shared"), claim_for=None, lease_s=LEASE_S)

    async def drain(store: RunStore, worker: str) -> list[str]:
        claimed = []
        while (run := await store.claim_next(worker, LEASE_S)) is not None:
            claimed.append(run.run_id)
        return claimed

    mine, theirs = await asyncio.gather(drain(first, "w1"), drain(second, "w2"))
    # A claim that lost a race may answer None early: whatever is left, one more drain gets.
    rest = await drain(first, "w3")
    claimed = mine + theirs + rest
    assert len(claimed) == len(set(claimed)) == 21
    assert len(await first.active_runs("shared")) == 2
    assert [r.status for r in await first.active_runs("shared")].count("running") == 1


# Events -----------------------------------------------------------------------
async def test_events_are_buffered_in_order_and_pruned(store: RunStore) -> None:
    assert await store.last_event_seq("r1") == 0
    await store.append_events("r1", [StoredEvent(1, "metadata", b'{"a":1}')])
    await store.append_events("r1", [StoredEvent(2, "values", b"{}"), StoredEvent(3, "end", b"")])
    await store.append_events("r2", [StoredEvent(1, "end", b"")])
    await store.append_events("r2", [])
    assert await store.read_events("r1", 0) == [
        StoredEvent(1, "metadata", b'{"a":1}'),
        StoredEvent(2, "values", b"{}"),
        StoredEvent(3, "end", b""),
    ]
    assert [e.seq for e in await store.read_events("r1", 1)] == [2, 3]
    assert await store.last_event_seq("r1") == 3
    assert await store.prune_events(3600) == 0
    await asyncio.sleep(0.05)
    assert await store.prune_events(0.01) == 4
    assert await store.read_events("r1", 0) == []


async def test_deleting_a_thread_deletes_its_runs_and_events(store: RunStore) -> None:
    await store.create_thread("t1", "alice", {}, if_exists="raise")
    await store.create_thread("t2", "alice", {}, if_exists="raise")
    gone, kept = make_run("t1"), make_run("t2")
    for run in (gone, kept):
        await insert(store, run, claim_for=None, lease_s=LEASE_S)
        await store.append_events(run.run_id, [StoredEvent(1, "end", b"")])
    assert await store.delete_thread("t1", "alice")
    assert await store.get_thread("t1", "alice") is None
    assert await store.get_run(gone.run_id) is None
    assert await store.read_events(gone.run_id, 0) == []
    assert await store.get_run(kept.run_id) is not None
    assert len(await store.read_events(kept.run_id, 0)) == 1
    assert not await store.delete_thread("t1", "alice")


@pytest.mark.integration
async def test_a_thread_claimed_by_another_surface_is_an_existing_thread(
    postgres_url: str,
) -> None:
    async with await AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        await migrate(connection)
        # What ThreadOwners.claim writes when LangServe or AG-UI first sees a thread id.
        await connection.execute(
            "INSERT INTO orca_threads (thread_id, owner) VALUES ('agui-1', 'alice')"
        )
    pool = await open_pool(postgres_url)
    try:
        store = PostgresRunStore(pool)
        with pytest.raises(ThreadExists):
            await store.create_thread("agui-1", "alice", {}, if_exists="raise")
        thread = await store.create_thread("agui-1", "alice", {"a": 1}, if_exists="do_nothing")
        assert (thread.owner, thread.status, thread.metadata) == ("alice", "idle", {})
        with pytest.raises(ThreadExists):
            await store.create_thread("agui-1", "bob", {}, if_exists="do_nothing")
    finally:
        await pool.close()


async def test_a_cancel_asked_for_a_running_run_waits_for_its_worker(store: RunStore) -> None:
    run = make_run("t-cancel")
    await insert(store, run, claim_for="w1", lease_s=LEASE_S)
    assert await store.cancel_requested(run.run_id) is None
    await store.request_cancel(run.run_id, "rollback")
    assert await store.cancel_requested(run.run_id) == "rollback"
    assert (await store.finish_run(run.run_id, "w1", 1, status="interrupted", result=None)).held
    assert await store.cancel_requested(run.run_id) is None  # not running any more


# The embedded default's file ------------------------------------------------------
EARLIER_RELEASE = (
    # What `orca.sqlite` held before the runs API kept threads in it (server/auth/db.py).
    """CREATE TABLE orca_api_keys (
        id TEXT PRIMARY KEY, digest BLOB NOT NULL UNIQUE, name TEXT NOT NULL,
        owner TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        revoked_at TEXT, last_used_at TEXT)""",
    """CREATE TABLE orca_threads (
        thread_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)""",
    # A thread LangServe or AG-UI claimed then (`INSERT ... ON CONFLICT DO NOTHING`).
    "INSERT INTO orca_threads (thread_id, owner) VALUES ('agui-1', 'alice')",
)


async def test_a_file_of_an_earlier_release_keeps_its_threads(tmp_path: Path) -> None:
    path = tmp_path / "orca.sqlite"
    with closing(sqlite3.connect(path)) as earlier:
        for statement in EARLIER_RELEASE:
            earlier.execute(statement)
        earlier.commit()
    async with sqlite_store(path) as store:
        with pytest.raises(ThreadExists):
            await store.create_thread("agui-1", "alice", {}, if_exists="raise")
        thread = await store.create_thread("agui-1", "alice", {"a": 1}, if_exists="do_nothing")
        assert (thread.owner, thread.status, thread.metadata) == ("alice", "idle", {})
        assert (thread.values, thread.interrupts) == (None, {})
        assert thread.updated_at == thread.created_at and thread.created_at.tzinfo is not None
        with pytest.raises(ThreadExists):
            await store.create_thread("agui-1", "bob", {}, if_exists="do_nothing")
        await store.create_thread("new", "alice", {}, if_exists="raise")
        found = await store.search_threads(
            "alice", ThreadFilter(), limit=10, offset=0, sort_by="created_at", descending=False
        )
        assert [t.thread_id for t in found] == ["agui-1", "new"]
        await insert(store, make_run("agui-1"), claim_for="w1", lease_s=LEASE_S)
        busy = await store.get_thread("agui-1", "alice")
        assert busy is not None and busy.status == "busy"


async def test_runs_and_events_outlive_the_process_that_held_them(tmp_path: Path) -> None:
    path = tmp_path / "orca.sqlite"
    running, waiting = make_run("t1", age_ms=10), make_run("t1")
    async with sqlite_store(path) as store:
        await store.create_thread("t1", "alice", {"topic": "a"}, if_exists="raise")
        await insert(store, running, claim_for="dead", lease_s=0.01)
        await insert(store, waiting, claim_for=None, lease_s=LEASE_S)
        await store.append_events(running.run_id, [StoredEvent(1, "metadata", b"{}")])
    # The process is gone; the next one opens the same file.
    async with sqlite_store(path) as store:
        thread = await store.get_thread("t1", "alice")
        assert thread is not None and (thread.status, thread.metadata) == ("busy", {"topic": "a"})
        assert await store.read_events(running.run_id, 0) == [StoredEvent(1, "metadata", b"{}")]
        assert await store.claim_next("w2", LEASE_S) is None  # t1 still runs, as far as known
        assert await expire_leases(store, max_attempts=3) == [running.run_id]
        resumed = await store.claim_next("w2", LEASE_S)
        assert resumed is not None and (resumed.run_id, resumed.attempt) == (running.run_id, 2)
        assert resumed.kwargs == running.kwargs and resumed.created_at == running.created_at
        assert not (
            await store.finish_run(running.run_id, "dead", 1, status="error", result=None)
        ).held
        assert (await store.finish_run(running.run_id, "w2", 2, status="success", result={})).held
        then = await store.claim_next("w2", LEASE_S)
        assert then is not None and (then.run_id, then.attempt) == (waiting.run_id, 1)
