"""One run at a time per thread, in this process.

A second run on a thread that is running is refused at once (409), never interleaved:
two runs would both extend the same checkpoint and the history would fork. Across
processes the runs API (`server/runs`) coordinates through PostgreSQL.
"""

from __future__ import annotations


class ThreadBusy(Exception):
    """The thread already has a run in progress."""


class ActiveRuns:
    """The thread ids with a run in progress."""

    def __init__(self) -> None:
        self._threads: dict[str, str] = {}

    def start(self, thread_id: str, run_id: str) -> None:
        """Mark the thread busy.

        Raises:
            ThreadBusy: when another run holds it.
        """
        holder = self._threads.get(thread_id)
        if holder is not None:
            raise ThreadBusy(f"thread {thread_id!r} already has run {holder!r} in progress")
        self._threads[thread_id] = run_id

    def finish(self, thread_id: str, run_id: str) -> None:
        """Free the thread if this run holds it (safe to call twice)."""
        if self._threads.get(thread_id) == run_id:
            del self._threads[thread_id]

    def __contains__(self, thread_id: object) -> bool:
        return thread_id in self._threads
