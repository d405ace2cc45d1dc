"""Keepalive pings, client disconnects, and model fallback over AG-UI."""

import asyncio
import json
import time

import httpx
import pytest
from ag_ui.core import EventType, RunStartedEvent

from server.agui.stream import PING, sse_frames
from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_catalog, scripted_models
from tests.support import live_server, serving
from tests.unit.server.agui.support import run_input, stream, user


async def test_a_silence_is_filled_with_ping_comments_without_cancelling_the_run() -> None:
    resume = asyncio.Event()

    async def slow_events():  # type: ignore[no-untyped-def]
        yield RunStartedEvent(type=EventType.RUN_STARTED, thread_id="t", run_id="r")
        await resume.wait()  # silent until the test has seen a ping
        yield RunStartedEvent(type=EventType.RUN_STARTED, thread_id="t", run_id="r2")

    frames = []
    async for frame in sse_frames(slow_events(), keepalive_s=0.01):
        frames.append(frame)
        if frame == PING:
            resume.set()
    assert frames[0].startswith(b"data: ") and PING in frames
    assert json.loads(frames[-1].removeprefix(b"data: "))["runId"] == "r2"


async def test_when_llm_01_fails_llm_02_answers_and_the_state_says_so(settings: Settings) -> None:
    catalog = scripted_catalog(llm01={"fail_always": True})
    app = create_app(settings, models=scripted_models(catalog), embedder=fake_embedder())
    async with serving(app) as client:
        result = await stream(client, "agent", run_input("t-fallback", [user("hello")]))
    assert result.text == "Scripted answer: hello"
    assert result.of("STATE_SNAPSHOT")[-1]["snapshot"]["model"] == "llm-02"
    assert catalog.chat["llm-01"].calls and catalog.chat["llm-02"].calls  # tried, then fell back


def test_a_client_that_disconnects_cancels_the_run_and_frees_the_thread(settings: Settings) -> None:
    settings = settings.model_copy(update={"rate_limit": ""})  # the test polls the runs list
    catalog = scripted_catalog(llm01={"delay_s": 0.2})
    app = create_app(settings, models=scripted_models(catalog), embedder=fake_embedder())
    with live_server(app) as url:
        body = run_input("t-gone", [user("a long answer " + "word " * 40)])
        with httpx.Client(base_url=url, timeout=30) as client:
            with client.stream("POST", "/agui/agent", json=body) as response:
                for line in response.iter_lines():
                    if "TEXT_MESSAGE_CONTENT" in line:
                        break  # hang up mid-answer
            deadline = time.monotonic() + 10
            while any(  # the run service records the run as ended, and frees the thread
                run["status"] in ("pending", "running") for run in _runs(client, "t-gone")
            ):
                assert time.monotonic() < deadline, "the run was never stopped"
                time.sleep(0.02)
            again = client.post("/agui/agent", json=run_input("t-gone", [user("still there?")]))
            assert again.status_code == 200
            assert "Scripted answer: still there?" in "".join(
                json.loads(line[6:]).get("delta", "")
                for line in again.text.splitlines()
                if line.startswith("data: ")
            )


@pytest.mark.parametrize("text", ["x" * 2100])
async def test_long_turns_are_routed_to_llm_02(settings: Settings, text: str) -> None:
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        result = await stream(client, "agent", run_input("t-long", [user(text)]))
    assert result.of("STATE_SNAPSHOT")[-1]["snapshot"]["model"] == "llm-02"


def _runs(client: httpx.Client, thread_id: str) -> list[dict[str, object]]:
    response = client.get(f"/threads/{thread_id}/runs")
    assert response.status_code == 200, response.text
    runs: list[dict[str, object]] = response.json()
    return runs
