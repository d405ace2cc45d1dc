"""Threads and runs as the runs API stores them, and the store every backend implements.

A run row is at once the API's resource and the queue's entry: its `status` says where it
is (pending → running → success | error | interrupted | timeout), `worker` and
`lease_until` say who executes it and until when, and `attempt` is the fencing token
every write of a worker carries (a worker whose lease was taken over writes nothing).
A cancelled run is `interrupted`, as in langgraph-api and the SDKs' `RunStatus`, with its
`cancel_reason` (`interrupt`, `rollback`). A run that paused on an interrupt is `success`,
as langgraph-api records it: its thread is `interrupted` and holds the interrupts.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

RunStatus = Literal["pending", "running", "success", "error", "interrupted", "timeout"]
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
MultitaskStrategy = Literal["reject", "enqueue", "interrupt", "rollback"]
CancelAction = Literal["interrupt", "rollback"]
TTLStrategy = Literal["delete", "keep_latest"]
"""What an expired thread loses: everything, or every checkpoint but its latest state."""

ACTIVE: tuple[RunStatus, ...] = ("pending", "running")
FINAL: tuple[RunStatus, ...] = ("success", "error", "interrupted", "timeout")
LEGACY_CANCELLED = "cancelled"
"""What earlier releases stored for a cancelled run; read as `interrupted`."""


def now() -> datetime:
    """Return the current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def worker_lost(max_attempts: int) -> dict[str, Any]:
    """Return the result of a run given up because its worker died `max_attempts` times."""
    return {
        "__error__": {
            "error": "WorkerLost",
            "message": (
                "the worker executing this run stopped (its lease expired without a "
                f"heartbeat) on each of its {max_attempts} attempts; not retried again "
                "(ORCA_RUN_MAX_ATTEMPTS)"
            ),
        }
    }


@dataclass
class ThreadRecord:
    """A thread: its owner, metadata and the summary of its last run."""

    thread_id: str
    owner: str
    metadata: dict[str, Any] = field(default_factory=dict)
    status: ThreadStatus = "idle"
    values: Any = None
    """The state's values after the last run (JSON), for search and the thread object."""
    interrupts: dict[str, list[Any]] = field(default_factory=dict)
    """Pending interrupts by task id, when the last run stopped on one."""
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    """The last change of any kind: metadata, a run starting, the state."""
    state_updated_at: datetime = field(default_factory=now)
    """The last change of its status or values (a run ending, a state update), not of its
    metadata nor a run starting: langgraph-api's `state_updated_at`, what a thread list
    sorted by latest activity wants."""
    ttl_strategy: TTLStrategy | None = None
    """What the TTL sweeper does once `expires_at` has passed (None: the thread never expires)."""
    ttl_minutes: float | None = None
    """The TTL the caller set (or `ORCA_THREAD_TTL`'s default): `expires_at` is that long
    after it was set."""
    expires_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """Return the thread as `langgraph-sdk`'s `Thread`."""
        return {
            "thread_id": self.thread_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "state_updated_at": self.state_updated_at.isoformat(),
            "metadata": self.metadata,
            "status": self.status,
            "values": self.values,
            "interrupts": self.interrupts,
        }

    def ttl(self) -> dict[str, Any] | None:
        """Return the TTL as langgraph-api's `ThreadTTLInfo` (`?include=ttl`), None if unset."""
        if self.ttl_strategy is None or self.expires_at is None:
            return None
        return {
            "strategy": self.ttl_strategy,
            "ttl_minutes": self.ttl_minutes,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class ThreadExpiry:
    """A TTL to give a thread: it expires `minutes` after it is set (a create, a PATCH)."""

    strategy: TTLStrategy
    minutes: float


@dataclass
class RunRecord:
    """A run of an assistant on a thread."""

    run_id: str
    thread_id: str
    assistant_id: str
    graph_id: str
    owner: str
    kwargs: dict[str, Any]
    """What executing needs: input, command, config, context, stream modes, interrupts,
    checkpoint, durability, webhook, tenant, on_completion."""
    metadata: dict[str, Any] = field(default_factory=dict)
    multitask_strategy: MultitaskStrategy = "enqueue"
    status: RunStatus = "pending"
    attempt: int = 0
    worker: str | None = None
    lease_until: datetime | None = None
    not_before: datetime = field(default_factory=now)
    """`after_seconds`: no worker claims the run before this."""
    result: Any = None
    """What `/wait` and `/join` answer: the final values, `__interrupt__` or `__error__`;
    None for a cancelled run (they answer its thread's values: `join_answer.py`)."""
    cancel_reason: str | None = None
    """The cancel action (`interrupt`, `rollback`) of a cancelled run."""
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)

    def __post_init__(self) -> None:
        if self.status == LEGACY_CANCELLED:  # a row written before runs were `interrupted`
            self.status = "interrupted"

    def public(self) -> dict[str, Any]:
        """Return the run as `langgraph-sdk`'s `Run`."""
        return {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "assistant_id": self.assistant_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "status": self.status,
            "metadata": self.metadata,
            "kwargs": {k: v for k, v in self.kwargs.items() if k != "tenant"},
            "multitask_strategy": self.multitask_strategy,
            "attempt": self.attempt,
            "cancel_reason": self.cancel_reason,
        }


@dataclass(frozen=True)
class StoredEvent:
    """One event of a run's stream; `seq` is its SSE id."""

    seq: int
    event: str
    data: bytes
    """The JSON payload, already encoded."""


class ThreadExists(Exception):
    """`POST /threads` with an id that is taken and `if_exists=raise`."""


class ThreadBusy(Exception):
    """The thread has a running run and the strategy does not allow another."""


class ThreadMissing(Exception):
    """A run was refused because its thread does not exist or is not its owner's."""


class OutcomeUnstorable(Exception):
    """The store refused a run's outcome for what it holds (not for being away).

    PostgreSQL's jsonb, for one, cannot hold the character U+0000: a run whose final
    values contain it can never be recorded as they are, however often it is retried.
    """


@dataclass(frozen=True)
class ThreadOutcome:
    """What a finished run leaves on its thread."""

    status: ThreadStatus
    values: Any = None
    """The state's values (None: keep the thread's)."""
    interrupts: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    """What recording a run's outcome found."""

    held: bool
    """The worker still held the attempt, so its outcome is recorded."""
    queued_on_thread: bool = False
    """Another run waits for the thread this run just freed: a worker should look now."""


@dataclass(frozen=True)
class ThreadFilter:
    """What `/threads/search` and `/threads/count` match on (all given parts must match)."""

    metadata: dict[str, Any] = field(default_factory=dict)
    """What the thread's metadata must contain, as PostgreSQL's `@>` and langgraph-api
    (`containment.py`; a None wants the key present with a null value)."""
    values: dict[str, Any] = field(default_factory=dict)
    """The same test on the thread's values."""
    status: ThreadStatus | None = None
    ids: list[str] | None = None


class RunStore(Protocol):
    """Threads, runs and event buffers, in PostgreSQL or in memory (same semantics)."""

    durable: bool
    """Whether runs survive a restart and several processes share them."""

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
        """Create a thread; with `if_exists="do_nothing"` return the caller's existing one.

        A new thread gets the `ttl` (expiring that long from now); an existing one keeps
        its own, as langgraph-api's `do_nothing` changes nothing.

        Raises:
            ThreadExists: when the id is taken (by anyone, for `raise`; by another owner,
                always).
        """
        ...

    async def get_thread(self, thread_id: str, owner: str) -> ThreadRecord | None:
        """Return the owner's thread, or None (also when another identity owns it)."""
        ...

    async def update_thread(
        self, thread_id: str, owner: str, metadata: dict[str, Any]
    ) -> ThreadRecord | None:
        """Merge `metadata` into the thread's; None when the owner has no such thread."""
        ...

    async def set_thread_state(
        self,
        thread_id: str,
        *,
        status: ThreadStatus,
        values: Any = None,
        interrupts: dict[str, list[Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record the thread's status and values after a run (metadata is merged)."""
        ...

    async def delete_thread(self, thread_id: str, owner: str, *, keep_runs: bool = False) -> bool:
        """Delete the thread, its runs and their events; False when it is not the owner's.

        `keep_runs` keeps the runs and their events (a stateless run's temporary thread
        goes when the run ends, while its readers may still be replaying its events).
        """
        ...

    async def set_thread_ttl(
        self, thread_id: str, owner: str, ttl: ThreadExpiry
    ) -> ThreadRecord | None:
        """Give the owner's thread `ttl`, expiring that long from now; None when not found."""
        ...

    async def expired_threads(self, limit: int) -> list[ThreadRecord]:
        """Return up to `limit` threads past `expires_at` with no pending or running run."""
        ...

    def sweep_turn(self) -> AbstractAsyncContextManager[bool]:
        """Hold the right to sweep expired threads: False while another process sweeps."""
        ...

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
        """Return the owner's threads that match, in the given order."""
        ...

    async def count_threads(self, owner: str, where: ThreadFilter) -> int:
        """Count the owner's threads that match."""
        ...

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
        """Insert a run and mark its thread busy (merging `thread_metadata`), atomically.

        With `claim_for` the run is inserted as running on that worker at once. The thread
        must be the run owner's: the hot path of `create_run` reads no thread first.

        Raises:
            ThreadMissing: when the thread does not exist or is not the run owner's.
            ThreadBusy: with `claim_for`, when the thread already has a running run (the
                one-running-run-per-thread rule is enforced by the store itself); with
                `only_if_idle`, when it has any pending or running run.
        """
        ...

    async def get_run(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """Return the run (only if `owner` owns it, when given)."""
        ...

    async def list_runs(
        self, thread_id: str, *, limit: int, offset: int, status: str | None
    ) -> list[RunRecord]:
        """Return the thread's runs, newest first."""
        ...

    async def active_runs(self, thread_id: str) -> list[RunRecord]:
        """Return the thread's pending and running runs, oldest first."""
        ...

    async def runs_with_status(self, owner: str, statuses: tuple[str, ...]) -> list[RunRecord]:
        """Return the owner's runs in these statuses (bulk cancel)."""
        ...

    async def delete_run(self, run_id: str) -> None:
        """Delete a run and its events."""
        ...

    async def claim_next(self, worker: str, lease_s: float) -> RunRecord | None:
        """Claim the oldest due pending run whose thread runs nothing; None when none is.

        The claim sets status running, the worker, a lease and `attempt + 1`.
        """
        ...

    async def heartbeat(self, run_id: str, worker: str, attempt: int, lease_s: float) -> bool:
        """Extend the lease; False when the worker no longer holds this attempt."""
        ...

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
        """Record the outcome, if the worker still holds this attempt.

        In the same transaction: the thread's state (`thread`) and the run's last events
        (`events`, its `end` among them), so no reader sees a final run without its end,
        and a worker that lost its attempt writes neither. The answer also says whether a
        run waits for the thread (workers look for work only then, or when they queued one).

        Raises:
            OutcomeUnstorable: when the store cannot hold the result or the thread's
                values (nothing was written).
        """
        ...

    async def release_run(self, run_id: str, worker: str, attempt: int) -> bool:
        """Give a running run back to the queue (graceful shutdown)."""
        ...

    async def request_cancel(self, run_id: str, action: str) -> None:
        """Ask whoever executes the running run to cancel it (read back by `cancel_requested`)."""
        ...

    async def cancel_requested(self, run_id: str) -> str | None:
        """Return the cancel action asked for the running run, if any."""
        ...

    async def cancel_pending(self, run_id: str, reason: str) -> bool:
        """Mark a pending run cancelled (`interrupted`); False when it is no longer pending."""
        ...

    async def count_pending(self) -> int:
        """Count the runs waiting for a worker (all owners)."""
        ...

    async def requeue_expired(self, max_attempts: int) -> list[str]:
        """Requeue running runs whose lease expired; return their ids.

        A run that already had `max_attempts` attempts becomes `error` instead.
        """
        ...

    # Events -------------------------------------------------------------------
    async def append_events(self, run_id: str, events: list[StoredEvent]) -> None:
        """Add events to the run's replay buffer and wake readers in other processes."""
        ...

    async def read_events(self, run_id: str, after: int) -> list[StoredEvent]:
        """Return the run's buffered events with `seq > after`, in order."""
        ...

    async def last_event_seq(self, run_id: str) -> int:
        """Return the highest buffered `seq` of the run (0 when none)."""
        ...

    async def prune_events(self, older_than_s: float) -> int:
        """Drop buffered events older than this; return how many."""
        ...
