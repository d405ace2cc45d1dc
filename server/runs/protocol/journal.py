"""A thread's protocol events, run after run, from any point (`since`), as SSE.

An event stream follows the thread, not one run: it reads a run's events to its end,
then waits for the thread's next run (an `input.respond` resumes on the stream a client
already holds). Without `since` it starts at the thread's latest run, the replay the
JS SDK expects when it opens a stream after `run.start`; with `since` it starts at the
run that seq belongs to and sends only what came after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from server.runs.patience import transient
from server.runs.protocol.filters import EventFilter
from server.runs.protocol.mapping import RunMapper, ordinal_of
from server.runs.records import ACTIVE, RunRecord, StoredEvent
from server.runs.serde import dumps
from server.runs.service import RunsService
from server.runs.wire import HEARTBEAT, with_heartbeats

log = logging.getLogger("orca.runs")

MAX_RUNS = 100_000
"""Most runs of one thread the journal numbers (far more than any thread keeps)."""


@dataclass
class Bells:
    """Wake this process's event streams of a thread when a command starts a run there.

    Streams in other processes notice the new run at their next poll (`poll_s`).
    """

    _waiting: dict[str, set[asyncio.Event]] = field(default_factory=dict)

    def ring(self, thread_id: str) -> None:
        """Wake every stream of the thread waiting for its next run."""
        for event in self._waiting.get(thread_id, ()):
            event.set()

    @contextlib.contextmanager
    def watch(self, thread_id: str) -> Iterator[asyncio.Event]:
        """Yield an event set when the thread gets a new run, while the block lasts."""
        event = asyncio.Event()
        self._waiting.setdefault(thread_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._waiting.get(thread_id, set())
            waiting.discard(event)
            if not waiting:
                self._waiting.pop(thread_id, None)


async def thread_runs(runs: RunsService, thread_id: str) -> list[RunRecord]:
    """Return the thread's runs, oldest first (a run's ordinal is its place here, from 1)."""
    newest_first = await runs.events.patiently(
        lambda: runs.store.list_runs(thread_id, limit=MAX_RUNS, offset=0, status=None),
        f"listing the runs of thread {thread_id}",
    )
    return list(reversed(newest_first))


def graph_name(runs: RunsService, run: RunRecord) -> str:
    """Return the root graph's name in lifecycle events (the graph id)."""
    return run.graph_id


async def run_events(
    runs: RunsService, run: RunRecord, ordinal: int, mapper: RunMapper | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Yield the run's protocol events, following it until it is final."""
    mapper = mapper or RunMapper(ordinal, graph_name(runs, run))
    for event in mapper.start():
        yield event
    last = 0
    async for stored in runs.events.follow(run.run_id, is_active=runs.is_active(run.run_id)):
        last = stored.seq
        for event in mapper.take(stored):
            yield event
    final = await runs.events.patiently(
        lambda: runs.store.get_run(run.run_id), f"reading run {run.run_id}"
    )
    for event in mapper.finish(final.status if final else None, last + 1):
        yield event


async def replay(runs: RunsService, run: RunRecord, ordinal: int) -> RunMapper:
    """Read a run's events to now (not waiting for more); return the mapper's view of it."""
    mapper = RunMapper(ordinal, graph_name(runs, run))
    mapper.start()
    stored: list[StoredEvent] = await runs.events.patiently(
        lambda: runs.store.read_events(run.run_id, 0), f"reading events of run {run.run_id}"
    )
    for event in stored:
        mapper.take(event)
    final = await runs.store.get_run(run.run_id)
    if final is None or final.status not in ACTIVE:
        mapper.finish(final.status if final else None, stored[-1].seq + 1 if stored else 1)
    return mapper


async def journal(
    runs: RunsService, thread_id: str, since: int | None, bells: Bells, poll_s: float
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield the thread's protocol events after `since` (or from its latest run), forever."""
    with bells.watch(thread_id) as rung:
        known = await thread_runs(runs, thread_id)
        if since is not None:
            ordinal = max(1, ordinal_of(since))
        else:
            ordinal = max(1, len(known))
        while True:
            rung.clear()
            if ordinal <= len(known):
                async for event in run_events(runs, known[ordinal - 1], ordinal):
                    if since is None or event["seq"] > since:
                        yield event
                ordinal += 1
            else:
                with contextlib.suppress(TimeoutError):  # not wait_for: see RunWorkers
                    async with asyncio.timeout(poll_s):
                        await rung.wait()
            known = await thread_runs(runs, thread_id)


def frame(event: dict[str, Any]) -> bytes:
    """Encode a protocol event as an SSE frame (`id` the event id, `event` its method)."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        str(event["event_id"]).encode(),
        str(event["method"]).encode(),
        dumps(event),
    )


async def sse_body(
    runs: RunsService,
    thread_id: str,
    wanted: EventFilter,
    bells: Bells,
    *,
    poll_s: float,
    keepalive_s: float,
) -> AsyncIterator[bytes]:
    """Stream the filtered journal with heartbeats until the client goes away."""
    events = journal(runs, thread_id, wanted.since, bells, poll_s)
    try:
        async with contextlib.aclosing(with_heartbeats(events, keepalive_s)) as beats:
            async for event in beats:
                if event is None:
                    yield HEARTBEAT
                elif wanted.matches(event):
                    yield frame(event)
    except Exception as error:  # the store stayed away: say so, the client reconnects
        if not transient(error):
            log.error("protocol stream of thread %s failed", thread_id, exc_info=error)
        failure = {"type": "error", "id": None, "error": "unknown_error"}
        failure["message"] = "the event stream stopped; reconnect with `since`"
        yield b"event: error\ndata: %s\n\n" % dumps(failure)
