"""When a cron fires: schedules, timezones across daylight-saving changes, end times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from server.crons.schedule import BadSchedule, check_schedule, firing_run_id, next_firing
from server.crons.schema import CronCreate, CronPatch

NEW_YORK = ZoneInfo("America/New_York")


def at(*parts: int, tz: ZoneInfo | None = None) -> datetime:
    return datetime(*parts, tzinfo=tz or UTC)  # type: ignore[misc]


def test_every_minute_fires_at_the_next_minute_boundary() -> None:
    assert next_firing("* * * * *", None, at(2026, 1, 5, 10, 0, 30)) == at(2026, 1, 5, 10, 1)


def test_a_firing_time_itself_gives_the_one_after() -> None:
    assert next_firing("*/5 * * * *", None, at(2026, 1, 5, 10, 5)) == at(2026, 1, 5, 10, 10)


def test_six_fields_put_seconds_first() -> None:
    assert next_firing("*/10 * * * * *", None, at(2026, 1, 5, 10, 0, 1)) == at(
        2026, 1, 5, 10, 0, 10
    )


def test_nicknames_are_schedules() -> None:
    assert next_firing("@daily", None, at(2026, 1, 5, 10)) == at(2026, 1, 6)


def test_a_timezone_reads_the_schedule_in_local_time() -> None:
    # 09:00 in New York is 14:00 UTC in winter (EST, -5) and 13:00 UTC in summer (EDT, -4).
    assert next_firing("0 9 * * *", "America/New_York", at(2026, 1, 5, 15)) == at(2026, 1, 6, 14)
    assert next_firing("0 9 * * *", "America/New_York", at(2026, 7, 5, 15)) == at(2026, 7, 6, 13)


def test_local_time_holds_across_the_spring_forward() -> None:
    # The clocks go from 02:00 to 03:00 on 2026-03-08: 09:00 local is 13:00 UTC that day.
    fired = next_firing("0 9 * * *", "America/New_York", at(2026, 3, 7, 15))
    assert fired == at(2026, 3, 8, 13)
    assert fired.astimezone(NEW_YORK).hour == 9


def test_no_firing_is_left_past_the_end_time() -> None:
    end = at(2026, 1, 5, 10, 30)
    assert next_firing("0 * * * *", None, at(2026, 1, 5, 9, 10), end) == at(2026, 1, 5, 10)
    assert next_firing("0 * * * *", None, at(2026, 1, 5, 10, 10), end) is None


def test_a_naive_time_is_utc() -> None:
    naive = datetime(2026, 1, 5, 10, 0, 30)  # noqa: DTZ001 - the case under test
    assert next_firing("* * * * *", None, naive) == at(2026, 1, 5, 10, 1)


@pytest.mark.parametrize("schedule", ["* * * *", "61 * * * *", "* * * * * * * *", "often", ""])
def test_bad_schedules_say_what_to_write(schedule: str) -> None:
    with pytest.raises(BadSchedule, match="schedule"):
        check_schedule(schedule)


def test_a_firing_has_one_run_id_on_every_process() -> None:
    first = firing_run_id("c1", at(2026, 1, 5, 10))
    assert first == firing_run_id("c1", at(2026, 1, 5, 10).astimezone(NEW_YORK))
    assert first != firing_run_id("c1", at(2026, 1, 5, 10) + timedelta(minutes=1))
    assert first != firing_run_id("c2", at(2026, 1, 5, 10))


def test_the_body_refuses_a_bad_timezone_and_schedule() -> None:
    with pytest.raises(ValidationError, match="IANA timezone"):
        CronCreate(assistant_id="echo", schedule="* * * * *", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="fields"):
        CronPatch(schedule="* *")


def test_the_stored_payload_is_the_run_fields_sent() -> None:
    body = CronCreate.model_validate(
        {
            "assistant_id": "echo",
            "schedule": "* * * * *",
            "input": {"messages": []},
            "metadata": {"k": 1},
            "timezone": "UTC",
            "multitask_strategy": "reject",
        }
    )
    assert body.run_payload() == {"input": {"messages": []}, "multitask_strategy": "reject"}
    assert body.timezone == "UTC" and body.enabled


@pytest.mark.parametrize("end_time", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_an_end_time_outside_utcs_years_is_refused_by_name(end_time: str) -> None:
    """Its UTC is year 10000 or 0, which a `datetime` cannot hold (an OverflowError, a 500)."""
    fields = {"assistant_id": "echo", "schedule": "0 0 1 1 *", "end_time": end_time}
    for body, given in ((CronCreate, fields), (CronPatch, {"end_time": end_time})):
        with pytest.raises(ValidationError, match="years 1 to 9999") as refused:
            body.model_validate(given)
        assert refused.value.errors()[0]["loc"] == ("end_time",)
