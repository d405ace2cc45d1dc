"""Which runs a cancel stops, and the 404 when it stops none, as langgraph-api answers.

langgraph-api (`Runs.cancel` in its runtime) refuses a cancel that finds no run (`No runs
found to cancel.`) or only runs already final (`No matching runs to cancel...`); a
deployed server answers the same, which tells a client "already over" from "stopped" (the
JS SDK's stream controller catches it when `stop` cancels a run that just ended). Orca
answered 200 with the final run, and 204 to a bulk cancel that stopped nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.runs.lookup import NotFound
from server.runs.records import ACTIVE, RunRecord

NONE_FOUND = "No runs found to cancel."
NONE_ACTIVE = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, and "
    "the runs haven't been deleted or completed."
)
STATUS_ALONE = (
    "When providing a 'status', 'thread_id' and 'run_ids' must be omitted. The 'status' "
    "parameter cancels all runs with the given status, regardless of thread or run ID."
)
"""langgraph-api's 422 for `POST /runs/cancel` with `status` and ids together."""


def still_active(found: Sequence[RunRecord]) -> list[RunRecord]:
    """Return the runs among `found` that are pending or running.

    Raises:
        NotFound: `found` is empty, or every run in it is already final.
    """
    if not found:
        raise NotFound(NONE_FOUND)
    active = [run for run in found if run.status in ACTIVE]
    if not active:
        raise NotFound(NONE_ACTIVE)
    return active
