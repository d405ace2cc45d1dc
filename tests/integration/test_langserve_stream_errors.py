"""A LangServe stream whose chat models are down ends with a 503 naming them, cleanly.

The models point at a closed loopback port, over a real server (uvicorn): only a real
connection shows a body cut off mid-stream (`RemoteProtocolError`), which an in-process
transport turns into the server's own exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langserve import RemoteRunnable

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import live_server

pytestmark = pytest.mark.integration

CLOSED = "http://127.0.0.1:9/v1"
"""The discard port: nothing listens there, so every connection is refused."""
QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def orca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    values: dict[str, Any] = {"chat_provider": "openai", "llm01_url": CLOSED, "llm02_url": CLOSED}
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("orca")) / "var",
        retry_initial_s=0.01,
        retry_max_s=0.02,
        **values,
    )
    with live_server(create_app(settings, embedder=fake_embedder())) as url:
        yield url


def events_of(body: str) -> list[tuple[str, str]]:
    """Return a text/event-stream body's events as (event, data) pairs."""
    found = []
    for frame in body.replace("\r\n", "\n").split("\n\n"):
        lines = [line.partition(": ") for line in frame.splitlines()]
        fields = {name: value for name, _, value in lines if name in ("event", "data")}
        if "event" in fields:
            found.append((fields["event"], fields.get("data", "")))
    return found


def assert_names_the_model(error: dict[str, Any]) -> None:
    assert error["status_code"] == 503, error
    assert "llm-02 is unavailable" in error["message"], error


@pytest.mark.parametrize("endpoint", ["stream", "stream_events", "stream_log"])
async def test_the_error_event_is_a_503_naming_the_model_and_the_body_ends(
    orca: str, endpoint: str
) -> None:
    async with httpx.AsyncClient(base_url=orca, timeout=60) as client:
        response = await client.post(f"/workflows/agent/{endpoint}", json={"input": QUESTION})
        body = response.text  # read to the end: a cut chunked body raises RemoteProtocolError
    assert response.status_code == 200
    events = events_of(body)
    assert events[-1][0] == "error", events
    assert_names_the_model(json.loads(events[-1][1]))
    assert body.endswith("\r\n\r\n")  # the error frame is whole and the last thing sent


async def test_remote_runnable_raises_the_503(orca: str) -> None:
    remote: RemoteRunnable[Any, Any] = RemoteRunnable(f"{orca}/workflows/agent", timeout=60)
    with pytest.raises(httpx.HTTPStatusError) as streamed:
        _ = [chunk async for chunk in remote.astream(QUESTION)]
    with pytest.raises(httpx.HTTPStatusError) as evented:
        _ = [event async for event in remote.astream_events(QUESTION, version="v2")]
    for raised in (streamed.value, evented.value):
        assert_names_the_model({"status_code": raised.response.status_code, "message": str(raised)})


async def test_invoke_says_the_same(orca: str) -> None:
    async with httpx.AsyncClient(base_url=orca, timeout=60) as client:
        response = await client.post("/workflows/agent/invoke", json={"input": QUESTION})
    assert response.status_code == 503
    assert "llm-02 is unavailable" in response.json()["detail"]
