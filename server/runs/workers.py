"""The workers that execute runs: claims with a lease, heartbeats, a sweeper, a drain.

Guarantees (docs/architecture.md, "Durable runs"):
- at most one running run per thread: the store refuses a second (a partial unique
  index in PostgreSQL), whoever asks;
- a worker writes a run's outcome only while it holds the attempt it claimed (`worker`
  and `attempt` fence every write), so a worker presumed dead cannot overwrite the
  attempt that replaced it;
- a run whose worker stops heart-beating is put back in the queue by the sweeper of any
  process once its lease expires, and its next attempt resumes from the thread's last
  checkpoint: nodes that completed (their writes are checkpointed) do not run again;
- at shutdown, running runs get `ORCA_RUN_DRAIN_S` to finish, then go back to the queue;
- while the database is away (a restart), an attempt retries its checkpoint writes, its
  events and its outcome for as long as it holds its lease (patience.py), so a step that
  completed is saved once the database is back and does not run again; past the lease
  it leaves the run to its next attempt;
- an outcome the store refuses for what it holds (U+0000 in jsonb) is recorded as an
  `error` that says so, which frees the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from server.runs.events import END, EventLog, RunEvents
from server.runs.execute import Outcome, failure
from server.runs.patience import CURRENT_LEASE, Lease, patiently, transient
from server.runs.records import (
    Finished,
    OutcomeUnstorable,
    RunRecord,
    RunStore,
    StoredEvent,
    ThreadOutcome,
    ThreadStatus,
)
from server.runs.signals import Signals

log = logging.getLogger("orca.runs")

Execute = Callable[[RunRecord, RunEvents], Awaitable[Outcome]]
AfterRun = Callable[[RunRecord, Outcome, str | None], Awaitable[None]]
"""Called once a run's outcome is recorded, with the cancel action if it was cancelled."""
BeforeFinish = Callable[[RunRecord], Awaitable[None]]
"""Called before a rolled-back run is recorded (and its thread freed): drops its writes."""
KeptValues = Callable[[RunRecord], Awaitable[Any]]
"""The thread's values after a run cancelled with `interrupt` (what it checkpointed stays)."""

THREAD_STATUS: dict[str, ThreadStatus] = {
    "success": "idle",
    "interrupted": "idle",
    "timeout": "error",
    "error": "error",
}
"""A thread's status after its run ended; a run paused on an interrupt (`success`, as
langgraph-api records it) leaves it `interrupted` instead."""


class RunWorkers:
    """This process's share of the run queue."""

    def __init__(
        self,
        store: RunStore,
        events: EventLog,
        signals: Signals,
        execute: Execute,
        *,
        slots: int,
        lease_s: float,
        heartbeat_s: float,
        sweep_interval_s: float,
        poll_s: float,
        drain_s: float,
        max_attempts: int,
        timeout_s: float,
        events_ttl_s: float = 600.0,
        after_run: AfterRun | None = None,
        before_finish: BeforeFinish | None = None,
        kept_values: KeptValues | None = None,
    ) -> None:
        self.store, self.events, self.signals, self.execute = store, events, signals, execute
        self.slots, self.lease_s, self.heartbeat_s = slots, lease_s, heartbeat_s
        self.sweep_interval_s, self.poll_s, self.drain_s = sweep_interval_s, poll_s, drain_s
        self.max_attempts, self.timeout_s, self.after_run = max_attempts, timeout_s, after_run
        self.events_ttl_s = events_ttl_s
        self.before_finish = before_finish
        self.kept_values = kept_values
        self.queued = 0
        """Runs waiting for a worker in the whole store, as of the last sweep."""
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.running: dict[str, asyncio.Task[Outcome | None]] = {}
        self._cancel_actions: dict[str, str] = {}
        self._executing: set[str] = set()
        """Runs whose attempt has begun executing: a cancel stops them at once."""
        self._loops: list[asyncio.Task[None]] = []
        self._draining = False
        self._awaited: dict[str, asyncio.Future[asyncio.Task[Outcome | None]]] = {}
        """Runs queued here whose waiter would take their task if this process starts them."""
        self._backlog = False
        """A run was queued (or work announced) while every slot was busy, and the queue has
        not been seen empty since: a freed slot then looks for work."""
        signals.on_cancel(self._on_cancel)

    # Lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        """Start claiming (when this process has slots) and sweeping."""
        if self.slots:
            self._loops.append(asyncio.create_task(self._claim_loop(), name="orca-run-claims"))
        self._loops.append(asyncio.create_task(self._sweep_loop(), name="orca-run-sweeper"))

    async def stop(self) -> None:
        """Drain: stop claiming, let running runs finish for a while, requeue the rest."""
        self._draining = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self.running:
            log.info("draining %d runs for up to %gs", len(self.running), self.drain_s)
            # 0 means no grace at all (`timeout=None` would wait for ever).
            await asyncio.wait(list(self.running.values()), timeout=self.drain_s)
        for run_id, task in list(self.running.items()):
            self._cancel_actions[run_id] = "requeue"
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)

    @property
    def has_room(self) -> bool:
        """Whether this process can start one more run now."""
        return not self._draining and len(self.running) < self.slots

    @property
    def can_start_now(self) -> bool:
        """Whether a new run may skip the queue: a free slot, and no run queued before it.

        Without the second condition a run created the moment a slot frees would take it
        ahead of the runs queued while every slot was busy, again and again under steady
        load: those waited many runs' time (p99 at 16 concurrent `/wait`s on 10 slots was
        5-10x the median). Queued, the new run is claimed in creation order.
        """
        return self.has_room and not self._backlog

    def note_queued(self) -> None:
        """Record that a run was queued (no free slot): new runs queue behind it."""
        self._backlog = True

    # Claiming -----------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while True:
            self.signals.work.clear()
            if not self.has_room:
                self._backlog = True  # whatever woke this waits for a slot to free
            try:
                while self.has_room:
                    run = await self.store.claim_next(self.id, self.lease_s)
                    if run is None:
                        self._backlog = False  # nothing claimable: new runs may start at once
                        break
                    self.start_claimed(run)
            except Exception:
                log.exception("claiming runs failed; retrying")
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` swallows a
            # cancellation that arrives as the event is set, and this loop then never
            # ends (a lifespan shutdown hung on it, about one in three in a test file).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self.signals.work.wait()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                requeued = await self.store.requeue_expired(self.max_attempts)
                pruned = await self.store.prune_events(self.events_ttl_s)
                self.queued = await self.store.count_pending()
            except Exception:
                log.exception("sweeping runs failed; retrying")
                continue
            if requeued:
                log.warning("requeued %d runs whose worker stopped: %s", len(requeued), requeued)
                await self._finish_given_up(requeued)
                await self.signals.publish_work()
            if pruned:
                log.debug("dropped %d expired stream events", pruned)

    def start_claimed(self, run: RunRecord) -> asyncio.Task[Outcome | None]:
        """Execute a run this worker has claimed (just now); return its task."""
        # Counted from now, the lease outlasts the database's by the claim's round trip
        # (milliseconds): at worst a write is tried once after it expired, and is fenced.
        lease = Lease(self.lease_s)
        task = asyncio.create_task(self._attempt(run, lease), name=f"orca-run-{run.run_id}")
        self.running[run.run_id] = task
        task.add_done_callback(lambda _: self.running.pop(run.run_id, None))
        awaited = self._awaited.pop(run.run_id, None)
        if awaited is not None and not awaited.done():
            awaited.set_result(task)
        return task

    @contextlib.contextmanager
    def awaiting_start(self, run_id: str) -> Iterator[asyncio.Future[asyncio.Task[Outcome | None]]]:
        """Yield a future that gets the run's task if this process starts the run meanwhile."""
        awaited: asyncio.Future[asyncio.Task[Outcome | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self._awaited[run_id] = awaited
        try:
            yield awaited
        finally:
            if self._awaited.get(run_id) is awaited:
                del self._awaited[run_id]

    # One attempt --------------------------------------------------------------
    async def _attempt(self, run: RunRecord, lease: Lease) -> Outcome | None:
        CURRENT_LEASE.set(lease)  # the checkpointer retries within it (patient_saver.py)
        try:
            events = await self.events.open(run.run_id, first_attempt=run.attempt == 1, lease=lease)
        except Exception as error:
            if not transient(error):
                raise
            log.warning("run %s: the store stayed away for its whole lease", run.run_id)
            return None  # the sweeper requeues it once the lease has expired
        heartbeat = asyncio.create_task(self._heartbeat(run, lease, asyncio.current_task()))
        outcome: Outcome | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                self._executing.add(run.run_id)
                if await self._cancelled_before_start(run):
                    raise asyncio.CancelledError
                outcome = await self.execute(run, events)
        except asyncio.CancelledError:
            heartbeat.cancel()  # it must not ask for the cancel again while this records it
            action = self._cancel_actions.pop(run.run_id, None)
            if action is None:  # the process is going down, or the lease was lost
                # Not flushed: another attempt may already number events after the stored
                # ones; and readers here must stop reading this attempt from memory.
                events.discard()
                raise
            if action == "requeue":
                await self._release(run, events)
                return None
            # `interrupted`, as langgraph-api says; the action stays in `cancel_reason`. No
            # result: a cancel is no error there, and its join answers the thread's values.
            outcome = Outcome("interrupted", None, cancel_reason=action)
            if action == "interrupt":
                outcome.values = await self._kept_values(run)
            return await self._record(run, events, outcome, lease, cancel_reason=action)
        except TimeoutError:
            outcome = Outcome("timeout", {"__error__": failure(TimeoutError("run timed out"))})
        except Exception as error:
            if transient(error) and lease.passed:
                # The database stayed away past the lease: another process may already
                # have requeued the run. Its next attempt resumes from the last checkpoint.
                log.warning("run %s: the store stayed away past the lease (%s)", run.run_id, error)
                events.discard()
                return None
            log.exception("run %s failed", run.run_id)
            outcome = Outcome("error", {"__error__": failure(error)})
        finally:
            heartbeat.cancel()
            self._executing.discard(run.run_id)
            self._cancel_actions.pop(run.run_id, None)  # one that came while it stopped
        return await self._record(run, events, outcome, lease)

    async def _cancelled_before_start(self, run: RunRecord) -> bool:
        """Whether the run was cancelled before its attempt began executing.

        A cancel that arrived before (this process's, or one recorded on a run requeued
        since) would otherwise be lost: the run would run to the end.
        """
        if run.attempt > 1 and (action := await self.store.cancel_requested(run.run_id)):
            self._cancel_actions.setdefault(run.run_id, action)
        return run.run_id in self._cancel_actions

    async def _release(self, run: RunRecord, events: RunEvents) -> None:
        """Give a run back to the queue at shutdown (once: shutdown does not wait out outages)."""
        try:
            await self.store.release_run(run.run_id, self.id, run.attempt)
        except Exception as error:
            log.warning("run %s: not released (%s); its lease will expire", run.run_id, error)
            events.discard()
            return
        await events.close()
        await self.signals.publish_work()  # another process may take it at once

    async def _record(
        self,
        run: RunRecord,
        events: RunEvents,
        outcome: Outcome,
        lease: Lease,
        cancel_reason: str | None = None,
    ) -> Outcome | None:
        """Record the outcome, then run the after-run hook; a stop cannot cut it in half.

        Returns the outcome recorded, or None when the attempt was taken over (or the
        store stayed away past its lease: then its next attempt will record one).
        """
        recording = asyncio.ensure_future(
            self._write_outcome(run, events, outcome, cancel_reason, lease)
        )
        try:
            return await asyncio.shield(recording)
        except asyncio.CancelledError:
            await recording  # a drain that timed out: finish writing, then stop
            raise

    async def _write_outcome(
        self,
        run: RunRecord,
        events: RunEvents,
        outcome: Outcome,
        cancel_reason: str | None,
        lease: Lease,
    ) -> Outcome | None:
        if cancel_reason == "rollback" and self.before_finish is not None:
            # Before the thread is free: the next run must not start from these checkpoints.
            await self.before_finish(run)
        try:
            try:
                finished, final = await self._finish(run, events, outcome, cancel_reason, lease)
            except OutcomeUnstorable as refused:
                outcome = unstorable(outcome, refused)
                log.error("run %s: %s", run.run_id, outcome.result["__error__"]["message"])
                finished, final = await self._finish(run, events, outcome, cancel_reason, lease)
        except Exception as error:
            if not transient(error):
                raise
            log.warning(
                "run %s: outcome not recorded, the store stayed away past the lease (%s);"
                " the next attempt resumes from the last checkpoint",
                run.run_id,
                error,
            )
            events.discard()
            return None
        if not finished.held:
            log.warning(
                "run %s attempt %d was taken over; outcome dropped", run.run_id, run.attempt
            )
            events.discard()
            return None
        events.finished(final)
        if self._backlog or finished.queued_on_thread:
            # A slot (or the thread) is free and a run waits. Otherwise there is nothing
            # to claim: no query (other processes were told by the store, at commit).
            self.signals.wake_work()
        if self.after_run is not None:
            try:
                await self.after_run(run, outcome, cancel_reason)
            except Exception:
                log.exception("after-run hook of %s failed", run.run_id)
        return outcome

    async def _kept_values(self, run: RunRecord) -> Any:
        """Read what a run cancelled with `interrupt` leaves, while it still holds its thread.

        The thread's `values` kept the previous run's (or `null`) while `/state` showed the
        cancelled run's checkpointed work. None (keep them) when there is no reader or the
        read fails.
        """
        if self.kept_values is None:
            return None
        try:
            return await self.kept_values(run)
        except Exception:  # noqa: BLE001 - the cancel must still be recorded
            log.warning("run %s: the cancelled run's state could not be read", run.run_id)
            return None

    async def _finish(
        self,
        run: RunRecord,
        events: RunEvents,
        outcome: Outcome,
        cancel_reason: str | None,
        lease: Lease,
    ) -> tuple[Finished, list[StoredEvent]]:
        """Send the run's final statement until it is answered or the lease is over.

        Returns whether this attempt's outcome is recorded, and the events it ended with.
        """
        unstored = await events.settle()  # emitted (shown here) but not yet in the store
        failed = [("error", outcome.result["__error__"])] if outcome.failed else []
        final = events.draft(*failed, (END, None))
        thread = ThreadOutcome(
            status="interrupted" if outcome.paused else THREAD_STATUS[outcome.status],
            values=outcome.values,
            interrupts=outcome.interrupts_by_task,
        )
        tries = 0

        async def finish() -> Finished:
            nonlocal tries
            tries += 1
            finished = await self.store.finish_run(
                run.run_id,
                self.id,
                run.attempt,
                status=outcome.status,
                result=outcome.result,
                cancel_reason=cancel_reason,
                thread=thread,
                events=unstored + final,
            )
            if finished.held or tries == 1:
                return finished
            # An earlier try may have committed before its connection died: then the run
            # is final, with this attempt and status, and that outcome is this one.
            current = await self.store.get_run(run.run_id)
            held = (
                current is not None
                and current.attempt == run.attempt
                and current.status == outcome.status
            )
            return Finished(held=held, queued_on_thread=held)  # look again, to be safe

        finished = await patiently(finish, until=lease, what=f"recording run {run.run_id}")
        return finished, final

    async def _finish_given_up(self, run_ids: list[str]) -> None:
        """Close what the sweeper just marked `error` after `max_attempts` dead workers.

        No worker will record these runs: their threads stop being busy and their readers
        get the `error` and `end` every failed run ends with.
        """
        for run_id in run_ids:
            try:
                run = await self.store.get_run(run_id)
                if run is None or run.status != "error":
                    continue  # requeued (or deleted meanwhile)
                log.error("run %s: %s", run_id, run.result["__error__"]["message"])
                await self.store.set_thread_state(run.thread_id, status="error")
                events = await self.events.open(run_id)
                events.emit("error", run.result["__error__"])
                events.emit(END, None)
                await events.close()
                if self.after_run is not None:
                    await self.after_run(run, Outcome("error", run.result), None)
            except Exception:
                log.exception("closing given-up run %s failed", run_id)

    async def _heartbeat(
        self, run: RunRecord, lease: Lease, task: asyncio.Task[object] | None
    ) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            sent_at = time.monotonic()
            try:
                held = await self.store.heartbeat(run.run_id, self.id, run.attempt, self.lease_s)
            except Exception as error:
                if transient(error):  # the database is away: the next beat tries again
                    log.warning("heartbeat of run %s failed: %s", run.run_id, error)
                else:
                    log.exception("heartbeat of run %s failed", run.run_id)
                continue
            if held:
                lease.renewed(sent_at)
            elif task is not None:
                log.warning("lost the lease of run %s; stopping this attempt", run.run_id)
                task.cancel()
                return
            # A cancel whose notification this process missed (its listener reconnecting).
            with contextlib.suppress(Exception):
                if action := await self.store.cancel_requested(run.run_id):
                    self._on_cancel(run.run_id, action)

    # Cancellation -------------------------------------------------------------
    def _on_cancel(self, run_id: str, action: str) -> None:
        task = self.running.get(run_id)
        if task is not None and not task.done():
            self._cancel_actions[run_id] = action
            # Cancelled once: a task cancelled before its first step ends without a word,
            # and one cancelled again while it records the first cancel stops recording
            # it; either left its run `running` until the lease expired. An attempt not
            # yet executing finds the action when it begins.
            if run_id in self._executing:
                self._executing.discard(run_id)
                task.cancel()


def unstorable(outcome: Outcome, refused: OutcomeUnstorable) -> Outcome:
    """Return the `error` outcome of a run whose own outcome the store refused."""
    why = str(refused)
    if "Untranslatable" in why or "0000" in why:
        why += " (PostgreSQL cannot store the character U+0000, NUL, in JSON text)"
    message = (
        f"the run ended ({outcome.status}) but its result could not be stored: {why}; "
        "the thread keeps the values it had before this run"
    )
    return Outcome("error", {"__error__": {"error": "OutcomeUnstorable", "message": message}})
