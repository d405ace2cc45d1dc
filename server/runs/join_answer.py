"""What `/join` and `/wait` answer once a run is final, as langgraph-api answers it.

A run that ended on its own answers its result: its final values, `__interrupt__` when it
paused, `__error__` when it failed or timed out. A cancelled run has no result of its own:
a user's cancel is no error in langgraph-api (its worker publishes none for
`UserInterrupt`), and its join answers the values it last streamed, or else the thread's
(`_thread_values_fallback` in its `api/runs.py`). Here that is the thread's values, which
the cancel left as the run's checkpointed work (`interrupt`), as they were before it
(`rollback`), or untouched (a run cancelled before it started). Before, the first answered
`{"__error__": {"error": "Cancelled", ...}}` and the last `null`.
"""

from __future__ import annotations

from typing import Any

from server.runs.records import RunRecord, RunStore

INTERRUPT = "__interrupt__"


async def join_answer(store: RunStore, run: RunRecord) -> Any:
    """Return what `/join`, `/wait` and `cancel?wait=1` answer for the final `run`."""
    if run.result is not None and run.cancel_reason is None:
        return run.result
    return await thread_answer(store, run.thread_id, run.owner)


async def thread_answer(store: RunStore, thread_id: str, owner: str) -> Any:
    """Return the thread's pending interrupts (all of them), else its values, else `{}`.

    `{}` also for a thread that is gone (a stateless run's temporary thread): langgraph-api
    answers `{}` when a run has nothing to show.
    """
    thread = await store.get_thread(thread_id, owner)
    if thread is None:
        return {}
    if thread.status == "interrupted":
        pending = [each for task in thread.interrupts.values() for each in task]
        if pending:
            return {INTERRUPT: pending}
    return thread.values or {}
