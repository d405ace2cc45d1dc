"""The run store of the embedded defaults: one process, nothing survives a restart.

Same semantics as the PostgreSQL store (`server/runs/pg_store.py`), so the routes and the
workers cannot tell them apart; everything happens on one event loop, so no locks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from server.runs.containment import contains
from server.runs.records import (
    ACTIVE,
    Finished,
    RunRecord,
    RunStatus,
    StoredEvent,
    ThreadBusy,
    ThreadExists,
    ThreadExpiry,
    ThreadFilter,
    ThreadMissing,
    ThreadOutcome,
    ThreadRecord,
    ThreadStatus,
    now,
    worker_lost,
)


def _expire(thread: ThreadRecord, ttl: ThreadExpiry) -> None:
    """Set the thread's TTL, counted from now."""
    thread.ttl_strategy, thread.ttl_minutes = ttl.strategy, ttl.minutes
    thread.expires_at = now() + timedelta(minutes=ttl.minutes)


class MemoryRunStore:
    """Threads, runs and event buffers in dictionaries."""

    durable = False

    def __init__(self) -> None:
        self.threads: dict[str, ThreadRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.events: dict[str, list[tuple[float, StoredEvent]]] = {}
        self.cancels: dict[str, str] = {}

    # Threads ------------------------------------------------------------------
    async def create_thread(
        self,
        thread_id: str,
        owner: str,
        metadata: dict[str, Any],
        *,
        if_exists: str,
        ttl: ThreadExpiry | None = None,
    ) -> ThreadRecord:
        """Create a thread, or return the owner's existing one with `do_nothing`."""
        existing = self.threads.get(thread_id)
        if existing is not None:
            if if_exists == "do_nothing" and existing.owner == owner:
                return existing
            raise ThreadExists(thread_id)
        thread = ThreadRecord(thread_id=thread_id, owner=owner, metadata=dict(metadata))
        self.threads[thread_id] = thread
        if ttl is not None:
            _expire(thread, ttl)
        return thread

    async def set_thread_ttl(
        self, thread_id: str, owner: str, ttl: ThreadExpiry
    ) -> ThreadRecord | None:
        """Give the owner's thread `ttl`, from now."""
        thread = await self.get_thread(thread_id, owner)
        if thread is not None:
            _expire(thread, ttl)
        return thread

    async def expired_threads(self, limit: int) -> list[ThreadRecord]:
        """Return idle threads past their expiry, the longest expired first."""
        moment = now()
        busy = {run.thread_id for run in self.runs.values() if run.status in ACTIVE}
        expired = [
            thread
            for thread in self.threads.values()
            if thread.expires_at is not None
            and thread.expires_at <= moment
            and thread.thread_id not in busy
        ]
        return sorted(expired, key=lambda thread: thread.expires_at or moment)[:limit]

    @asynccontextmanager
    async def sweep_turn(self) -> AsyncIterator[bool]:
        """Always this process's turn: no other process shares these threads."""
        yield True

    async def get_thread(self, thread_id: str, owner: str) -> ThreadRecord | None:
        """Return the owner's thread."""
        thread = self.threads.get(thread_id)
        return thread if thread is not None and thread.owner == owner else None

    async def update_thread(
        self, thread_id: str, owner: str, metadata: dict[str, Any]
    ) -> ThreadRecord | None:
        """Merge metadata into the owner's thread."""
        thread = await self.get_thread(thread_id, owner)
        if thread is None:
            return None
        thread.metadata = {**thread.metadata, **metadata}
        thread.updated_at = now()
        return thread

    async def set_thread_state(
        self,
        thread_id: str,
        *,
        status: ThreadStatus,
        values: Any = None,
        interrupts: dict[str, list[Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record the thread's status (and values, when given)."""
        thread = self.threads.get(thread_id)
        if thread is None:
            return
        thread.status = status
        if values is not None:
            thread.values = values
        if interrupts is not None:
            thread.interrupts = interrupts
        if metadata:
            thread.metadata = {**thread.metadata, **metadata}
        thread.updated_at = thread.state_updated_at = now()

    async def delete_thread(self, thread_id: str, owner: str, *, keep_runs: bool = False) -> bool:
        """Delete the owner's thread with its runs and events (unless `keep_runs`)."""
        if await self.get_thread(thread_id, owner) is None:
            return False
        del self.threads[thread_id]
        if keep_runs:
            return True
        for run in [r for r in self.runs.values() if r.thread_id == thread_id]:
            await self.delete_run(run.run_id)
        return True

    def _matching(self, owner: str, where: ThreadFilter) -> list[ThreadRecord]:
        def matches(thread: ThreadRecord) -> bool:
            values = thread.values if isinstance(thread.values, dict) else {}
            return (
                thread.owner == owner
                and contains(thread.metadata, where.metadata)
                and contains(values, where.values)
                and (where.status is None or thread.status == where.status)
                and (where.ids is None or thread.thread_id in where.ids)
            )

        return [thread for thread in self.threads.values() if matches(thread)]

    async def search_threads(
        self,
        owner: str,
        where: ThreadFilter,
        *,
        limit: int,
        offset: int,
        sort_by: str,
        descending: bool,
    ) -> list[ThreadRecord]:
        """Return the owner's matching threads, sorted and paged."""
        found = sorted(
            self._matching(owner, where), key=lambda t: getattr(t, sort_by), reverse=descending
        )
        return found[offset : offset + limit]

    async def count_threads(self, owner: str, where: ThreadFilter) -> int:
        """Count the owner's matching threads."""
        return len(self._matching(owner, where))

    # Runs ---------------------------------------------------------------------
    async def insert_run(
        self,
        run: RunRecord,
        *,
        claim_for: str | None,
        lease_s: float,
        only_if_idle: bool = False,
        thread_metadata: dict[str, Any] | None = None,
    ) -> None:
        """Insert a run (running on `claim_for` when given) and mark its thread busy."""
        thread = self.threads.get(run.thread_id)
        if thread is None or thread.owner != run.owner:
            raise ThreadMissing(run.thread_id)
        blocking = ACTIVE if only_if_idle else ("running",) if claim_for is not None else ()
        if any(r.status in blocking and r.thread_id == run.thread_id for r in self.runs.values()):
            raise ThreadBusy(run.thread_id)
        if claim_for is not None:
            run.status, run.worker, run.attempt = "running", claim_for, 1
            run.lease_until = now() + timedelta(seconds=lease_s)
        self.runs[run.run_id] = replace(run)
        state_updated_at = thread.state_updated_at  # a run starting is no state change
        await self.set_thread_state(run.thread_id, status="busy", metadata=thread_metadata)
        thread.state_updated_at = state_updated_at

    async def get_run(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """Return a copy of the run (callers never share the stored object)."""
        run = self.runs.get(run_id)
        if run is None or (owner is not None and run.owner != owner):
            return None
        return replace(run)

    async def list_runs(
        self, thread_id: str, *, limit: int, offset: int, status: str | None
    ) -> list[RunRecord]:
        """Return the thread's runs, newest first."""
        found = [
            replace(r)
            for r in self.runs.values()
            if r.thread_id == thread_id and (status is None or r.status == status)
        ]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[offset : offset + limit]

    async def active_runs(self, thread_id: str) -> list[RunRecord]:
        """Return the thread's pending and running runs, oldest first."""
        found = [replace(r) for r in self.runs.values() if r.thread_id == thread_id]
        return sorted((r for r in found if r.status in ACTIVE), key=lambda r: r.created_at)

    async def runs_with_status(self, owner: str, statuses: tuple[str, ...]) -> list[RunRecord]:
        """Return the owner's runs in these statuses."""
        return [replace(r) for r in self.runs.values() if r.owner == owner and r.status in statuses]

    async def delete_run(self, run_id: str) -> None:
        """Delete the run and its events."""
        self.runs.pop(run_id, None)
        self.events.pop(run_id, None)

    async def claim_next(self, worker: str, lease_s: float) -> RunRecord | None:
        """Claim the oldest due pending run on a thread that runs nothing."""
        busy = {r.thread_id for r in self.runs.values() if r.status == "running"}
        due = now()
        for run in sorted(self.runs.values(), key=lambda r: r.created_at):
            if run.status == "pending" and run.not_before <= due and run.thread_id not in busy:
                run.status, run.worker, run.attempt = "running", worker, run.attempt + 1
                run.lease_until = due + timedelta(seconds=lease_s)
                run.updated_at = due
                return replace(run)
        return None

    def _held(self, run_id: str, worker: str, attempt: int) -> RunRecord | None:
        run = self.runs.get(run_id)
        if run and run.status == "running" and run.worker == worker and run.attempt == attempt:
            return run
        return None

    async def heartbeat(self, run_id: str, worker: str, attempt: int, lease_s: float) -> bool:
        """Extend the lease of a run the worker still holds."""
        run = self._held(run_id, worker, attempt)
        if run is None:
            return False
        run.lease_until = now() + timedelta(seconds=lease_s)
        return True

    async def finish_run(
        self,
        run_id: str,
        worker: str,
        attempt: int,
        *,
        status: RunStatus,
        result: Any,
        cancel_reason: str | None = None,
        thread: ThreadOutcome | None = None,
        events: list[StoredEvent] | None = None,
    ) -> Finished:
        """Record the outcome (and the thread's state, the last events) of a held run."""
        run = self._held(run_id, worker, attempt)
        if run is None:
            return Finished(held=False)
        run.status, run.result, run.cancel_reason = status, result, cancel_reason
        run.worker, run.lease_until, run.updated_at = None, None, now()
        if thread is not None:
            await self.set_thread_state(
                run.thread_id,
                status=thread.status,
                values=thread.values,
                interrupts=thread.interrupts,
            )
        if events:
            await self.append_events(run_id, events)
        queued = any(
            other.thread_id == run.thread_id and other.status == "pending"
            for other in self.runs.values()
        )
        return Finished(held=True, queued_on_thread=queued)

    async def release_run(self, run_id: str, worker: str, attempt: int) -> bool:
        """Put a held run back to pending."""
        run = self._held(run_id, worker, attempt)
        if run is None:
            return False
        run.status, run.worker, run.lease_until, run.updated_at = "pending", None, None, now()
        return True

    async def request_cancel(self, run_id: str, action: str) -> None:
        """Remember a cancel for the running run."""
        run = self.runs.get(run_id)
        if run is not None and run.status == "running":
            self.cancels[run_id] = action

    async def cancel_requested(self, run_id: str) -> str | None:
        """Return the remembered cancel of a running run."""
        run = self.runs.get(run_id)
        return self.cancels.get(run_id) if run is not None and run.status == "running" else None

    async def cancel_pending(self, run_id: str, reason: str) -> bool:
        """Cancel a run that has not started."""
        run = self.runs.get(run_id)
        if run is None or run.status != "pending":
            return False
        run.status, run.cancel_reason, run.updated_at = "interrupted", reason, now()
        return True

    async def count_pending(self) -> int:
        """Count the runs waiting for a worker."""
        return sum(run.status == "pending" for run in self.runs.values())

    async def requeue_expired(self, max_attempts: int) -> list[str]:
        """Requeue running runs whose lease has expired."""
        due, requeued = now(), []
        for run in self.runs.values():
            if run.status == "running" and run.lease_until and run.lease_until < due:
                run.status = "pending" if run.attempt < max_attempts else "error"
                if run.status == "error":
                    run.result = worker_lost(max_attempts)
                run.worker, run.lease_until, run.updated_at = None, None, due
                requeued.append(run.run_id)
        return requeued

    # Events -------------------------------------------------------------------
    async def append_events(self, run_id: str, events: list[StoredEvent]) -> None:
        """Buffer events with their arrival time; a seq already buffered is skipped.

        As in PostgreSQL, where a batch is sent again when its answer was lost.
        """
        stamp = time.monotonic()
        buffered = self.events.setdefault(run_id, [])
        newest = buffered[-1][1].seq if buffered else 0
        buffered.extend((stamp, event) for event in events if event.seq > newest)

    async def read_events(self, run_id: str, after: int) -> list[StoredEvent]:
        """Return buffered events after `after`."""
        return [event for _, event in self.events.get(run_id, []) if event.seq > after]

    async def last_event_seq(self, run_id: str) -> int:
        """Return the highest buffered seq."""
        buffered = self.events.get(run_id)
        return buffered[-1][1].seq if buffered else 0

    async def prune_events(self, older_than_s: float) -> int:
        """Drop events older than `older_than_s`."""
        cutoff, dropped = time.monotonic() - older_than_s, 0
        for run_id in list(self.events):
            kept = [(t, e) for t, e in self.events[run_id] if t >= cutoff]
            dropped += len(self.events[run_id]) - len(kept)
            if kept:
                self.events[run_id] = kept
            else:
                del self.events[run_id]
        return dropped
