"""Request bodies of the cron routes, as `langgraph-sdk`'s `client.crons` sends them.

A cron's run fields are a `RunCreate`'s (`server/runs/schema.py`), checked the same way; a
bad schedule, timezone or end time is a 422 that says what to write instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from server.crons.records import CronField, CronSort
from server.crons.schedule import check_schedule, end_time_utc, zone
from server.runs.schema import Body, Offset, RunCreate, StreamMode

CRON_ONLY = frozenset({"schedule", "end_time", "enabled", "timezone", "on_run_completed"})
"""Fields of a cron body that are the cron's, not its runs'."""
NOT_IN_PAYLOAD = CRON_ONLY | {"assistant_id", "metadata"}
"""Kept in their own columns: the stored run payload is everything else the caller set."""


def _schedule(value: str | None) -> str | None:
    return None if value is None else check_schedule(value)


def _timezone(value: str | None) -> str | None:
    if value is not None:
        zone(value)
    return value


def _end_time(value: datetime | None) -> datetime | None:
    return None if value is None else end_time_utc(value)


class CronCreate(RunCreate):
    """`POST /runs/crons` and `POST /threads/{id}/runs/crons`."""

    schedule: str
    end_time: datetime | None = None
    enabled: bool = True
    timezone: str | None = Field(default=None, max_length=64)
    on_run_completed: Literal["delete", "keep"] | None = None
    """Stateless crons only: `delete` (default) or `keep` each firing's new thread."""

    _check_schedule = field_validator("schedule")(_schedule)
    _check_timezone = field_validator("timezone")(_timezone)
    _check_end_time = field_validator("end_time")(_end_time)

    def run_payload(self) -> dict[str, Any]:
        """Return the run fields the caller set, as JSON (what each firing runs)."""
        fields = self.model_fields_set - NOT_IN_PAYLOAD
        return self.model_dump(mode="json", include=fields, exclude_none=True)


class CronPatch(Body):
    """`PATCH /runs/crons/{id}`: only the fields sent change (`end_time: null` clears it)."""

    schedule: str | None = None
    end_time: datetime | None = None
    timezone: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    metadata: dict[str, Any] | None = None
    """Merged key by key into the cron's metadata (and so what its next runs get)."""
    input: Any = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] | None = None

    _check_schedule = field_validator("schedule")(_schedule)
    _check_timezone = field_validator("timezone")(_timezone)
    _check_end_time = field_validator("end_time")(_end_time)

    def run_fields(self) -> dict[str, Any]:
        """Return the run fields sent with a value (merged over the stored payload)."""
        sent = self.model_fields_set - NOT_IN_PAYLOAD
        return self.model_dump(mode="json", include=sent, exclude_none=True)


class CronSearch(Body):
    """`POST /runs/crons/search`."""

    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: CronSort = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[CronField] | None = None
    """Only these fields of each cron."""


class CronCount(Body):
    """`POST /runs/crons/count`."""

    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
