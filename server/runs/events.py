"""Each run's event stream: numbered, buffered for replay, readable from any process.

The process executing a run numbers its events (`seq`, the SSE `id`) and keeps them in
memory while the run lasts, so readers in the same process get them at once; a flusher
writes them to the store in batches (one INSERT per batch, not per event) and signals
other processes. How soon depends on who reads: a process that follows a run it does not
execute says so (`Signals.publish_reader`, again whenever it waited `poll_s` for nothing),
and that run's events are then written within `FLUSH_DELAY_S`; a run nobody outside this
process follows writes them every `QUIET_FLUSH_S`, and a short run only with its outcome
(runs benchmark: an INSERT per run at 16 concurrent `/wait`s, about 10% of the CPU).
A reader resuming with `Last-Event-ID: n` gets every event after `n`,
once: from the store for what was flushed, then from memory. Events stay in the store
for `ORCA_STREAM_BUFFER_TTL_S`. If a worker dies, the events it had not flushed are lost
with it; the next attempt continues the numbering after the last stored event, so a
reader never sees an id twice.

While the store is away (a database restart), a live attempt keeps its events queued and
retries writing them until they are stored or its lease is over (patience.py); past
`MAX_UNSTORED` queued events the run waits for the store (`pace`) instead of growing or
dropping the queue. Readers retry their reads for `READER_PATIENCE_S` at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import partial
from typing import TypeVar

from server.runs.patience import READER_PATIENCE_S, Deadline, patiently
from server.runs.records import RunStore, StoredEvent
from server.runs.serde import dumps
from server.runs.signals import Signals

T = TypeVar("T")

log = logging.getLogger("orca.runs")

END = "end"
"""The last event of every run (after `error`, when it failed)."""

FLUSH_DELAY_S = 0.05
"""How long a new event may wait to share its INSERT with the events that follow it, while
a process that does not execute the run follows it: that reader sees events up to this
late (readers here, at once)."""

QUIET_FLUSH_S = 1.0
"""The same for a run that no other process follows: what bounds how many events a worker
that dies takes with it, and how late a reader whose announcement was lost sees them."""

ANNOUNCED_RUNS = 4096
"""Most run ids remembered as followed from elsewhere (announcements may come before the
run starts here; the oldest are forgotten first)."""

MAX_UNSTORED = 10_000
"""Most events one attempt queues for a store that is not taking them (an outage): then
the run waits for the store (`RunEvents.pace`). Queued events are also in `events` for
this process's readers, so the queue itself costs a pointer per event."""


class RunEvents:
    """The events one attempt of a run emits in this process."""

    def __init__(
        self, log_: EventLog, run_id: str, last_seq: int, lease: Deadline | None = None
    ) -> None:
        self.log = log_
        self.run_id = run_id
        self.first_seq = last_seq + 1
        self.last_seq = last_seq
        """The seq of the newest numbered event."""
        self.lease = lease
        """How long writes of this attempt may be retried (None: a reader's patience)."""
        self.events: list[StoredEvent] = []
        self._unflushed: list[StoredEvent] = []
        """Emitted, not yet in the store: removed only once written."""
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        self._failure: Exception | None = None
        """Why the last flush gave up (the store stayed away past the lease)."""
        self.closed = False
        self.followed_elsewhere = run_id in log_.followed_elsewhere
        """A process that does not execute the run follows it: flush within FLUSH_DELAY_S."""

    @property
    def unstored(self) -> int:
        """Return how many emitted events the store does not have yet."""
        return len(self._unflushed)

    def draft(self, *events: tuple[str, object]) -> list[StoredEvent]:
        """Number events after the newest without taking the numbers (`finished` does).

        For the events of a run's final statement, which may have to be drafted again.
        """
        return [
            StoredEvent(self.last_seq + offset, event, b"" if data is None else dumps(data))
            for offset, (event, data) in enumerate(events, 1)
        ]

    def emit(self, event: str, data: object) -> None:
        """Number an event, show it to this process's readers and queue it for the store."""
        (stored,) = self.draft((event, data))
        self.last_seq = stored.seq
        self.events.append(stored)
        self._unflushed.append(stored)
        self.log.signals.wake_events(self.run_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(self._delay))

    @property
    def _delay(self) -> float:
        return FLUSH_DELAY_S if self.followed_elsewhere else QUIET_FLUSH_S

    def follow_elsewhere(self) -> None:
        """Record that another process follows this run: store its events sooner."""
        if self.followed_elsewhere:
            return
        self.followed_elsewhere = True
        flusher = self._flusher
        if flusher is not None and not flusher.done() and not self._flushing and not self.closed:
            flusher.cancel()  # still waiting out the quiet delay
            self._flusher = asyncio.create_task(self._flush_soon(FLUSH_DELAY_S))

    async def pace(self) -> None:
        """Wait while `MAX_UNSTORED` events wait for the store, so the queue stays bounded.

        Raises:
            Exception: the store's error, once writing gave up (the lease is over).
        """
        while len(self._unflushed) >= MAX_UNSTORED:
            flusher = self._flusher
            if flusher is None or flusher.done():
                if self._failure is not None:
                    raise self._failure
                flusher = self._flusher = asyncio.create_task(self._flush_soon(0))
            await asyncio.wait([flusher])

    async def _flush_soon(self, delay: float = FLUSH_DELAY_S) -> None:
        await asyncio.sleep(delay)
        self._flushing = True
        try:
            await self.flush()
        except Exception as error:
            # The events stay queued: the run's final statement carries them, or, if the
            # attempt is abandoned, `discard` counts them lost.
            self._failure = error
            log.warning("could not buffer events of run %s yet: %s", self.run_id, error)
        finally:
            self._flushing = False

    async def flush(self) -> None:
        """Write the queued events to the store, retrying while it is away.

        Raises:
            Exception: the store's error, when it stayed away past the lease (the events
                stay queued).
        """
        while self._unflushed:
            batch = list(self._unflushed)
            await patiently(
                partial(self.log.store.append_events, self.run_id, batch),
                until=self.lease or Deadline(self.log.patience_s),
                what=f"buffering {len(batch)} events of run {self.run_id}",
            )
            del self._unflushed[: len(batch)]  # `emit` only appends meanwhile
            self._failure = None
            # Readers here were woken at `emit`; the store told the other processes.

    async def settle(self) -> list[StoredEvent]:
        """Stop the flusher; return the events not yet stored, for the final statement.

        A flush already writing is waited for (retrying, while the store is away); one
        still waiting for company is dropped. The events stay queued until `finished`.
        """
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            if not self._flushing:
                flusher.cancel()
            await asyncio.wait([flusher])
        return list(self._unflushed)

    def finished(self, final: list[StoredEvent]) -> None:
        """Record that the run's final statement stored the queue and `final` (drafted).

        Readers here get `final`, then fall back to the store.
        """
        self.closed = True
        self._unflushed.clear()
        self.last_seq = max(self.last_seq, final[-1].seq) if final else self.last_seq
        self.events.extend(final)
        self.log.forget(self)  # wakes this process's readers

    async def close(self) -> None:
        """Flush everything, then let readers fall back to the store."""
        self.closed = True
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            # `wait`, not `suppress(CancelledError)`: that would also swallow a cancel of
            # the caller (a worker being stopped), which then never stopped.
            await asyncio.wait([self._flusher])
        try:
            await self.flush()  # a write cut by the cancel is sent again (idempotent)
        except Exception as error:
            self._lose(f"the store stayed away ({error})")
        self.log.forget(self)

    def discard(self) -> None:
        """Drop this attempt's unflushed events and stop serving it from memory.

        For an attempt that lost its lease: a newer attempt numbers its events after the
        stored ones, so flushing these late could collide with them.
        """
        self.closed = True
        if self._flusher is not None:
            self._flusher.cancel()
        self._lose("the attempt was abandoned")
        self.log.forget(self)

    def _lose(self, why: str) -> None:
        if self._unflushed:
            self.log.lost += len(self._unflushed)
            log.warning(
                "run %s: %d events (from seq %d) were never stored: %s; the next attempt's "
                "stream continues after seq %d",
                self.run_id,
                len(self._unflushed),
                self._unflushed[0].seq,
                why,
                self._unflushed[0].seq - 1,
            )
            self._unflushed.clear()


class EventLog:
    """Where runs write their events and readers follow them."""

    def __init__(
        self,
        store: RunStore,
        signals: Signals,
        *,
        poll_s: float = 1.0,
        patience_s: float = READER_PATIENCE_S,
    ) -> None:
        self.store = store
        self.signals = signals
        self.poll_s = poll_s
        self.patience_s = patience_s
        """How long one read keeps being retried while the store is away."""
        self.lost = 0
        """Events emitted in this process that never reached the store (a metric)."""
        self._live: dict[str, RunEvents] = {}
        self.followed_elsewhere: OrderedDict[str, None] = OrderedDict()
        """Runs a process that does not execute them said it follows (newest last)."""
        signals.on_reader(self._followed_elsewhere)

    def _followed_elsewhere(self, run_id: str) -> None:
        self.followed_elsewhere[run_id] = None
        self.followed_elsewhere.move_to_end(run_id)
        while len(self.followed_elsewhere) > ANNOUNCED_RUNS:
            self.followed_elsewhere.popitem(last=False)
        live = self._live.get(run_id)
        if live is not None:
            live.follow_elsewhere()

    @property
    def unstored(self) -> int:
        """Return how many events of this process's attempts wait for the store (a metric)."""
        return sum(events.unstored for events in self._live.values())

    async def patiently(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """Await a reader's `call()`, retried while the store is away, for `patience_s`."""
        return await patiently(call, until=Deadline(self.patience_s), what=what)

    async def open(
        self, run_id: str, *, first_attempt: bool = False, lease: Deadline | None = None
    ) -> RunEvents:
        """Start the events of a run's attempt, numbered after what is already stored.

        A run's first attempt has nothing stored: no need to ask the store. `lease`
        bounds how long this attempt's writes are retried.
        """
        last_seq = 0
        if not first_attempt:
            last_seq = await patiently(
                partial(self.store.last_event_seq, run_id),
                until=lease or Deadline(self.patience_s),
                what=f"reading the last event of run {run_id}",
            )
        events = RunEvents(self, run_id, last_seq, lease)
        self._live[run_id] = events
        return events

    def forget(self, events: RunEvents) -> None:
        """Drop a finished attempt's in-memory events (they are in the store)."""
        if self._live.get(events.run_id) is events:
            del self._live[events.run_id]
        self.followed_elsewhere.pop(events.run_id, None)
        self.signals.wake_events(events.run_id)

    async def _read(self, run_id: str, after: int) -> list[StoredEvent]:
        live = self._live.get(run_id)
        if live is not None and after >= live.first_seq - 1:
            return [event for event in live.events if event.seq > after]
        stored = await self.patiently(
            partial(self.store.read_events, run_id, after), f"reading events of run {run_id}"
        )
        live = self._live.get(run_id)
        if live is not None:
            newest = stored[-1].seq if stored else after
            stored += [event for event in live.events if event.seq > newest]
        return stored

    async def follow(
        self,
        run_id: str,
        *,
        after: int = 0,
        is_active: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncGenerator[StoredEvent, None]:
        """Yield the run's events after `after` until its `end` event.

        `is_active` is an async callable that says whether the run can still emit; when it
        cannot and nothing is left to read, following stops (a run that ended before its
        events were buffered, or whose buffer expired). Reads are retried while the store
        is away (`patience_s` each).

        Raises:
            Exception: the store's error, when it stayed away longer than `patience_s`.
        """
        last = after
        end_by = 0.0
        announce = True
        with self.signals.watch_events(run_id) as wake:
            while True:
                if announce and run_id not in self._live:
                    # Executed elsewhere (or not started yet): ask for its events sooner.
                    await self.signals.publish_reader(run_id)
                announce = False
                wake.clear()
                batch = await self._read(run_id, last)
                for event in batch:
                    yield event
                    last = event.seq
                    if event.event == END:
                        return
                if batch:
                    continue
                if is_active is not None and not await self.patiently(
                    is_active, f"reading the status of run {run_id}"
                ):
                    now = asyncio.get_running_loop().time()
                    if run_id in self._live:
                        # Recorded final, but this process emits its `end` only after
                        # writing the outcome: wait for it (at most `poll_s`, should the
                        # attempt never close) rather than stop short.
                        end_by = end_by or now + self.poll_s
                    if run_id not in self._live or now >= end_by:
                        # One more read: the end may have been flushed just now.
                        if not await self._read(run_id, last):
                            return
                        continue
                try:
                    async with asyncio.timeout(self.poll_s):  # not wait_for: see RunWorkers
                        await wake.wait()
                except TimeoutError:
                    announce = True  # nothing for a while: say it again (it may be lost)
