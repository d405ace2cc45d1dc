"""The cron scheduler while its database is away: one line when it goes, one when it is back."""

from __future__ import annotations

import logging
from typing import Any, cast

import psycopg
import pytest

from server.crons.records import Claimed, CronStore
from server.crons.scheduler import CronScheduler
from server.runs.service import RunsService
from tests.support_runs import until


class FlakyCronStore:
    """A cron store with no crons whose every call fails with `error` while it is set."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.polls = 0

    async def claim_due(self, claim: str, lease_s: float, limit: int) -> list[Claimed]:
        self.polls += 1
        if self.error is not None:
            raise self.error
        return []

    async def seconds_to_next(self) -> float | None:
        return None


def scheduler_over(store: FlakyCronStore) -> CronScheduler:
    # No cron is ever due, so the run service is never asked for anything.
    return CronScheduler(cast(CronStore, store), cast(RunsService, None), poll_s=0.005)


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "orca" and r.levelno >= level]


async def polled(store: FlakyCronStore, more: int) -> None:
    """Wait until the scheduler has polled `more` more times."""
    target = store.polls + more

    async def done() -> bool:
        return store.polls >= target

    await until(done)


async def test_an_outage_is_one_warning_and_its_end_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="orca")
    store = FlakyCronStore()
    scheduler = scheduler_over(store)
    await scheduler.start()
    try:
        await polled(store, 3)
        assert lines(caplog) == []  # a healthy database says nothing

        store.error = psycopg.OperationalError("connection refused")
        await polled(store, 20)
        (down,) = lines(caplog)
        assert down.levelno == logging.WARNING and down.exc_info is None  # no traceback
        assert down.getMessage() == (
            "cron scheduler: the database is unreachable (OperationalError: connection "
            "refused); retrying every 0.005 s until it is back"
        )

        store.error = None
        await polled(store, 3)
        back = lines(caplog)[1:]
        assert [r.getMessage().split(" after ")[0] for r in back] == [
            "cron scheduler: the database is back"
        ]

        store.error = psycopg.OperationalError("server closed the connection")
        await polled(store, 3)
        assert "unreachable" in lines(caplog)[-1].getMessage()  # a second outage is told again
    finally:
        await scheduler.stop()


async def test_a_bug_still_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyCronStore()
    store.error = KeyError("next_run_date")
    scheduler = scheduler_over(store)
    await scheduler.start()
    try:
        await polled(store, 2)
    finally:
        await scheduler.stop()
    errors: list[Any] = lines(caplog, logging.ERROR)
    assert errors and all(r.exc_info is not None for r in errors)
    assert errors[0].getMessage() == "cron scheduler failed; retrying"
