"""`/a2a/{assistant_id}` with the `a2a-sdk` client: card, send, stream, tasks; auth on and off.

Runs in SQLite (the embedded default) and in PostgreSQL, each with auth off and on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from a2a.helpers import get_artifact_text, get_message_text, new_data_part, new_text_part
from a2a.types.a2a_pb2 import (
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    InvalidParamsError,
    InvalidRequestError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from tests.doubles.gated_graph import held, release, waiting
from tests.support_runs import api_keys, runs_settings, served, texts, until

SERVERS = [
    pytest.param((backend, auth), marks=marks, id=f"{backend}-{auth}")
    for backend, marks in (("sqlite", ()), ("postgres", pytest.mark.integration))
    for auth in ("auth off", "auth on")
]
"""The run store (as `BACKENDS`: SQLite, or PostgreSQL for integration runs) × auth."""


class Door(NamedTuple):
    """A served URL and the API keys of two callers (None with auth off)."""

    url: str
    key: str | None
    other: str | None


@pytest.fixture(scope="module", params=SERVERS)
def door(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Door]:
    """Serve on SQLite or PostgreSQL, with auth off or with API keys; yield the door.

    One server at a time: sse-starlette 1.x keeps one exit event for the whole process,
    bound to the event loop of the server that streamed first.
    """
    backend, auth = request.param
    postgres = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    mode = "api_key" if auth == "auth on" else "none"
    settings = runs_settings(tmp_path_factory.mktemp("a2a") / "var", postgres, auth_mode=mode)
    with served(settings) as url:
        keys = (
            asyncio.run(api_keys(settings, "alice", "bob")) if mode == "api_key" else [None, None]
        )
        yield Door(url, keys[0], keys[1])


def headers(key: str | None) -> dict[str, str]:
    """Return the caller's credentials as headers."""
    return {"Authorization": f"Bearer {key}"} if key else {}


@asynccontextmanager
async def a2a_client(
    url: str, key: str | None, assistant: str = "agent", *, streaming: bool = False
) -> AsyncIterator[Client]:
    """Return the SDK's client for the assistant, built from its agent card."""
    async with httpx.AsyncClient(headers=headers(key), timeout=60) as http:
        client = await create_client(
            url,
            ClientConfig(httpx_client=http, streaming=streaming),
            relative_card_path=f"/.well-known/agent-card.json?assistant_id={assistant}",
        )
        try:
            yield client
        finally:
            await client.close()


def said(text: str, context_id: str = "", *parts: Part) -> SendMessageRequest:
    """Return a user message of `text` (and more parts), on `context_id` when given."""
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=[new_text_part(text), *parts] if text else list(parts),
        context_id=context_id,
    )
    return SendMessageRequest(message=message)


async def collect(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    """Return every response the client yields for the message."""
    return [response async for response in client.send_message(request)]


async def sent(client: Client, request: SendMessageRequest) -> Task:
    """Send a message without streaming; return the task answered."""
    (response,) = await collect(client, request)
    assert response.HasField("task"), response
    return response.task


async def test_the_agent_card_describes_the_assistant(door: Door) -> None:
    url, key, _ = door
    async with httpx.AsyncClient(headers=headers(key), timeout=30) as http:
        card = (
            await http.get(f"{url}/.well-known/agent-card.json", params={"assistant_id": "agent"})
        ).json()
        missing = await http.get(
            f"{url}/.well-known/agent-card.json", params={"assistant_id": "nope"}
        )
    assert card["name"] == "agent"
    assert card["capabilities"]["streaming"] is True
    endpoint = card["supportedInterfaces"][0]["url"]
    assert endpoint.startswith(f"{url}/a2a/")
    assert {i["protocolVersion"] for i in card["supportedInterfaces"]} == {"1.0", "0.3"}
    assert card["url"] == endpoint  # the v0.3 field, for older clients
    assert ("securitySchemes" in card) is (key is not None)
    assert missing.status_code == 404


async def test_send_answers_a_completed_task_and_the_context_is_the_thread(door: Door) -> None:
    url, key, _ = door
    async with a2a_client(url, key) as client:
        first = await sent(client, said("hello there"))
        second = await sent(client, said("and again", first.context_id))
        got = await client.get_task(GetTaskRequest(id=second.id))
    assert first.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_message_text(first.status.message) == "Scripted answer: hello there"
    assert get_artifact_text(first.artifacts[0]) == "Scripted answer: hello there"
    assert second.context_id == first.context_id and second.id != first.id
    assert got.id == second.id and got.status.state == TaskState.TASK_STATE_COMPLETED
    assert [get_message_text(m) for m in got.history] == ["and again", "Scripted answer: and again"]
    # The task is a run on the context's thread, seen through the runs API.
    async with httpx.AsyncClient(headers=headers(key), timeout=30) as http:
        state = (await http.get(f"{url}/threads/{first.context_id}/state")).json()
        run = (await http.get(f"{url}/threads/{first.context_id}/runs/{second.id}")).json()
    assert texts(state["values"]) == [
        "hello there",
        "Scripted answer: hello there",
        "and again",
        "Scripted answer: and again",
    ]
    assert run["status"] == "success"


async def test_stream_sends_status_updates_to_completion(door: Door) -> None:
    url, key, _ = door
    async with a2a_client(url, key, streaming=True) as client:
        events = await collect(client, said("stream me"))
    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds[0] == "task" and kinds[-1] == "status_update", kinds
    assert events[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[0] == TaskState.TASK_STATE_WORKING
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    (artifact,) = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
    assert get_artifact_text(artifact) == "Scripted answer: stream me"


async def test_a_task_paused_for_approval_asks_for_input_and_resumes_with_the_reply(
    door: Door,
) -> None:
    url, key, _ = door
    async with a2a_client(url, key) as client:
        paused = await sent(client, said("note: buy milk"))
        reply = said("approve", paused.context_id)
        reply.message.task_id = paused.id
        resumed = await sent(client, reply)
        again = said("approve", paused.context_id)
        again.message.task_id = resumed.id
        with pytest.raises(InvalidParamsError):  # a completed task takes no reply
            await sent(client, again)
    assert paused.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert resumed.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_message_text(resumed.status.message) == "Saved the note."
    # Seen through the runs API, the paused run is `success`, as langgraph-api records it.
    async with httpx.AsyncClient(headers=headers(key), timeout=30) as http:
        run = (await http.get(f"{url}/threads/{paused.context_id}/runs/{paused.id}")).json()
    assert run["status"] == "success"


async def test_subscribe_follows_a_running_task_to_its_end_and_refuses_an_ended_one(
    door: Door,
) -> None:
    url, key, _ = door
    sender = a2a_client(url, key, "gated")
    async with sender as plain, a2a_client(url, key, "gated", streaming=True) as client:
        with held() as label:
            started = said("", "", new_data_part({"label": label}))
            started.configuration.return_immediately = True
            task_id = (await sent(plain, started)).id
            await until(lambda: asyncio.sleep(0, waiting(label)), timeout_s=30)
            events = client.subscribe(SubscribeToTaskRequest(id=task_id))
            now = await anext(events)
            release(label)
            rest = [event async for event in events]
        with pytest.raises(UnsupportedOperationError):
            await anext(client.subscribe(SubscribeToTaskRequest(id=task_id)))
    assert now.task.id == task_id and now.task.status.state == TaskState.TASK_STATE_WORKING
    states = [e.status_update.status.state for e in rest if e.HasField("status_update")]
    assert states == [TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED]


async def test_a_workflow_without_messages_takes_text_or_a_data_part(door: Door) -> None:
    url, key, _ = door
    async with a2a_client(url, key, "rag") as rag, a2a_client(url, key, "ingest") as ingest:
        asked = await sent(rag, said("Who led Project Falcon?"))
        stored = await sent(ingest, said("", "", new_data_part({"texts": ["Falcon: Ingrid."]})))
        with pytest.raises(InvalidParamsError) as refused:
            await sent(ingest, said("just text"))
    assert asked.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_message_text(asked.status.message)  # the answer, as text
    assert stored.status.state == TaskState.TASK_STATE_COMPLETED
    data = stored.artifacts[0].parts[-1].data.struct_value
    assert data.fields["chunk_count"].number_value >= 1
    assert "data part" in str(refused.value)


async def test_the_run_policy_applies(door: Door) -> None:
    url, key, _ = door
    async with a2a_client(url, key, "ingest") as client:
        with pytest.raises(InvalidRequestError) as refused:
            await sent(client, said("", "", new_data_part({"paths": ["/etc"]})))
    assert "admin" in str(refused.value)


async def test_another_callers_context_and_tasks_are_not_found(
    door: Door,
) -> None:
    url, alice, bob = door
    if alice is None or bob is None:
        pytest.skip("auth is off on this server")
    async with a2a_client(url, alice) as mine:
        task = await sent(mine, said("private"))
    async with a2a_client(url, bob) as theirs:
        with pytest.raises(TaskNotFoundError):
            await theirs.get_task(GetTaskRequest(id=task.id))
        with pytest.raises(InvalidParamsError, match="no context"):
            await sent(theirs, said("let me in", task.context_id))
    async with httpx.AsyncClient(timeout=30) as http:
        anonymous = await http.post(
            f"{url}/a2a/agent", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"}
        )
        no_card = await http.get(f"{url}/.well-known/agent-card.json?assistant_id=agent")
    assert anonymous.status_code == 401 and no_card.status_code == 401


async def test_the_v0_3_method_names_are_served(door: Door) -> None:
    url, key, _ = door
    message = {
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "kind": "message",
        "parts": [{"kind": "text", "text": "old client"}],
    }
    send = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    async with httpx.AsyncClient(headers=headers(key), timeout=60) as http:
        answered = (await http.post(f"{url}/a2a/agent", json=send)).json()["result"]
        get = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": answered["id"]}}
        got = (await http.post(f"{url}/a2a/agent", json=get)).json()["result"]
    assert answered["kind"] == "task" and answered["status"]["state"] == "completed"
    assert answered["artifacts"][0]["parts"][0]["text"] == "Scripted answer: old client"
    assert got["id"] == answered["id"] and got["contextId"] == answered["contextId"]
