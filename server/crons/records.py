"""A cron as the stores keep it, and what a store of crons must do.

Two stores keep the same rows: PostgreSQL (`pg_store.py`, migration 7) shared by every
process, and the embedded default's SQLite file (`sqlite_store.py`). Every read and write
names the owner, so another identity's cron is never found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from server.auth.identity import Identity
from server.auth.scopes import DEFAULT_SCOPES
from server.runs.records import now

CronSort = Literal[
    "cron_id", "assistant_id", "thread_id", "created_at", "updated_at", "next_run_date", "end_time"
]
CronField = Literal[
    "cron_id",
    "assistant_id",
    "thread_id",
    "end_time",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "user_id",
    "payload",
    "next_run_date",
    "metadata",
    "now",
    "on_run_completed",
    "enabled",
]
"""What `select` may name: `langgraph-sdk`'s `CronSelectField`."""


@dataclass
class CronRecord:
    """A recurring run: what to run, on which thread, and when it fires next."""

    cron_id: str
    owner: str
    """The identity that created it; its firings run as this identity."""
    assistant_id: str
    schedule: str
    payload: dict[str, Any]
    """The run body of each firing (`RunCreate` fields, without `metadata`)."""
    thread_id: str | None = None
    """The thread every firing runs on; None: each firing gets a new thread."""
    owner_kind: str = "anonymous"
    owner_scopes: str = " ".join(sorted(DEFAULT_SCOPES))
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool = True
    on_run_completed: str | None = None
    """Stateless crons: `delete` the firing's thread after its run, or `keep` it. None on a
    new thread cron; a PATCH may set it there too (as langgraph-api), to no effect."""
    metadata: dict[str, Any] = field(default_factory=dict)
    next_run_date: datetime | None = None
    """When it fires next (UTC); None once `end_time` leaves no firing."""
    claimed_by: str | None = None
    """The scheduler claim firing it now (a token per claim), until `claimed_until`."""
    claimed_until: datetime | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)

    def identity(self) -> Identity:
        """Return the identity its firings run as (the owner, with the scopes it had)."""
        kind: Any = self.owner_kind
        return Identity(id=self.owner, kind=kind, scopes=frozenset(self.owner_scopes.split()))

    def public(self, clock: datetime | None = None) -> dict[str, Any]:
        """Return the cron as `langgraph-sdk`'s `Cron` reads it."""
        return {
            "cron_id": self.cron_id,
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "on_run_completed": self.on_run_completed,
            "end_time": self.end_time,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "payload": {"assistant_id": self.assistant_id, **self.payload},
            "user_id": self.owner,
            "next_run_date": self.next_run_date,
            "metadata": self.metadata,
            "enabled": self.enabled,
            "now": clock or now(),
        }


@dataclass(frozen=True)
class CronFilter:
    """What a search or count matches (None: anything)."""

    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    """Each key must equal its value (a missing key reads as null)."""


@dataclass(frozen=True)
class Claimed:
    """A due cron a scheduler claimed, and the store's clock when it did."""

    cron: CronRecord
    clock: datetime


class CronStore(Protocol):
    """Crons of every identity (every method but the scheduler's names the owner)."""

    async def setup(self) -> None:
        """Create the tables the store needs (a no-op where migrations do it)."""

    async def clock(self) -> datetime:
        """Return the store's time: the database's in PostgreSQL, so host clocks never matter."""

    async def insert(self, cron: CronRecord) -> None:
        """Store a new cron."""

    async def get(self, cron_id: str, owner: str) -> CronRecord | None:
        """Return the owner's cron."""

    async def update(self, cron: CronRecord, *, reschedule: bool) -> CronRecord | None:
        """Write the cron's fields (its `next_run_date` only if `reschedule`); None if gone."""

    async def delete(self, cron_id: str, owner: str) -> bool:
        """Delete the owner's cron; return whether it existed."""

    async def delete_for_thread(self, thread_id: str, owner: str) -> int:
        """Delete the owner's crons on the thread (it is being deleted); return how many."""

    async def search(
        self, owner: str, where: CronFilter, *, limit: int, offset: int, sort_by: str, desc: bool
    ) -> list[CronRecord]:
        """Return the owner's matching crons, sorted and paged."""

    async def count(self, owner: str, where: CronFilter) -> int:
        """Count the owner's matching crons."""

    async def claim_due(self, claim: str, lease_s: float, limit: int) -> list[Claimed]:
        """Claim up to `limit` enabled crons due now that no live claim holds, atomically.

        Two schedulers never claim one cron at once: its claim lasts `lease_s`, then
        another may take the firing over (its process died before finishing it).
        """

    async def finish(
        self, cron_id: str, claim: str, scheduled: datetime, next_run: datetime | None
    ) -> bool:
        """Release the claim and move `next_run_date` from `scheduled` to `next_run`.

        Only if `claim` still holds it; a schedule changed meanwhile keeps its new date.
        """

    async def seconds_to_next(self) -> float | None:
        """Return how long until the earliest enabled cron is due (None: none is)."""
