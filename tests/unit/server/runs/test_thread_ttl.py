"""Thread TTLs: what a `ttl` may be, `ORCA_THREAD_TTL`, and what one sweep does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from server.auth.identity import Identity
from server.runs.memory_store import MemoryRunStore
from server.runs.records import RunRecord, ThreadExpiry, ThreadRecord, now
from server.runs.schema import ThreadCreate, ThreadPatch
from server.runs.thread_sweeper import ThreadSweeper
from server.runs.thread_ttl_config import ThreadTTLConfig
from server.settings import Settings

PAST = ThreadExpiry("delete", -1.0)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"ttl": 60, "strategy": "delete"}, ThreadExpiry("delete", 60)),  # langgraph-sdk's
        ({"ttl": 1.5}, ThreadExpiry("delete", 1.5)),
        ({"ttl": 30, "strategy": "keep_latest"}, ThreadExpiry("keep_latest", 30)),
    ],
)
def test_a_ttl_is_minutes_and_a_strategy(sent: dict[str, Any], kept: ThreadExpiry) -> None:
    for body in (ThreadCreate, ThreadPatch):
        ttl = body.model_validate({"ttl": sent}).ttl
        assert ttl is not None and ttl.expiry() == kept


@pytest.mark.parametrize(
    "sent",
    [
        60,  # the SDK sends an object; a bare number is no TTL object
        {"strategy": "delete"},  # no minutes
        {"ttl": 0},  # shorter than a second
        {"ttl": -1},
        {"ttl": 10**12},  # past a century: dates overflow
        {"ttl": "60"},
        {"ttl": True},
        {"ttl": 5, "strategy": "forever"},
    ],
)
def test_an_invalid_ttl_is_refused(sent: Any) -> None:
    for body in (ThreadCreate, ThreadPatch):
        with pytest.raises(ValidationError, match="ttl"):
            body.model_validate({"ttl": sent})


def test_no_ttl_is_no_ttl() -> None:
    assert ThreadCreate.model_validate({"ttl": None}).ttl is None
    assert ThreadPatch.model_validate({}).ttl is None


def test_thread_ttl_setting_reads_json() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        thread_ttl='{"strategy": "keep_latest", "default_ttl": 60, "sweep_interval_minutes": 1}',
    )
    assert settings.thread_ttl.default() == ThreadExpiry("keep_latest", 60)
    assert settings.thread_ttl.sweep_interval_minutes == 1
    assert ThreadTTLConfig().default() is None  # no default: threads never expire


@pytest.mark.parametrize(
    "sent",
    [
        {"default_ttl": 0},
        {"strategy": "forever"},
        {"sweep_interval_minutes": 0},
        {"sweep_limit": 0},
        {"ttl": 60},  # langgraph.json's key is default_ttl
    ],
)
def test_a_wrong_thread_ttl_setting_is_refused(sent: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ThreadTTLConfig.model_validate(sent)


def test_the_ttl_shown_is_langgraph_apis_thread_ttl_info() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    thread = ThreadRecord("t", "alice", ttl_strategy="delete", ttl_minutes=60, expires_at=at)
    assert thread.ttl() == {
        "strategy": "delete",
        "ttl_minutes": 60,
        "expires_at": "2030-01-02T03:04:05+00:00",
    }
    assert ThreadRecord("t", "alice").ttl() is None


class FakeRuns:
    """What the sweeper uses of `RunsService`: its store, deleting, a thread's graph."""

    def __init__(self) -> None:
        self.store = MemoryRunStore()
        self.deleted: list[tuple[str, str]] = []

    async def delete_thread(self, identity: Identity, thread_id: str) -> None:
        self.deleted.append((identity.id, thread_id))
        await self.store.delete_thread(thread_id, identity.id)

    def graph_of(self, thread: ThreadRecord) -> None:
        return None  # no run yet: nothing to prune


def sweeper(runs: FakeRuns) -> ThreadSweeper:
    return ThreadSweeper(runs, ThreadTTLConfig())  # type: ignore[arg-type]


async def test_a_sweep_deletes_expired_threads_as_their_owner() -> None:
    runs = FakeRuns()
    await runs.store.create_thread("old", "alice", {}, if_exists="raise", ttl=PAST)
    await runs.store.create_thread(
        "young", "bob", {}, if_exists="raise", ttl=ThreadExpiry("delete", 5)
    )
    await runs.store.create_thread("forever", "bob", {}, if_exists="raise")
    report = await sweeper(runs).sweep_once()
    assert (report.deleted, report.pruned) == (1, 0)
    assert runs.deleted == [("alice", "old")]
    assert sorted(runs.store.threads) == ["forever", "young"]


async def test_keep_latest_keeps_the_thread_and_counts_again() -> None:
    runs = FakeRuns()
    ttl = ThreadExpiry("keep_latest", 5.0)
    await runs.store.create_thread("kept", "alice", {}, if_exists="raise", ttl=ttl)
    runs.store.threads["kept"].expires_at = now() - timedelta(minutes=1)
    report = await sweeper(runs).sweep_once()
    assert (report.deleted, report.pruned) == (0, 1)
    assert runs.store.threads["kept"].expires_at is not None
    assert await runs.store.expired_threads(10) == []  # five minutes again, from now


async def test_a_thread_that_started_a_run_waits() -> None:
    runs = FakeRuns()
    await runs.store.create_thread("busy", "alice", {}, if_exists="raise", ttl=PAST)
    run = RunRecord("r", "busy", "echo", "echo", "alice", kwargs={})
    found = await runs.store.expired_threads(10)
    await runs.store.insert_run(run, claim_for=None, lease_s=30)

    async def stale(limit: int) -> list[ThreadRecord]:
        return found  # searched before the run was queued

    runs.store.expired_threads = stale  # type: ignore[method-assign]
    assert (await sweeper(runs).sweep_once()).deleted == 0
    assert "busy" in runs.store.threads


async def test_no_sweep_while_another_process_sweeps() -> None:
    runs = FakeRuns()
    await runs.store.create_thread("old", "alice", {}, if_exists="raise", ttl=PAST)

    @asynccontextmanager
    async def theirs() -> AsyncIterator[bool]:
        yield False

    runs.store.sweep_turn = theirs  # type: ignore[method-assign]
    assert (await sweeper(runs).sweep_once()).deleted == 0
    assert "old" in runs.store.threads
