"""Every run is bounded in steps and time: a looping graph or a stalled model ends with an error."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from server.app import create_app
from server.guards.runs import RunLimits, RunTimedOut
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.stalled_chat import StalledChatModel, stalled_models
from tests.support import eventually, fake_models, serving
from tests.unit.server.agui.support import run_input, stream, user

AGENT_INPUT = {"input": {"messages": [{"type": "human", "content": "hi"}]}}
STALL_S = 0.2
"""The run deadline in the stall tests: the model never answers, so any value ends them."""


class Counter(TypedDict):
    laps: int


def looping_graph() -> Any:
    """A graph whose only node routes back to itself forever."""
    graph = StateGraph(Counter)
    graph.add_node("lap", lambda state: {"laps": state["laps"] + 1})
    graph.add_edge(START, "lap")
    graph.add_conditional_edges("lap", lambda state: "lap", ["lap", END])
    return graph.compile()


async def test_events_within_the_deadline_pass_through() -> None:
    async def three() -> AsyncIterator[int]:
        for i in range(3):
            yield i

    assert [e async for e in RunLimits(timeout_s=30).bounded(three())] == [0, 1, 2]
    assert [e async for e in RunLimits(timeout_s=None).bounded(three())] == [0, 1, 2]


async def test_a_stalled_run_is_cancelled_at_its_deadline() -> None:
    cleaned_up = asyncio.Event()

    async def stalls() -> AsyncIterator[str]:
        try:
            yield "started"
            await asyncio.Event().wait()  # a model that never answers
            yield "never"
        finally:
            cleaned_up.set()

    seen = []
    with pytest.raises(RunTimedOut, match="longer than 0.05 s"):
        async for event in RunLimits(timeout_s=0.05).bounded(stalls()):
            seen.append(event)
    assert seen == ["started"] and cleaned_up.is_set()


async def test_a_timeout_inside_the_run_is_not_mistaken_for_the_deadline() -> None:
    async def upstream_timeout() -> AsyncIterator[str]:
        raise TimeoutError("the model server timed out")
        yield "unreachable"

    with pytest.raises(TimeoutError, match="model server"):
        async for _ in RunLimits(timeout_s=30).bounded(upstream_timeout()):
            pass


async def test_a_consumer_that_stops_early_closes_the_run() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed.set()

    events = RunLimits(timeout_s=30).bounded(endless())
    assert await anext(events) == 1
    await events.aclose()
    assert closed.is_set()


def test_the_recursion_limit_is_the_servers() -> None:
    config = RunLimits(recursion_limit=7).apply({"recursion_limit": 1000, "tags": ["x"]})
    assert config == {"recursion_limit": 7, "tags": ["x"]}


async def test_langserve_refuses_a_run_past_the_recursion_limit(settings: Settings) -> None:
    settings = settings.model_copy(update={"recursion_limit": 1})  # rag takes two steps
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        response = await client.post("/workflows/rag/invoke", json={"input": {"question": "x?"}})
    assert response.status_code == 500
    assert "did not finish within 1 steps" in response.json()["detail"]


async def test_langserve_stops_a_stalled_model_at_the_deadline(settings: Settings) -> None:
    model = StalledChatModel()
    settings = settings.model_copy(update={"run_timeout_s": STALL_S})
    app = create_app(settings, models=stalled_models(model), embedder=fake_embedder())
    async with serving(app) as client:
        invoked = await client.post("/workflows/agent/invoke", json=AGENT_INPUT)
        # LangServe re-raises a stream's failure after its `error` event, as a server logs.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://orca.test") as raw:
            streamed = await raw.post("/workflows/agent/stream", json=AGENT_INPUT)
        await eventually(lambda: not model.waiting)  # both runs were cancelled
    assert invoked.status_code == 504
    assert invoked.json() == {"detail": f"the run took longer than {STALL_S:g} s and was stopped"}
    assert streamed.status_code == 200  # the stream had begun: LangServe's error event ends it
    assert "event: error" in streamed.text and "event: end" not in streamed.text


async def test_agui_ends_a_stalled_run_with_run_timeout(settings: Settings) -> None:
    model = StalledChatModel()
    settings = settings.model_copy(update={"run_timeout_s": STALL_S})
    app = create_app(settings, models=stalled_models(model), embedder=fake_embedder())
    async with serving(app) as client:
        result = await stream(client, "agent", run_input("t-stalled", [user("hi")]))
        await eventually(lambda: not model.waiting)
        runs = app.state.resources.runs
        assert not await runs.store.active_runs("t-stalled")  # the thread is usable again
    assert result.status == 200
    assert result.types[0] == "RUN_STARTED"
    last = result.events[-1]
    assert (last["type"], last["code"]) == ("RUN_ERROR", "RUN_TIMEOUT")
    assert f"{STALL_S:g} s" in last["message"]
    assert result.types.count("RUN_ERROR") == 1 and "RUN_FINISHED" not in result.types


async def test_agui_ends_a_run_past_the_recursion_limit_with_run_error(settings: Settings) -> None:
    settings = settings.model_copy(update={"recursion_limit": 1})
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        result = await stream(client, "agent", run_input("t-loop", [user("hi")]))
    last = result.events[-1]
    assert last["type"] == "RUN_ERROR" and "Recursion limit of 1" in last["message"]
    assert json.dumps(result.events).count("RUN_ERROR") == 1
