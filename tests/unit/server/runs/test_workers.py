"""A worker's final write while the store is away, answers lost, and outcomes it refuses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from server.runs.events import END, EventLog, RunEvents
from server.runs.execute import Outcome
from server.runs.records import RunRecord
from server.runs.signals import Signals
from server.runs.workers import RunWorkers
from tests.doubles.flaky_store import FlakyStore

Execute = Callable[[RunRecord, RunEvents], Awaitable[Outcome]]


def workers_on(store: FlakyStore, execute: Execute, *, lease_s: float = 30.0) -> RunWorkers:
    signals = Signals()
    finished: list[str] = []

    async def after_run(run: RunRecord, outcome: Outcome, cancel_reason: str | None) -> None:
        finished.append(outcome.status)

    workers = RunWorkers(
        store,
        EventLog(store, signals, poll_s=0.05),
        signals,
        execute,
        slots=1,
        lease_s=lease_s,
        heartbeat_s=60,  # no renewal: the lease below is the one taken at the claim
        sweep_interval_s=60,
        poll_s=0.05,
        drain_s=0,
        max_attempts=3,
        timeout_s=60,
        after_run=after_run,
    )
    workers.finished = finished  # type: ignore[attr-defined]
    return workers


async def claimed(workers: RunWorkers, thread_id: str | None = None) -> RunRecord:
    """Insert a run claimed by `workers` (on a new thread unless given)."""
    if thread_id is None:
        thread = await workers.store.create_thread(
            str(uuid.uuid4()), "alice", {}, if_exists="raise"
        )
        thread_id = thread.thread_id
    run = RunRecord(str(uuid.uuid4()), thread_id, "g", "g", "alice", kwargs={})
    await workers.store.insert_run(run, claim_for=workers.id, lease_s=workers.lease_s)
    return run


def then_outage(store: FlakyStore, values: object, *, back_after_s: float | None) -> Execute:
    """Return an execute that emits one event, then takes the store away as it ends."""

    async def execute(run: RunRecord, events: RunEvents) -> Outcome:
        events.emit("values", values)
        store.down = True
        if back_after_s is not None:
            asyncio.get_running_loop().call_later(back_after_s, setattr, store, "down", False)
        return Outcome("success", values, values)

    return execute


async def events_of(store: FlakyStore, run_id: str) -> list[tuple[int, str]]:
    return [(event.seq, event.event) for event in await store.read_events(run_id, 0)]


async def test_an_outcome_whose_write_fails_in_an_outage_is_recorded_once_it_is_back() -> None:
    store = FlakyStore()
    workers = workers_on(store, then_outage(store, {"n": 1}, back_after_s=0.3))
    run = await claimed(workers)
    outcome = await asyncio.wait_for(workers.start_claimed(run), 10)
    assert outcome is not None and outcome.status == "success"
    assert store.failed["finish_run"] >= 1
    recorded = store.runs[run.run_id]
    assert (recorded.status, recorded.attempt) == ("success", 1)  # not left to a re-run
    assert await events_of(store, run.run_id) == [(1, "values"), (2, END)]
    assert workers.finished == ["success"]  # type: ignore[attr-defined]


async def test_a_final_write_that_committed_before_its_answer_was_lost_counts() -> None:
    store = FlakyStore()

    async def execute(run: RunRecord, events: RunEvents) -> Outcome:
        store.lose_answer.add("finish_run")
        return Outcome("success", {"n": 1}, {"n": 1})

    workers = workers_on(store, execute)
    run = await claimed(workers)
    outcome = await asyncio.wait_for(workers.start_claimed(run), 10)
    assert outcome is not None and outcome.status == "success"  # not "taken over"
    assert workers.finished == ["success"]  # type: ignore[attr-defined]
    assert await events_of(store, run.run_id) == [(1, END)]


async def test_past_its_lease_an_attempt_leaves_the_run_to_the_next_one() -> None:
    store = FlakyStore()
    workers = workers_on(store, then_outage(store, {"n": 1}, back_after_s=None), lease_s=0.3)
    run = await claimed(workers)
    assert await asyncio.wait_for(workers.start_claimed(run), 10) is None
    store.down = False
    # Still running, for the sweeper to requeue; nothing recorded, nothing half-written.
    assert store.runs[run.run_id].status == "running"
    assert await events_of(store, run.run_id) == []
    assert workers.events.lost == 1
    assert workers.finished == []  # type: ignore[attr-defined]


async def test_an_outcome_the_store_refuses_ends_the_run_in_error_and_frees_its_thread() -> None:
    store = FlakyStore()
    store.refuse_nul = True

    async def execute(run: RunRecord, events: RunEvents) -> Outcome:
        values = {"text": "before\x00after"}
        events.emit("values", values)  # the stream has it: events are bytes
        return Outcome("success", values, values)

    workers = workers_on(store, execute)
    run = await claimed(workers)
    outcome = await asyncio.wait_for(workers.start_claimed(run), 10)
    assert outcome is not None and outcome.status == "error"
    error = outcome.result["__error__"]
    assert error["error"] == "OutcomeUnstorable"
    assert "U+0000" in error["message"]
    recorded = store.runs[run.run_id]
    assert (recorded.status, recorded.result) == ("error", outcome.result)
    assert store.threads[run.thread_id].status == "error"
    assert store.threads[run.thread_id].values is None  # kept as before the run
    assert await events_of(store, run.run_id) == [(1, "values"), (2, "error"), (3, END)]
    next_run = await claimed(workers, run.thread_id)  # runs nothing any more: no ThreadBusy
    assert store.runs[next_run.run_id].status == "running"


async def test_a_queued_run_started_here_hands_its_task_to_whoever_awaits_it() -> None:
    store = FlakyStore()

    async def execute(run: RunRecord, events: RunEvents) -> Outcome:
        return Outcome("success", {"done": run.run_id})

    workers = workers_on(store, execute)
    thread = await store.create_thread(str(uuid.uuid4()), "alice", {}, if_exists="raise")
    queued = RunRecord(str(uuid.uuid4()), thread.thread_id, "g", "g", "alice", kwargs={})
    await store.insert_run(queued, claim_for=None, lease_s=workers.lease_s)
    with workers.awaiting_start(queued.run_id) as started:
        await workers.start()  # claims the queued run
        try:
            task = await asyncio.wait_for(started, 10)
            outcome = await task
        finally:
            await workers.stop()
    assert outcome is not None and outcome.result == {"done": queued.run_id}
