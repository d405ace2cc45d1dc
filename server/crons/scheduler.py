"""Fire due crons: each firing is one normal run, exactly once across every process.

How exactly once holds, with any number of schedulers on one database:

1. `claim_due` claims due crons in one statement (PostgreSQL: `FOR UPDATE SKIP LOCKED`
   plus a claim that lasts `lease_s` by the database's clock), so no two schedulers hold
   one cron's firing at once.
2. The firing's run id is `uuid5(cron_id, scheduled time)` (`firing_run_id`): a firing
   taken over after its process died between inserting the run and recording it finds
   the run there (or the primary key refuses a second), so it is never run twice.
3. `finish` moves `next_run_date` to the schedule's next time after now and releases the
   claim, only while the claim is still this one's.

After downtime a cron fires once for the firings it missed, not once per missed firing:
the next time is computed from now, not from the missed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime

from pydantic import ValidationError

from server.crons.records import Claimed, CronRecord, CronStore
from server.crons.schedule import BadSchedule, firing_run_id, next_firing
from server.crons.service import firing_body
from server.runs.lookup import Forbidden, NotFound, RunRejected
from server.runs.patience import Outage
from server.runs.records import ThreadBusy
from server.runs.service import RunsService

log = logging.getLogger("orca")

CLAIM_LEASE_S = 60.0
"""How long a claim holds before another scheduler may take the firing over (its process
died mid-firing). Longer than any `create_run` takes; shorter than a schedule's period
would let a slow firing be taken over, which the deterministic run id makes harmless."""
BATCH = 20
"""Crons claimed per statement; a scheduler claims again until fewer come back."""


class CronScheduler:
    """One process's scheduler: a task that fires due crons through the run service."""

    def __init__(
        self,
        store: CronStore,
        runs: RunsService,
        *,
        poll_s: float,
        lease_s: float = CLAIM_LEASE_S,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self.runs = runs
        self.poll_s = poll_s
        """Longest wait between checks: a cron created by another process is seen this late."""
        self.lease_s = lease_s
        self.batch = batch
        self._wake = asyncio.Event()
        self.outage = Outage("cron scheduler", log)
        """Says once that the database is away, and once that it is back."""
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Check again now (a cron of this process was created or changed)."""
        self._wake.set()

    async def start(self) -> None:
        """Start the scheduling task."""
        self._task = asyncio.create_task(self._loop(), name="cron-scheduler")

    async def stop(self) -> None:
        """Stop it (a firing cut short is taken over once its claim lapses)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            delay = self.poll_s
            try:
                await self.tick()
                until_next = await self.store.seconds_to_next()
                self.outage.ok()
                if until_next is not None:
                    # Sleep until the earliest cron is due, if sooner than the poll: its
                    # delay is then this process's wake-up latency, not the poll interval.
                    delay = min(delay, max(until_next, 0.0))
            except Exception as error:
                self.outage.failed(error, retry_s=self.poll_s)
            with contextlib.suppress(TimeoutError):  # not wait_for: see RunWorkers
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def tick(self) -> int:
        """Fire every cron due now that no other scheduler holds; return how many fired."""
        fired = 0
        while True:
            claim = uuid.uuid4().hex
            claimed = await self.store.claim_due(claim, self.lease_s, self.batch)
            for item in claimed:
                fired += await self.fire(item, claim)
            if len(claimed) < self.batch:
                return fired

    async def fire(self, item: Claimed, claim: str) -> int:
        """Fire one claimed cron and record it; return 1 if this call created its run."""
        cron = item.cron
        scheduled = cron.next_run_date
        assert scheduled is not None  # a claimed cron is due
        run_id = firing_run_id(cron.cron_id, scheduled)
        outcome = await self._create_run(cron, run_id)
        if outcome == "failed":
            return 0  # the claim lapses after lease_s and a scheduler retries this firing
        if outcome == "gone":
            log.warning("cron %s deleted: its thread or assistant no longer exists", cron.cron_id)
            await self.store.delete(cron.cron_id, cron.owner)
            return 0
        await self.store.finish(cron.cron_id, claim, scheduled, self._after(cron, item.clock))
        return int(outcome == "fired")

    @staticmethod
    def _after(cron: CronRecord, clock: datetime) -> datetime | None:
        """Return the next firing after now (None: none left before the end time)."""
        try:
            return next_firing(cron.schedule, cron.timezone, clock, cron.end_time)
        except BadSchedule as bad:  # e.g. a timezone a tzdata update removed
            log.error("cron %s stops firing: %s", cron.cron_id, bad)
            return None

    async def _create_run(self, cron: CronRecord, run_id: str) -> str:
        """Create the firing's run; return `fired`, `exists`, `refused`, `gone` or `failed`."""
        store = self.runs.store
        try:
            if await store.get_run(run_id) is not None:
                return "exists"  # a firing taken over after its process died
            body = firing_body(cron)
            await self.runs.create_run(cron.identity(), cron.thread_id, body, run_id=run_id)
        except NotFound:
            return "gone"
        except (RunRejected, Forbidden, ThreadBusy, ValidationError) as refused:
            log.warning("cron %s: firing skipped: %s", cron.cron_id, refused)
            return "refused"
        except Exception:
            log.exception("cron %s: firing failed; retried when its claim lapses", cron.cron_id)
            try:  # a second insert of the id (a racing takeover) means it did fire
                return "exists" if await store.get_run(run_id) is not None else "failed"
            except Exception:
                return "failed"
        log.info("cron %s fired run %s", cron.cron_id, run_id)
        return "fired"
