"""Thread TTLs in the run store, held by the memory store, SQLite and PostgreSQL alike.

A TTL of negative minutes puts the expiry in the past at once: the store takes what the
API has already checked, so these tests need no clock to move.
"""

from __future__ import annotations

import pytest

from server.runs.pg_store import PostgresRunStore
from server.runs.records import RunStore, ThreadExpiry
from tests.integration import test_run_store as contract
from tests.integration.test_run_store import insert, make_run

stores = contract.stores  # the run store contract's stores: memory, SQLite, PostgreSQL
store = contract.store

PAST = ThreadExpiry("delete", -1.0)
"""Expired a minute ago."""


async def expired_ids(store: RunStore) -> list[str]:
    return [thread.thread_id for thread in await store.expired_threads(100)]


async def test_a_new_thread_keeps_its_ttl(store: RunStore) -> None:
    thread = await store.create_thread(
        "t-ttl", "alice", {}, if_exists="raise", ttl=ThreadExpiry("keep_latest", 60.0)
    )
    read = await store.get_thread("t-ttl", "alice")
    assert read is not None
    for found in (thread, read):
        assert found.ttl_strategy == "keep_latest"
        assert found.ttl_minutes == 60.0
        assert found.expires_at is not None
        seconds = (found.expires_at - found.created_at).total_seconds()
        assert 3590 < seconds < 3610
    info = read.ttl()
    assert info is not None and info["strategy"] == "keep_latest" and info["ttl_minutes"] == 60


async def test_a_thread_without_ttl_never_expires(store: RunStore) -> None:
    thread = await store.create_thread("t-forever", "alice", {}, if_exists="raise")
    assert thread.expires_at is None and thread.ttl() is None
    assert await expired_ids(store) == []


async def test_do_nothing_leaves_an_existing_threads_ttl(store: RunStore) -> None:
    await store.create_thread("t-kept", "alice", {}, if_exists="raise")
    again = await store.create_thread("t-kept", "alice", {}, if_exists="do_nothing", ttl=PAST)
    assert again.expires_at is None
    assert await expired_ids(store) == []


async def test_set_ttl_counts_from_now_and_only_for_the_owner(store: RunStore) -> None:
    await store.create_thread("t-set", "alice", {}, if_exists="raise")
    assert await store.set_thread_ttl("t-set", "bob", PAST) is None
    assert await expired_ids(store) == []
    updated = await store.set_thread_ttl("t-set", "alice", PAST)
    assert updated is not None and updated.ttl_strategy == "delete"
    assert await expired_ids(store) == ["t-set"]
    await store.set_thread_ttl("t-set", "alice", ThreadExpiry("delete", 30.0))
    assert await expired_ids(store) == []


async def test_expired_threads_skip_busy_ones_and_come_oldest_first(store: RunStore) -> None:
    await store.create_thread(
        "t-old", "alice", {}, if_exists="raise", ttl=ThreadExpiry("delete", -5)
    )
    await store.create_thread("t-new", "alice", {}, if_exists="raise", ttl=PAST)
    await store.create_thread("t-busy", "alice", {}, if_exists="raise", ttl=PAST)
    run = make_run("t-busy")
    await insert(store, run, claim_for=None, lease_s=30.0)  # pending: waits until idle
    assert await expired_ids(store) == ["t-old", "t-new"]
    assert [t.thread_id for t in await store.expired_threads(1)] == ["t-old"]
    await store.delete_run(run.run_id)
    assert await expired_ids(store) == ["t-old", "t-new", "t-busy"]


async def test_one_process_sweeps_at_a_time(stores: tuple[RunStore, RunStore]) -> None:
    first, second = stores
    async with first.sweep_turn() as ours:
        assert ours
        if not isinstance(first, PostgresRunStore):
            return  # one process on these threads: nobody to take turns with
        async with second.sweep_turn() as theirs:
            assert not theirs
    async with second.sweep_turn() as theirs:
        assert theirs


@pytest.mark.parametrize("minutes", [0.5, 1.5])
async def test_fractions_of_minutes_are_kept(store: RunStore, minutes: float) -> None:
    thread = await store.create_thread(
        f"t-{minutes}", "alice", {}, if_exists="raise", ttl=ThreadExpiry("delete", minutes)
    )
    assert thread.expires_at is not None
    seconds = (thread.expires_at - thread.created_at).total_seconds()
    assert abs(seconds - minutes * 60) < 5
