"""A run's stream while the store is away: nothing dropped, a bounded queue, patient readers."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from server.runs import events as events_module
from server.runs.events import END, EventLog
from server.runs.patience import Lease
from server.runs.records import StoredEvent
from server.runs.signals import Signals
from tests.doubles.flaky_store import FlakyStore
from tests.support import eventually


def event_log(store: FlakyStore, patience_s: float = 10.0) -> EventLog:
    return EventLog(store, Signals(), poll_s=0.05, patience_s=patience_s)


async def stored(store: FlakyStore, run_id: str) -> list[int]:
    return [event.seq for event in await store.read_events(run_id, 0)]


async def test_events_emitted_while_the_store_is_away_are_stored_once_it_is_back() -> None:
    store = FlakyStore()
    log = event_log(store)
    events = await log.open("run-1", first_attempt=True, lease=Lease(30))
    events.emit("values", {"n": 1})
    await events.flush()
    store.down = True
    for n in range(2, 6):
        events.emit("values", {"n": n})
    await eventually(lambda: store.failed["append_events"] >= 2)  # retrying, not dropping
    assert log.unstored == 4
    store.down = False
    await eventually(lambda: log.unstored == 0)
    assert await stored(store, "run-1") == [1, 2, 3, 4, 5]  # no hole, nothing twice
    assert log.lost == 0


async def test_a_batch_whose_answer_was_lost_is_sent_again_without_duplicates() -> None:
    store = FlakyStore()
    events = await event_log(store).open("run-1", first_attempt=True, lease=Lease(30))
    store.lose_answer.add("append_events")  # committed, then the connection died
    events.emit("values", {"n": 1})
    events.emit("values", {"n": 2})
    await events.close()
    assert await stored(store, "run-1") == [1, 2]


async def test_a_run_waits_for_the_store_once_its_queue_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_module, "MAX_UNSTORED", 3)
    store = FlakyStore()
    events = await event_log(store).open("run-1", first_attempt=True, lease=Lease(30))
    store.down = True
    for n in range(3):
        events.emit("values", {"n": n})
    paced = asyncio.create_task(events.pace())
    await eventually(lambda: store.failed["append_events"] >= 2)
    assert not paced.done()  # the run waits instead of queueing more
    store.down = False
    await asyncio.wait_for(paced, 10)
    assert events.unstored == 0


async def test_events_the_store_never_took_within_the_lease_are_counted_lost() -> None:
    store = FlakyStore()
    log = event_log(store)
    events = await log.open("run-1", first_attempt=True, lease=Lease(0.2))
    store.down = True
    events.emit("values", {"n": 1})
    await events.close()  # gives up when the lease is over
    assert log.lost == 1
    assert log.unstored == 0


async def test_a_reader_in_another_process_rides_out_an_outage() -> None:
    store = FlakyStore()
    run_id = "run-1"
    await store.append_events(run_id, [StoredEvent(1, "values", b"{}")])
    reader_log = event_log(store)  # another process: nothing of the run in its memory
    seen: list[str] = []

    async def read() -> None:
        async for event in reader_log.follow(run_id):
            seen.append(event.event)

    store.down = True
    reader = asyncio.create_task(read())
    await eventually(lambda: store.failed["read_events"] >= 2)
    store.down = False
    await eventually(lambda: seen == ["values"])
    await store.append_events(run_id, [StoredEvent(2, END, b"")])
    reader_log.signals.wake_events(run_id)  # what the store's NOTIFY does
    await asyncio.wait_for(reader, 10)
    assert seen == ["values", END]


async def test_a_reader_stops_with_the_stores_error_after_its_patience() -> None:
    store = FlakyStore()
    store.down = True
    reader_log = event_log(store, patience_s=0.2)
    with pytest.raises(psycopg.OperationalError):
        async for _ in reader_log.follow("run-1"):
            pass
    assert store.failed["read_events"] > 1


async def test_a_run_followed_from_another_process_is_stored_without_waiting_for_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_module, "QUIET_FLUSH_S", 60.0)
    store = FlakyStore()
    executing = event_log(store)
    events = await executing.open("run-1", first_attempt=True, lease=Lease(30))
    events.emit("values", {"n": 1})
    await asyncio.sleep(0.2)
    assert await stored(store, "run-1") == []  # nobody else reads: it may ride the outcome

    class OtherProcess(Signals):
        """What PgSignals carries: this process's announcement reaches the executing one."""

        async def publish_reader(self, run_id: str) -> None:
            executing.signals.wake_reader(run_id)

    async def first_event() -> str:
        async for event in EventLog(store, OtherProcess(), poll_s=0.05).follow("run-1"):
            return event.event
        return END

    assert await asyncio.wait_for(first_event(), 10) == "values"
    assert events.followed_elsewhere


async def test_a_run_announced_before_it_starts_here_is_followed_from_its_first_event() -> None:
    log = event_log(FlakyStore())
    log.signals.wake_reader("run-2")  # a client streams a queued run through another process
    assert (await log.open("run-2", first_attempt=True)).followed_elsewhere
    assert not (await log.open("run-3", first_attempt=True)).followed_elsewhere
