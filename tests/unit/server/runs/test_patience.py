"""Riding out a database outage: what is retried, for how long, and the checkpointer's share."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from psycopg import errors
from psycopg_pool import PoolTimeout
from typing_extensions import TypedDict

from server.runs.patience import CURRENT_LEASE, Deadline, Lease, patiently, transient
from server.runs.patient_saver import PatientSaver, patient


def test_a_lost_or_refused_connection_passes_a_value_the_database_refuses_does_not() -> None:
    assert transient(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert transient(errors.AdminShutdown())
    assert transient(PoolTimeout("couldn't get a connection after 5.00 sec"))
    assert not transient(errors.UntranslatableCharacter())
    assert not transient(errors.UniqueViolation())
    assert not transient(ValueError("a bug"))


class Flaky:
    """A call that fails `times` times with `error`, then answers."""

    def __init__(self, times: int, error: Exception) -> None:
        self.times, self.error, self.calls = times, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return "answer"


async def test_a_transient_error_is_retried_until_the_call_answers() -> None:
    call = Flaky(3, psycopg.OperationalError("the database system is starting up"))
    assert await patiently(call, until=Deadline(10), what="a read") == "answer"
    assert call.calls == 4


async def test_past_the_deadline_the_last_error_is_raised() -> None:
    call = Flaky(10**6, psycopg.OperationalError("connection refused"))
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="connection refused"):
        await patiently(call, until=Deadline(0.3), what="a read")
    assert call.calls > 1
    assert time.monotonic() - started < 5  # a guard: the deadline ended it


async def test_an_error_that_would_repeat_is_raised_at_once() -> None:
    call = Flaky(1, errors.UntranslatableCharacter("unsupported Unicode escape sequence"))
    with pytest.raises(errors.UntranslatableCharacter):
        await patiently(call, until=Deadline(10), what="a write")
    assert call.calls == 1


def test_a_renewed_lease_ends_a_lease_after_the_renewal_was_sent() -> None:
    lease = Lease(30)
    first = lease.at
    lease.renewed(time.monotonic() + 5)
    assert lease.at > first
    lease.renewed(0)  # an old renewal answered late never shortens it
    assert lease.at > first


# The checkpointer -------------------------------------------------------------------
class State(TypedDict, total=False):
    steps: list[str]
    """Completed nodes."""


class FlakySaver(InMemorySaver):
    """An in-memory saver whose next `failures` checkpoint writes fail as in a restart."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.tries = 0

    async def aput(self, *args: Any, **kwargs: Any) -> RunnableConfig:
        self.tries += 1
        if self.failures:
            self.failures -= 1
            raise errors.AdminShutdown("terminating connection due to administrator command")
        return await super().aput(*args, **kwargs)


def one_step(saver: FlakySaver, ran: list[str]) -> Any:
    def step(state: State) -> dict[str, Any]:
        ran.append("step")
        return {"steps": ["step"]}

    builder = StateGraph(State)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    return builder.compile(checkpointer=saver)


async def test_in_a_run_attempt_a_failed_checkpoint_write_is_retried_not_the_step() -> None:
    saver, ran = FlakySaver(), []
    compiled = one_step(saver, ran)
    graph = patient(compiled)
    assert isinstance(graph.checkpointer, PatientSaver)
    assert patient(compiled) is graph  # copied once per compiled graph
    saver.failures = 2
    token = CURRENT_LEASE.set(Lease(30))
    try:
        config: RunnableConfig = {"configurable": {"thread_id": "t"}}
        assert await graph.ainvoke({}, config, durability="sync") == {"steps": ["step"]}
    finally:
        CURRENT_LEASE.reset(token)
    assert ran == ["step"]
    assert saver.failures == 0
    assert (await graph.aget_state(config)).values == {"steps": ["step"]}


async def test_outside_a_run_attempt_the_checkpointer_fails_fast_as_before() -> None:
    saver, ran = FlakySaver(), []
    graph = patient(one_step(saver, ran))
    saver.failures = 1
    with pytest.raises(errors.AdminShutdown):
        await graph.ainvoke({}, {"configurable": {"thread_id": "t"}}, durability="sync")
    assert saver.tries == 1
