"""Which runs a cancel stops, and langgraph-api's 404 when it stops none."""

from __future__ import annotations

import pytest

from server.runs.cancel_targets import NONE_ACTIVE, NONE_FOUND, still_active
from server.runs.lookup import NotFound
from server.runs.records import RunRecord, RunStatus


def run_of(run_id: str, status: RunStatus) -> RunRecord:
    return RunRecord(run_id, "t-1", "a", "echo", "ana", {}, status=status)


def test_only_pending_and_running_runs_are_stopped() -> None:
    found = [run_of("r-1", "success"), run_of("r-2", "running"), run_of("r-3", "pending")]
    assert [run.run_id for run in still_active(found)] == ["r-2", "r-3"]


@pytest.mark.parametrize(
    ("found", "detail"),
    [([], NONE_FOUND), ([run_of("r-1", "success"), run_of("r-2", "interrupted")], NONE_ACTIVE)],
)
def test_a_cancel_that_stops_nothing_is_not_found(found: list[RunRecord], detail: str) -> None:
    with pytest.raises(NotFound) as refused:
        still_active(found)
    assert refused.value.args == (detail,)
