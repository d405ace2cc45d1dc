"""Waiting for a run to end, wherever it runs: the `/wait` of every surface.

A run this process executes is awaited as its task; one another process executes (or one
still queued) is followed through its stored events until the store says it is final.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from server.runs.events import EventLog
from server.runs.execute import Outcome
from server.runs.records import ACTIVE, RunRecord, RunStore
from server.runs.signals import Signals
from server.runs.workers import RunWorkers


def active_check(store: RunStore, run_id: str) -> Callable[[], Awaitable[bool]]:
    """Return an async callable telling whether the run is pending or running."""

    async def is_active() -> bool:
        run = await store.get_run(run_id)
        return run is not None and run.status in ACTIVE

    return is_active


STOPPING_S = 5.0
"""How long a thread's deletion waits for the runs it cancelled to stop."""


async def stopped(
    wait: Callable[[RunRecord, None], Awaitable[object]], runs: list[RunRecord]
) -> None:
    """Wait, at most `STOPPING_S`, for cancelled runs to end.

    A cancelled run's last write (LangGraph's `__error__` for its cancelled task) landed
    after a thread's deletion had removed its checkpoints: rows of a thread that no longer
    existed. A run whose worker died ends only when its lease does: not waited for.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOPPING_S):
            for run in runs:
                if run.status == "running":  # a pending one wrote nothing
                    await wait(run, None)


@dataclass(frozen=True)
class RunWaiter:
    """What a wait needs: the store, the event log, the signals and this process's workers."""

    store: RunStore
    events: EventLog
    signals: Signals
    workers: RunWorkers

    async def wait(self, run: RunRecord, task: asyncio.Task[Outcome | None] | None) -> RunRecord:
        """Wait until the run is final; return its record (its `result` is the answer)."""
        if task is None and run.status == "pending":
            task = await self._started_here(run.run_id)
        if task is not None:
            try:
                outcome = await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # the caller went away, not the attempt
                outcome = None  # the attempt stopped (lease lost, shutdown): see what is next
            if outcome is not None:  # executed and recorded here
                run.status, run.result = outcome.status, outcome.result
                return run
        else:
            await self._follow_to_end(run.run_id)
        while True:
            # Reads retried while the store is away (issue 17): a `/wait` rides out a restart.
            final = await self.events.patiently(
                partial(self.store.get_run, run.run_id), f"reading run {run.run_id}"
            )
            if final is None or final.status not in ACTIVE:
                return final or run
            # Requeued after a worker died, or not started yet: follow its next attempt.
            await self._follow_to_end(run.run_id)

    async def _started_here(self, run_id: str) -> asyncio.Task[Outcome | None] | None:
        """Wait (up to `poll_s`) for this process to start a run it queued; return its task.

        Under load most runs are queued and claimed by the process that queued them; their
        `/wait` then awaits the attempt as an unqueued run does, instead of following its
        events through the store (about half the statements of such a run at 64 concurrent
        `/wait`s on 32 slots). None as soon as the run has news from anywhere else (another
        process started it), or after `poll_s`: then the store is followed.
        """
        with (
            self.workers.awaiting_start(run_id) as started,
            self.signals.watch_events(run_id) as news,
        ):
            heard: asyncio.Future[Any] = asyncio.ensure_future(news.wait())
            try:
                await asyncio.wait(
                    [started, heard], timeout=self.events.poll_s, return_when="FIRST_COMPLETED"
                )
            finally:
                heard.cancel()
            return started.result() if started.done() else None

    async def _follow_to_end(self, run_id: str) -> None:
        after = await self.events.patiently(
            partial(self.store.last_event_seq, run_id), f"reading events of run {run_id}"
        )
        async for _ in self.events.follow(
            run_id, after=after, is_active=active_check(self.store, run_id)
        ):
            pass
