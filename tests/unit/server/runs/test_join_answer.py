"""What `/join` and `/wait` answer for a final run: its result, or its thread's values."""

from __future__ import annotations

from typing import Any

from server.runs.join_answer import join_answer
from server.runs.memory_store import MemoryRunStore
from server.runs.records import RunRecord, RunStatus


def run_of(status: RunStatus, result: Any = None, cancel_reason: str | None = None) -> RunRecord:
    return RunRecord(
        run_id="r-1",
        thread_id="t-1",
        assistant_id="a",
        graph_id="echo",
        owner="ana",
        kwargs={},
        status=status,
        result=result,
        cancel_reason=cancel_reason,
    )


async def store_with_thread(**state: Any) -> MemoryRunStore:
    store = MemoryRunStore()
    await store.create_thread("t-1", "ana", {}, if_exists="raise")
    await store.set_thread_state("t-1", **{"status": "idle", **state})
    return store


async def test_a_run_that_ended_on_its_own_answers_its_result() -> None:
    store = await store_with_thread(values={"n": 2})
    failed = {"__error__": {"error": "ValueError", "message": "boom"}}
    assert await join_answer(store, run_of("success", {"n": 1})) == {"n": 1}
    assert await join_answer(store, run_of("error", failed)) == failed


async def test_a_cancelled_run_answers_its_thread_s_values_even_from_an_older_release() -> None:
    store = await store_with_thread(values={"n": 2})
    assert await join_answer(store, run_of("interrupted", None, "interrupt")) == {"n": 2}
    legacy = {"__error__": {"error": "Cancelled", "message": "interrupt"}}
    assert await join_answer(store, run_of("interrupted", legacy, "interrupt")) == {"n": 2}


async def test_a_thread_paused_on_interrupts_answers_all_of_them() -> None:
    paused = {"task-a": [{"value": "a"}], "task-b": [{"value": "b"}]}
    store = await store_with_thread(status="interrupted", values={"n": 2}, interrupts=paused)
    answer = await join_answer(store, run_of("interrupted", None, "rollback"))
    assert answer == {"__interrupt__": [{"value": "a"}, {"value": "b"}]}


async def test_a_run_without_values_or_thread_answers_an_empty_object() -> None:
    assert await join_answer(await store_with_thread(), run_of("pending")) == {}
    assert await join_answer(MemoryRunStore(), run_of("interrupted", None, "rollback")) == {}
