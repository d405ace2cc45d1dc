"""A2A streams keep a client with a short read timeout waiting through a slow run.

Between `working` and its answer a streamed task sends no event, however long the model
takes; sse-starlette's own ping came every 15 s, so the A2A SDK's client (httpx's 5 s read
timeout by default) gave up mid-run. Here the model answers after 3 s, the clients' read
timeout is 1 s and `ORCA_KEEPALIVE_S` is 0.2 s (a ping every 0.1 s): margins wide enough
that only a stream that sends nothing for a second fails. And a client that leaves a stream
does not stop its task (README: A2A): it runs to the end, for `GetTask` to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from a2a.helpers import get_artifact_text
from a2a.types.a2a_pb2 import GetTaskRequest, SendMessageRequest, StreamResponse, TaskState
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from nodes.catalog import ModelCatalog
from server.app import create_app
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import ScriptedChatModel, scripted_models
from tests.integration.test_a2a_door import collect, said
from tests.support import live_server
from tests.support_runs import runs_settings, until

pytestmark = pytest.mark.integration

ANSWER_AFTER_S = 3.0
"""How long the model takes to answer: three of the clients' read timeouts."""
READ_TIMEOUT_S = 1.0
"""The clients' read timeout: five keepalive intervals."""
KEEPALIVE_S = 0.2
"""The server's `ORCA_KEEPALIVE_S`."""


class SlowChatModel(ScriptedChatModel):
    """The scripted model behind a slow server: each answer comes after `delay_s`."""

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await asyncio.sleep(self.delay_s)
        return self._generate(messages, stop, **kwargs)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the slow model with a short keepalive interval (runs in SQLite, auth off)."""
    model = SlowChatModel(calls=[], delay_s=ANSWER_AFTER_S)
    catalog = ModelCatalog(
        chat={"llm-01": model, "llm-02": model},
        providers={"llm-01": "scripted", "llm-02": "scripted"},
    )
    data_dir = tmp_path_factory.mktemp("a2a-keepalive") / "var"
    settings = runs_settings(data_dir, None, keepalive_s=KEEPALIVE_S)
    app = create_app(settings, models=scripted_models(catalog), embedder=fake_embedder())
    with live_server(app) as served:
        yield served


@asynccontextmanager
async def impatient_client(url: str) -> AsyncIterator[Client]:
    """Return the SDK's streaming client for `agent`, reading with a 1 s timeout."""
    async with httpx.AsyncClient(timeout=READ_TIMEOUT_S) as http:
        client = await create_client(
            url,
            ClientConfig(httpx_client=http, streaming=True),
            relative_card_path="/.well-known/agent-card.json?assistant_id=agent",
        )
        try:
            yield client
        finally:
            await client.close()


def streamed(client: Client, request: SendMessageRequest) -> AsyncGenerator[StreamResponse]:
    """Return the client's stream for the message, to close (leave) when the test says."""
    return cast("AsyncGenerator[StreamResponse]", client.send_message(request))  # it is one


async def test_a_stream_outlasting_the_read_timeout_gets_its_answer(url: str) -> None:
    started = time.monotonic()
    async with impatient_client(url) as client:
        events = await collect(client, said("take your time"))
    took = time.monotonic() - started
    assert took >= ANSWER_AFTER_S  # the run did outlast the read timeout
    final = events[-1].status_update.status
    assert final.state == TaskState.TASK_STATE_COMPLETED
    (artifact,) = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
    assert get_artifact_text(artifact) == "Scripted answer: take your time"


async def test_a_v0_3_stream_sends_ping_comments_meanwhile(url: str) -> None:
    message = {
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "kind": "message",
        "parts": [{"kind": "text", "text": "old client"}],
    }
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/stream",
        "params": {"message": message},
    }
    async with (
        httpx.AsyncClient(timeout=READ_TIMEOUT_S) as http,
        http.stream("POST", f"{url}/a2a/agent", json=request) as response,
    ):
        lines = [line async for line in response.aiter_lines()]
    data = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data:")]
    pings = [line for line in lines if line.startswith(":")]
    assert set(pings) == {": ping"}
    assert len(pings) >= ANSWER_AFTER_S / READ_TIMEOUT_S  # one a second at the very least
    assert data[-1]["result"]["status"]["state"] == "completed"
    assert data[-1]["result"]["final"] is True


async def test_a_client_that_leaves_the_stream_does_not_stop_the_task(url: str) -> None:
    async with (
        impatient_client(url) as client,
        contextlib.aclosing(streamed(client, said("I will not wait"))) as events,
    ):
        async for event in events:
            if event.HasField("status_update"):  # `working`: the model is answering
                task_id, context_id = event.status_update.task_id, event.status_update.context_id
                break
    async with impatient_client(url) as client:

        async def completed() -> bool:
            task = await client.get_task(GetTaskRequest(id=task_id))
            return task.status.state == TaskState.TASK_STATE_COMPLETED

        await until(completed, timeout_s=ANSWER_AFTER_S + 30)
    async with httpx.AsyncClient(timeout=30) as http:
        thread = (await http.get(f"{url}/threads/{context_id}")).json()
    assert thread["status"] == "idle"
