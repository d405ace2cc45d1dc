"""When a cron fires: its schedule in its timezone, bounded by its end time. No I/O.

A schedule is a cron expression of 5 fields (`minute hour day month weekday`), of 6 with
seconds first (`*/10 * * * * *`, as Quartz and node-cron write it), or a nickname
(`@hourly`, `@daily`). It is read in the cron's IANA timezone (UTC when none), so
`0 9 * * *` fires at 09:00 local time on both sides of a daylight-saving change; the times
stored and compared are UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter  # type: ignore[import-untyped]  # no stubs

FIRING_NAMESPACE = uuid.UUID("6f1d4c3e-2b7a-5e0c-9a41-0c7e5d2b8f13")
"""Namespace of the run ids of cron firings (`firing_run_id`)."""


class BadSchedule(ValueError):
    """A schedule, timezone or end time that cannot be used, with what to change."""


def _seconds_first(schedule: str) -> bool:
    return len(schedule.split()) == 6


def check_schedule(schedule: str) -> str:
    """Return the schedule stripped, or raise BadSchedule saying what is wrong with it."""
    schedule = schedule.strip()
    fields = schedule.split()
    if not schedule.startswith("@") and len(fields) not in (5, 6):
        raise BadSchedule(
            f"schedule {schedule!r} has {len(fields)} fields; write 5 "
            "(minute hour day month weekday) or 6 with seconds first, e.g. '*/5 * * * *'"
        )
    try:
        # Some expressions (an impossible day, a step out of range) only fail when iterated.
        seconds = _seconds_first(schedule)
        croniter(schedule, datetime.now(UTC), second_at_beginning=seconds).get_next(datetime)
    except (CroniterError, ValueError, KeyError) as error:
        raise BadSchedule(f"schedule {schedule!r} is not a cron expression: {error}") from None
    return schedule


def zone(name: str | None) -> tzinfo:
    """Return the IANA timezone `name` (UTC for None), or raise BadSchedule."""
    if name is None or name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, KeyError):
        raise BadSchedule(
            f"timezone {name!r} is not an IANA timezone name, e.g. 'Europe/Paris' or 'UTC'"
        ) from None


def as_utc(moment: datetime) -> datetime:
    """Return an aware UTC time (a naive one is taken as UTC, as langgraph-api does)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def end_time_utc(moment: datetime) -> datetime:
    """Return a cron's end time in UTC, or raise BadSchedule when UTC has no such date.

    `9999-12-31T23:59:59-05:00` is a valid time whose UTC falls in the year 10000, past
    what a `datetime` holds: converting it raises OverflowError, which was a 500.
    """
    try:
        return as_utc(moment)
    except OverflowError:
        raise BadSchedule(
            f"end_time {moment.isoformat()} falls outside the years 1 to 9999 once in UTC; "
            "give a time within them"
        ) from None


def next_firing(
    schedule: str, timezone: str | None, after: datetime, end_time: datetime | None = None
) -> datetime | None:
    """Return the first time strictly after `after` the schedule fires (UTC).

    None when that time is past `end_time`: the cron has no firing left.
    """
    local = as_utc(after).astimezone(zone(timezone))
    found = croniter(schedule, local, second_at_beginning=_seconds_first(schedule)).get_next(
        datetime
    )
    firing = as_utc(found)
    if end_time is not None and firing > as_utc(end_time):
        return None
    return firing


def firing_run_id(cron_id: str, scheduled: datetime) -> str:
    """Return the run id of the cron's firing for `scheduled`, the same on every process.

    A firing retried (its process died after inserting the run, before recording it) asks
    for the same id again, and the run table's primary key refuses a second run.
    """
    return str(uuid.uuid5(FIRING_NAMESPACE, f"{cron_id}@{as_utc(scheduled).isoformat()}"))
