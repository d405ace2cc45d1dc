"""Signals that reach every process on the database, over PostgreSQL LISTEN/NOTIFY.

Each process keeps ONE connection of its own that listens (a pooled connection cannot:
LISTEN belongs to a session, and the pool would hand that session to someone else) and
publishes with `pg_notify` on a pooled connection. Local wake-ups happen first, so this
process never waits for a round trip; the copy of its own notification that comes back
through the listener is recognised and dropped, so a cancel handler runs once.

Notifications are not queued for a session that is not listening: after the listener
reconnects, workers and stream readers are woken to look again (a lost signal costs
latency, never correctness: see server/runs/signals.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import psycopg
from psycopg import AsyncConnection, Notify, sql
from psycopg_pool import AsyncConnectionPool
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from server.runs.signals import Signals

log = logging.getLogger("orca.runs")

WORK = "orca_run_work"
"""Payload empty: a run may have become claimable."""
EVENTS = "orca_run_events"
"""Payload the run id: the run has new events in the store."""
CANCEL = "orca_run_cancel"
"""Payload `run_id:action`: whoever executes the run should cancel it."""
READERS = "orca_run_readers"
"""Payload the run id: a process that does not execute the run follows its events."""
CHANNELS = (WORK, EVENTS, CANCEL, READERS)

CONNECT_KWARGS: dict[str, Any] = {
    # As the checkpointer's pool (checkpoints/open.py): a vanished host is noticed by TCP
    # keepalives within about a minute instead of never, and a connect cannot hang.
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

OWN_LIMIT = 10_000
"""Most own notifications remembered while awaiting their echo; past it they are
forgotten (at worst this process then wakes twice for one signal)."""


class PgSignals(Signals):
    """Signals for every process that shares the PostgreSQL database."""

    def __init__(
        self,
        conninfo: str,
        pool: AsyncConnectionPool,
        *,
        probe_s: float = 30.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        """Prepare the signals.

        Args:
            conninfo: Where the listening connection connects (the service's DSN).
            pool: Where notifications are published from.
            probe_s: After this long without a notification, the listener checks that
                its connection still answers.
            max_backoff_s: Longest wait between two reconnection attempts.
        """
        super().__init__()
        self.conninfo = conninfo
        self.pool = pool
        self.probe_s = probe_s
        self.max_backoff_s = max_backoff_s
        self._connection: AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._own: Counter[tuple[int, str, str]] = Counter()
        """(backend pid, channel, payload) of notifications this process sent and has not
        heard back yet."""

    async def start(self) -> None:
        """Listen on the channels; fail now if the database cannot be reached."""
        self._connection = await self._listen()
        self._task = asyncio.create_task(self._receive(), name="orca-run-signals")

    async def stop(self) -> None:
        """Stop listening and close the listening connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def publish_work(self) -> None:
        """Wake this process's workers, then everyone else's."""
        self.wake_work()
        await self._notify(WORK, "")

    async def publish_events(self, run_id: str) -> None:
        """Wake this process's readers of the run, then everyone else's."""
        self.wake_events(run_id)
        await self._notify(EVENTS, run_id)

    async def publish_cancel(self, run_id: str, action: str) -> None:
        """Tell this process's cancel handlers, then everyone else's."""
        self.wake_cancel(run_id, action)
        await self._notify(CANCEL, f"{run_id}:{action}")

    async def publish_reader(self, run_id: str) -> None:
        """Tell everyone else that this process follows the run from the store."""
        await self._notify(READERS, run_id)

    async def _notify(self, channel: str, payload: str) -> None:
        # Best effort, like every signal: a failed NOTIFY is logged, never raised into
        # the request or the run that published it.
        key: tuple[int, str, str] | None = None
        try:
            async with self.pool.connection() as connection:
                key = (connection.info.backend_pid, channel, payload)
                # Remembered before sending: the echo may arrive before execute returns.
                if len(self._own) >= OWN_LIMIT:
                    self._own.clear()
                self._own[key] += 1
                await connection.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        except psycopg.Error as error:
            if key is not None:
                self._forget(key)
            log.warning("could not notify %s (%s); other processes will poll", channel, error)

    def _forget(self, key: tuple[int, str, str]) -> None:
        self._own[key] -= 1
        if self._own[key] <= 0:
            del self._own[key]

    def _dispatch(self, notify: Notify) -> None:
        """Deliver a notification to this process, unless it is the echo of its own."""
        key = (notify.pid, notify.channel, notify.payload)
        if key in self._own:
            self._forget(key)
            return
        try:
            if notify.channel == WORK:
                self.wake_work()
            elif notify.channel == EVENTS:
                self.wake_events(notify.payload)
            elif notify.channel == CANCEL:
                run_id, _, action = notify.payload.rpartition(":")
                self.wake_cancel(run_id, action)
            elif notify.channel == READERS:
                self.wake_reader(notify.payload)
        except Exception:
            # A failing handler must not stop the listener for everyone else.
            log.exception("handling %s %r failed", notify.channel, notify.payload)

    async def _listen(self) -> AsyncConnection[Any]:
        """Open a connection that listens on every channel."""
        # Nothing sent before LISTEN can come back: what was awaited never will.
        self._own.clear()
        connection = await AsyncConnection.connect(self.conninfo, autocommit=True, **CONNECT_KWARGS)
        try:
            for channel in CHANNELS:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _receive(self) -> None:
        """Dispatch notifications until stopped; reconnect whenever the connection dies."""
        while True:
            try:
                await self._drain()
            except psycopg.Error as error:
                log.warning("run signals: listener connection lost (%s); reconnecting", error)
            except Exception:
                log.exception("run signals: listener failed; reconnecting")
            await self._close()
            self._connection = await self._reconnect()
            log.info("run signals: listening again")
            # Whatever was published while nobody listened was lost: look again.
            self.wake_work()
            for run_id in list(self._event_watchers):
                self.wake_events(run_id)

    async def _drain(self) -> None:
        connection = self._connection
        assert connection is not None, "start() opens the connection"
        while True:
            async for notify in connection.notifies(timeout=self.probe_s):
                self._dispatch(notify)
            # Quiet for `probe_s`: a half-open connection would stay quiet forever.
            await connection.execute("SELECT 1")

    async def _reconnect(self) -> AsyncConnection[Any]:
        def warn(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("run signals: reconnecting failed (%s); retrying", error)

        retrying = AsyncRetrying(
            # Any failure: giving up would leave this process deaf until it restarts.
            retry=retry_if_exception_type(Exception),
            # Jitter, so that the processes of a restarted database do not all return at once.
            wait=wait_exponential(multiplier=0.1, max=self.max_backoff_s) + wait_random(0, 0.2),
            before_sleep=warn,
        )
        return await retrying(self._listen)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()
