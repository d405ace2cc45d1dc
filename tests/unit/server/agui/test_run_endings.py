"""How an AG-UI run ends and what it leaves: a failed run's thread, bad input, a client gone.

Also the LangServe stream of a failed run, which ends through the same `LocalRun.items()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sse_starlette.sse import AppStatus

from server.app import create_app
from server.routes.agui import RunStreamingResponse
from server.runs.local import LocalRun
from server.runs.records import RunRecord
from server.runs.sqlite_store import SqliteRunStore
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import serving
from tests.unit.server.agui.support import run_input, stream, user

SLOW_RECORD_S = 0.3
"""How long recording an outcome takes here: long enough that a stream which closed
before its run's outcome was stored shows it."""


@pytest.fixture
def slow_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the run store take `SLOW_RECORD_S` to record each run's outcome."""
    finish_run = SqliteRunStore.finish_run

    async def slowly(self: SqliteRunStore, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(SLOW_RECORD_S)
        return await finish_run(self, *args, **kwargs)

    monkeypatch.setattr(SqliteRunStore, "finish_run", slowly)


async def runs_of(client: httpx.AsyncClient, thread_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/threads/{thread_id}/runs")
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()
    return runs


@pytest.mark.usefixtures("slow_outcomes")
async def test_a_failed_agui_run_is_recorded_before_its_stream_ends(
    client: httpx.AsyncClient,
) -> None:
    failed = await stream(client, "agent", run_input("t-failed", [user("please fail")]))
    assert failed.types[-1] == "RUN_ERROR"
    assert [run["status"] for run in await runs_of(client, "t-failed")] == ["error"]
    again = await client.post("/agui/agent", json=run_input("t-failed", [user("hello")]))
    assert again.status_code == 200  # not 409: the thread was free as the stream ended


@pytest.mark.usefixtures("slow_outcomes")
async def test_a_failed_langserve_stream_ends_after_its_run_is_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sse-starlette 1.x keeps one exit Event, bound to the loop that streamed first (a live
    # server's, when one ran before this test), which would end the stream on its own.
    monkeypatch.setattr(AppStatus, "should_exit_event", None)
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    # LangServe re-raises a failure after its `error` event; over HTTP the stream just ends.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    body = {
        "input": {"messages": [{"type": "human", "content": "please fail"}]},
        "config": {"configurable": {"thread_id": "t-failed-ls"}},
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://orca.test") as client,
    ):
        response = await client.post("/workflows/agent/stream", json=body)
        assert b"event: error" in response.content
        assert [run["status"] for run in await runs_of(client, "t-failed-ls")] == ["error"]


async def test_an_empty_thread_id_is_422_and_creates_no_thread(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/agui/agent", json=run_input("", [user("hello")]))
    assert refused.status_code == 422
    assert "threadId" in str(refused.json()["detail"])
    assert (await client.post("/threads/search", json={})).json() == []


async def test_activity_messages_stay_in_the_ui_and_the_run_goes_on(
    client: httpx.AsyncClient,
) -> None:
    activity = {"id": "s1", "role": "activity", "activityType": "progress", "content": {}}
    result = await stream(client, "agent", run_input("t-activity", [user("hello"), activity]))
    assert result.types[-1] == "RUN_FINISHED", result.events[-1]
    assert result.text == "Scripted answer: hello"
    assert all(message["role"] != "activity" for message in result.messages)


async def test_the_workflow_list_needs_credentials_like_every_agui_route(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"auth_mode": "api_key"})
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        key, _ = await app.state.resources.auth.keys.create(name="ui", owner="alice")
        anonymous = await client.get("/agui")
        keyed = await client.get("/agui", headers={"Authorization": f"Bearer {key}"})
    assert anonymous.status_code == 401
    assert keyed.status_code == 200 and keyed.json()["workflows"]


async def test_a_client_gone_before_the_first_frame_still_cancels_its_run() -> None:
    """The body of such a response is never iterated, so no `finally` of its own runs."""
    cancelled: list[tuple[str, str]] = []

    async def cancel(run: RunRecord, action: str) -> None:
        cancelled.append((run.run_id, action))

    async def body(_: Any) -> AsyncIterator[Any]:
        yield None

    async def frames() -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(_: Any) -> None:
        return None

    run = RunRecord(
        run_id="r-gone",
        thread_id="t-gone",
        assistant_id="a",
        graph_id="agent",
        owner="o",
        kwargs={},
    )
    response = RunStreamingResponse(frames(), LocalRun(run, body), cancel)  # type: ignore[arg-type]
    await response({"type": "http", "asgi": {"spec_version": "2.3"}}, receive, send)
    await asyncio.sleep(0)  # the cancel runs in a task of its own
    assert cancelled == [("r-gone", "interrupt")]
