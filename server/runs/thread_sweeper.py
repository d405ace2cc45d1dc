"""Expire threads whose TTL has passed: langgraph-api's `sweep_ttl`, every few minutes.

An expired thread with the `delete` strategy goes exactly as `DELETE /threads/{id}` takes
it (`RunsService.delete_thread`: checkpoints, runs, stream buffers, crons); `keep_latest`
prunes it as `POST /threads/prune` does and starts its TTL again, so a thread still in use
keeps being trimmed. A thread with a pending or running run is left for a later sweep
once it is idle: the store never returns it, and it is checked again just before, in case
a run started since. The sweep acts as the thread's owner without the project's auth
handlers: the owner set the TTL, and langgraph-api's sweeper runs with no auth context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from server.auth.identity import Identity
from server.runs.lookup import NotFound
from server.runs.pruning import keep_latest
from server.runs.records import ThreadExpiry, ThreadRecord
from server.runs.service import RunsService
from server.runs.thread_ttl_config import ThreadTTLConfig

log = logging.getLogger("orca.runs")


@dataclass
class SweepReport:
    """What one sweep did."""

    deleted: int = 0
    pruned: int = 0


@dataclass
class ThreadSweeper:
    """Sweep expired threads now (`sweep_once`) or every `sweep_interval_minutes` (`start`)."""

    runs: RunsService
    config: ThreadTTLConfig
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def sweep_once(self) -> SweepReport:
        """Expire up to `sweep_limit` threads; none while another process sweeps."""
        report = SweepReport()
        async with self.runs.store.sweep_turn() as ours:
            if not ours:
                return report
            for thread in await self.runs.store.expired_threads(self.config.sweep_limit):
                try:
                    await self._expire(thread, report)
                except Exception:  # one thread's failure must not keep the others forever
                    log.exception("could not expire thread %s", thread.thread_id)
        return report

    async def _expire(self, thread: ThreadRecord, report: SweepReport) -> None:
        if await self.runs.store.active_runs(thread.thread_id):
            return  # a run started since the search: the thread waits until it is idle
        if thread.ttl_strategy != "keep_latest":
            with contextlib.suppress(NotFound):  # deleted meanwhile, by its owner or a peer
                await self.runs.delete_thread(Identity(thread.owner, "custom"), thread.thread_id)
                report.deleted += 1
            return
        graph = self.runs.graph_of(thread)
        if graph is not None:  # none before its first run: no checkpoints to prune
            try:
                await keep_latest(graph.checkpointer, thread.thread_id)
            except NotImplementedError as error:  # a DeltaChannel thread, on PostgreSQL
                log.warning("thread %s: cannot keep_latest: %s", thread.thread_id, error)
        again = ThreadExpiry("keep_latest", thread.ttl_minutes or 0.0)
        await self.runs.store.set_thread_ttl(thread.thread_id, thread.owner, again)
        report.pruned += 1

    def start(self) -> None:
        """Sweep every `sweep_interval_minutes` in the background, until `stop`."""
        self._task = asyncio.create_task(self._every_interval(), name="orca-thread-ttl")

    async def stop(self) -> None:
        """Stop sweeping (a sweep under way is cancelled: the next process start resumes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_minutes * 60)
            try:
                report = await self.sweep_once()
            except Exception:  # the database away for a moment: try again next interval
                log.exception("thread TTL sweep failed")
                continue
            if report.deleted or report.pruned:
                log.info("thread TTL: %d deleted, %d pruned", report.deleted, report.pruned)
