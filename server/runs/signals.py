"""Wake-ups between the parts of the runs API: new work, new events, cancellations.

In one process these are asyncio events; `PgSignals` (server/runs/pg_signals.py) also
carries them to every other process on the database with LISTEN/NOTIFY. A signal only
says "look again": the truth is always re-read from the store, so a lost or duplicate
signal costs latency (bounded by the poll interval), never correctness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

CancelHandler = Callable[[str, str], None]
"""Called with (run_id, action) when a cancellation is requested anywhere."""
ReaderHandler = Callable[[str], None]
"""Called with a run id when a process that does not execute the run follows its events."""


class Signals:
    """In-process signals (the embedded default; the base of `PgSignals`)."""

    def __init__(self) -> None:
        self.work = asyncio.Event()
        """Set when a run may have become claimable."""
        self._event_watchers: dict[str, set[asyncio.Event]] = {}
        self._cancel_handlers: list[CancelHandler] = []
        self._reader_handlers: list[ReaderHandler] = []

    async def start(self) -> None:
        """Begin receiving signals from other processes (nothing to do in-process)."""

    async def stop(self) -> None:
        """Stop receiving signals."""

    async def publish_work(self) -> None:
        """Say that a run may be claimable."""
        self.wake_work()

    async def publish_events(self, run_id: str) -> None:
        """Say that the run has new events in the store."""
        self.wake_events(run_id)

    async def publish_cancel(self, run_id: str, action: str) -> None:
        """Ask whoever executes the run to cancel it."""
        self.wake_cancel(run_id, action)

    async def publish_reader(self, run_id: str) -> None:
        """Tell the other processes that this one follows the run's events from the store.

        Nothing to do in one process: its readers read the run's events from memory.
        """

    # Local delivery (also what the PostgreSQL listener calls) ---------------------
    def wake_work(self) -> None:
        """Wake the workers of this process."""
        self.work.set()

    def wake_events(self, run_id: str) -> None:
        """Wake the stream readers of the run in this process."""
        for watcher in self._event_watchers.get(run_id, ()):
            watcher.set()

    def wake_cancel(self, run_id: str, action: str) -> None:
        """Tell this process's cancel handlers."""
        for handler in self._cancel_handlers:
            handler(run_id, action)

    def on_cancel(self, handler: CancelHandler) -> None:
        """Register a handler for cancellations."""
        self._cancel_handlers.append(handler)

    def wake_reader(self, run_id: str) -> None:
        """Tell this process's handlers that another process follows the run."""
        for handler in self._reader_handlers:
            handler(run_id)

    def on_reader(self, handler: ReaderHandler) -> None:
        """Register a handler for readers in other processes."""
        self._reader_handlers.append(handler)

    @contextmanager
    def watch_events(self, run_id: str) -> Iterator[asyncio.Event]:
        """Yield an event that is set whenever the run gets new events."""
        watcher = asyncio.Event()
        self._event_watchers.setdefault(run_id, set()).add(watcher)
        try:
            yield watcher
        finally:
            watchers = self._event_watchers.get(run_id)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._event_watchers[run_id]
