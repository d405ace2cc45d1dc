"""`interrupt` and `rollback`: of the runs a thread is sent, the latest is the one that runs.

Each such run, once stored, cancels the thread's active runs created before it, and
cancels itself if the thread already has a newer one of its kind. Runs sent together (a
burst of messages from a bot or a UI) each see what the others stored, whatever order
their statements land in: the newest is either seen by an older one's check, which then
cancels itself, or sees the older one and cancels it. Exactly one survives, and no lock is
held across processes. Checking before storing, as this used to, let two runs that
arrived together both run: neither saw the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.runs.records import RunRecord, RunStore

LATEST_WINS = ("interrupt", "rollback")
"""The multitask strategies that cancel what a thread was already running."""


async def settle(
    store: RunStore, run: RunRecord, cancel: Callable[[RunRecord, str], Awaitable[Any]]
) -> None:
    """Cancel the thread's runs older than `run`, or `run` itself if a newer one came."""
    strategy = run.multitask_strategy
    if strategy not in LATEST_WINS:
        return
    mine = (run.created_at, run.run_id)
    for other in await store.active_runs(run.thread_id):
        if other.run_id == run.run_id:
            continue
        if (other.created_at, other.run_id) < mine:
            await cancel(other, strategy)
        elif other.multitask_strategy in LATEST_WINS:
            await cancel(run, strategy)
            return
