"""Each run's event stream: numbered, buffered for replay, readable from any process.

The process executing a run numbers its events (`seq`, the SSE `id`) and keeps them in
memory while the run lasts, so readers in the same process get them at once; a flusher
writes them to the store in batches (one INSERT per batch, not per event) and signals
other processes. A reader resuming with `Last-Event-ID: n` gets every event after `n`,
once: from the store for what was flushed, then from memory. Events stay in the store
for `ORCA_STREAM_BUFFER_TTL_S`. If a worker dies, the events it had not flushed are lost
with it; the next attempt continues the numbering after the last stored event, so a
reader never sees an id twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from server.runs.records import RunStore, StoredEvent
from server.runs.serde import dumps
from server.runs.signals import Signals

log = logging.getLogger("orca.runs")

END = "end"
"""The last event of every run (after `error`, when it failed)."""

FLUSH_DELAY_S = 0.05
"""How long a new event may wait to share its INSERT with the events that follow it:
readers in other processes see events up to this late (readers here, at once). Most
short runs end within it, and their events then ride the run's final statement."""


class RunEvents:
    """The events one attempt of a run emits in this process."""

    def __init__(self, log_: EventLog, run_id: str, last_seq: int) -> None:
        self.log = log_
        self.run_id = run_id
        self.first_seq = last_seq + 1
        self.last_seq = last_seq
        """The seq of the newest numbered event."""
        self.events: list[StoredEvent] = []
        self._unflushed: list[StoredEvent] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        self.closed = False

    def number(self, event: str, data: object) -> StoredEvent:
        """Number an event without showing it to anyone yet (see `show`)."""
        self.last_seq += 1
        return StoredEvent(self.last_seq, event, b"" if data is None else dumps(data))

    def show(self, events: list[StoredEvent]) -> None:
        """Show numbered events, already in the store, to this process's readers."""
        self.events.extend(events)
        self.log.signals.wake_events(self.run_id)

    def emit(self, event: str, data: object) -> None:
        """Number an event, show it to this process's readers and queue it for the store."""
        stored = self.number(event, data)
        self.events.append(stored)
        self._unflushed.append(stored)
        self.log.signals.wake_events(self.run_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_DELAY_S)
        self._flushing = True
        try:
            await self.flush()
        finally:
            self._flushing = False

    async def settle(self) -> list[StoredEvent]:
        """Stop the flusher and return the events not yet stored, for the caller to store.

        A flush already writing is waited for; one still waiting for company is dropped.
        """
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            if not self._flushing:
                flusher.cancel()
            await asyncio.wait([flusher])
        batch, self._unflushed = self._unflushed, []
        return batch

    async def flush(self) -> None:
        """Write the queued events to the store and tell other processes."""
        while self._unflushed:
            batch, self._unflushed = self._unflushed, []
            try:
                await self.log.store.append_events(self.run_id, batch)
            except Exception:
                # Readers in this process still have them; other processes miss them.
                log.exception("could not buffer %d events of run %s", len(batch), self.run_id)
                return
            # Readers here were woken at `emit`; the store told the other processes.

    async def close(self) -> None:
        """Flush everything, then let readers fall back to the store."""
        self.closed = True
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            # `wait`, not `suppress(CancelledError)`: that would also swallow a cancel of
            # the caller (a worker being stopped), which then never stopped.
            await asyncio.wait([self._flusher])
        await self.flush()
        self.log.forget(self)

    def discard(self) -> None:
        """Drop this attempt's unflushed events and stop serving it from memory.

        For an attempt that lost its lease: a newer attempt numbers its events after the
        stored ones, so flushing these late could collide with them.
        """
        self.closed = True
        if self._flusher is not None:
            self._flusher.cancel()
        self._unflushed.clear()
        self.log.forget(self)


class EventLog:
    """Where runs write their events and readers follow them."""

    def __init__(self, store: RunStore, signals: Signals, *, poll_s: float = 1.0) -> None:
        self.store = store
        self.signals = signals
        self.poll_s = poll_s
        self._live: dict[str, RunEvents] = {}

    async def open(self, run_id: str, *, first_attempt: bool = False) -> RunEvents:
        """Start the events of a run's attempt, numbered after what is already stored.

        A run's first attempt has nothing stored: no need to ask the store.
        """
        last_seq = 0 if first_attempt else await self.store.last_event_seq(run_id)
        events = RunEvents(self, run_id, last_seq)
        self._live[run_id] = events
        return events

    def forget(self, events: RunEvents) -> None:
        """Drop a finished attempt's in-memory events (they are in the store)."""
        if self._live.get(events.run_id) is events:
            del self._live[events.run_id]
        self.signals.wake_events(events.run_id)

    async def _read(self, run_id: str, after: int) -> list[StoredEvent]:
        live = self._live.get(run_id)
        if live is not None and after >= live.first_seq - 1:
            return [event for event in live.events if event.seq > after]
        stored = await self.store.read_events(run_id, after)
        live = self._live.get(run_id)
        if live is not None:
            newest = stored[-1].seq if stored else after
            stored += [event for event in live.events if event.seq > newest]
        return stored

    async def follow(
        self, run_id: str, *, after: int = 0, is_active: object = None
    ) -> AsyncIterator[StoredEvent]:
        """Yield the run's events after `after` until its `end` event.

        `is_active` is an async callable that says whether the run can still emit; when it
        cannot and nothing is left to read, following stops (a run that ended before its
        events were buffered, or whose buffer expired).
        """
        last = after
        end_by = 0.0
        with self.signals.watch_events(run_id) as wake:
            while True:
                wake.clear()
                batch = await self._read(run_id, last)
                for event in batch:
                    yield event
                    last = event.seq
                    if event.event == END:
                        return
                if batch:
                    continue
                if is_active is not None and not await is_active():  # type: ignore[operator]
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self.poll_s)
