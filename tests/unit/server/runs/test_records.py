"""Runs as the store keeps them: a cancelled run reads `interrupted`, whenever it was stored."""

from server.runs.records import FINAL, RunRecord


def test_a_run_stored_cancelled_by_an_earlier_release_reads_interrupted() -> None:
    run = RunRecord(
        run_id="r-1",
        thread_id="t-1",
        assistant_id="a",
        graph_id="echo",
        owner="ana",
        kwargs={},
        status="cancelled",  # type: ignore[arg-type]  # what the row holds
        cancel_reason="interrupt",
    )
    assert (run.public()["status"], run.public()["cancel_reason"]) == ("interrupted", "interrupt")
    assert run.status in FINAL
