"""Riding out a database outage: which errors pass, and how long each party waits for them.

A PostgreSQL restart, a failover or `pg_terminate_backend` fails the statements in flight
and makes new ones wait for the pool to reconnect, for a few seconds (issue 17: a 4 s
restart cut 19 of 50 `/wait` responses, lost stream events and re-ran a finished step).
Every statement of the runs API that a run or a reader cannot do without is therefore
retried with backoff (tenacity) while the error says "not now" (`transient`), until a
deadline:

- a worker, until its lease would expire (`Lease`): past it, another process may already
  have requeued the run, so giving up is safe, and retrying longer would not help;
- a reader (a `/wait`, `/join` or stream), until `READER_PATIENCE_S` have passed without
  an answer: it then tells its client, in the response it has already started.

Every retried statement is idempotent or fenced by the worker's attempt (pg_sql.py), so a
statement that committed before its connection died can be sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

import psycopg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

log = logging.getLogger("orca.runs")

T = TypeVar("T")

READER_PATIENCE_S = 60.0
"""How long a reader keeps retrying one read before it gives up and says so. Restarts
and failovers take seconds (measured: 2.4 s for `pg_ctlcluster restart`); a minute of
keepalives is still well within what clients and proxies wait."""

MAX_BACKOFF_S = 1.0
"""Longest pause between two tries: the database's return is noticed within about a
second (plus the pool's reconnect), and each try is one statement."""


def transient(error: BaseException) -> bool:
    """Return whether `error` says "not now" rather than "never".

    `OperationalError` covers a lost or refused connection, a server shutting down or
    starting up (`AdminShutdown`, `CannotConnectNow`), the pool's `PoolTimeout` and
    `TooManyRequests`, and deadlocks. A `DataError` (a value PostgreSQL cannot store)
    or an `IntegrityError` would fail the same way again.
    """
    return isinstance(error, psycopg.OperationalError)


class Deadline:
    """A moment on this process's monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        """Whether the moment has come."""
        return time.monotonic() >= self.at


class Lease(Deadline):
    """When this worker's hold on a run attempt expires, as far as it can tell.

    The store computes leases with the database's clock; this one starts when the
    statement that took or renewed the lease was sent, so it never ends later than the
    database's (both clocks run at the same rate).
    """

    def __init__(self, lease_s: float) -> None:
        super().__init__(lease_s)
        self.lease_s = lease_s

    def renewed(self, sent_at: float) -> None:
        """Record a renewal whose statement was sent at `sent_at` (monotonic)."""
        self.at = max(self.at, sent_at + self.lease_s)


CURRENT_LEASE: ContextVar[Lease | None] = ContextVar("orca_run_lease", default=None)
"""The lease of the run attempt this task works for (set by the worker): the
checkpointer retries its writes within it (server/runs/patient_saver.py)."""


def _note_retry(what: str) -> Callable[[RetryCallState], None]:
    def note(state: RetryCallState) -> None:
        # The first failure was a warning (`patiently`); the tries after it are noise.
        error = state.outcome.exception() if state.outcome else None
        log.debug("%s failed again (%s); retrying", what, error)

    return note


async def patiently(call: Callable[[], Awaitable[T]], *, until: Deadline, what: str) -> T:
    """Await `call()`, retrying transient errors until `until` has passed.

    The first try always happens; the last error is raised once the deadline has passed.
    """
    try:
        # Almost every call succeeds at once: only a failure pays for the retry machinery
        # (this is on the path of every stream read and event flush).
        return await call()
    except Exception as error:
        if not transient(error) or until.passed:
            raise
        log.warning("%s failed (%s); retrying until the database is back", what, error)
    retrying = AsyncRetrying(
        retry=retry_if_exception(transient),
        stop=lambda _state: until.passed,
        # Jitter: the processes of a restarted database should not all return at once.
        wait=wait_exponential(multiplier=0.05, max=MAX_BACKOFF_S) + wait_random(0, 0.05),
        before_sleep=_note_retry(what),
        reraise=True,
    )

    async def attempt() -> T:
        # A coroutine function for tenacity: it would treat a lambda or a partial
        # returning an awaitable as synchronous, and hand back the unawaited coroutine.
        return await call()

    return await retrying(attempt)


def unavailable(error: BaseException, *, resume: str) -> dict[str, str]:
    """Return the `error` payload telling a reader that it stopped following the run.

    `resume` says how to pick up where it stopped (the run itself may still finish).
    """
    if transient(error):
        return {
            "error": "RunStoreUnavailable",
            "message": (
                f"the run store (PostgreSQL) did not answer for {READER_PATIENCE_S:g} s "
                f"({type(error).__name__}); the run itself may still finish: {resume}"
            ),
        }
    return {
        "error": type(error).__name__,
        "message": f"following the run failed ({error}); the run itself may still finish: {resume}",
    }


class Outage:
    """One line when the database goes away, one when it is back: not a traceback per poll.

    For loops that poll the database and simply try again next time (the cron scheduler):
    `failed` on each failure of a poll, `ok` on each success.
    """

    def __init__(self, who: str, logger: logging.Logger = log) -> None:
        """Log as `who` (e.g. "cron scheduler") to `logger`."""
        self.who = who
        self.log = logger
        self.since: float | None = None
        """When the outage began (monotonic); None while the database answers."""

    def failed(self, error: BaseException, *, retry_s: float) -> None:
        """Note a failed poll: a warning the first time, debug while it lasts.

        An error that is not transient is a bug, not an outage: its traceback is logged.
        """
        if not transient(error):
            self.log.error("%s failed; retrying", self.who, exc_info=error)
            return
        if self.since is not None:
            self.log.debug("%s: the database is still away (%s)", self.who, error)
            return
        self.since = time.monotonic()
        self.log.warning(
            "%s: the database is unreachable (%s: %s); retrying every %g s until it is back",
            self.who,
            type(error).__name__,
            str(error).strip() or "no detail",
            retry_s,
        )

    def ok(self) -> None:
        """Note a successful poll: after an outage, say it is over and how long it lasted."""
        if self.since is None:
            return
        lasted = time.monotonic() - self.since
        self.since = None
        self.log.warning("%s: the database is back after %.1f s", self.who, lasted)
