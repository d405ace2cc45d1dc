"""The streaming protocol ("v2") against its real clients: langgraph-sdk's `threads.stream`
and the JS SDK's `ThreadStream` (what `@langchain/react` drives), on SQLite and PostgreSQL,
with auth off and on.

Flows: a run streamed to its end (messages, values); an approval interrupt answered with
`input.respond`; a stream closed mid-run and reopened with `since`; another identity's
thread refused; and commands no client should be able to turn into a 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.doubles.gated_graph import hold, release
from tests.support_runs import api_keys, runs_settings, served, texts, until, user

pytestmark = pytest.mark.integration

JS_DIR = Path(__file__).resolve().parents[2] / "protocol_js"
ANSWER = ["hello there", "Scripted answer: hello there"]
SAVED = "Saved the note."


@pytest.fixture(scope="module")
def secured(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """Serve with API keys; yield the URL and the keys of alice and bob."""
    settings = runs_settings(tmp_path_factory.mktemp("keys") / "var", backend, auth_mode="api_key")
    with served(settings) as url:
        alice, bob = asyncio.run(api_keys(settings, "alice", "bob"))
        yield url, alice, bob


@pytest.fixture(params=["auth off", "auth on"])
def door(
    request: pytest.FixtureRequest, backend: str | None
) -> tuple[str, dict[str, str], str | None]:
    """Return a server URL (on `backend`), the headers of its caller, and its API key."""
    del backend  # named so the tests using `door` run on both backends
    if request.param == "auth off":
        return request.getfixturevalue("server"), {}, None
    url, alice, _ = request.getfixturevalue("secured")
    return url, {"x-api-key": alice}, alice


# langgraph-sdk (Python) ---------------------------------------------------------------
async def test_a_run_streams_its_messages_and_values_to_the_end(
    door: tuple[str, dict[str, str], str | None],
) -> None:
    url, _, key = door
    async with get_client(url=url, api_key=key) as client:
        async with client.threads.stream(assistant_id="agent") as thread:
            await thread.run.start(input=user("hello there"))
            async with asyncio.timeout(30):
                # Each message is fed while the projection is iterated: read its text after.
                streamed = [message async for message in thread.messages]
                replies = [await message.text for message in streamed]
            final = await thread.output.with_timeout(30)
            state = await client.threads.get_state(thread.thread_id)
    assert replies == ["Scripted answer: hello there"]
    assert texts(final) == ANSWER and texts(state["values"]) == ANSWER


async def test_an_interrupt_is_answered_with_input_respond(
    door: tuple[str, dict[str, str], str | None],
) -> None:
    url, _, key = door
    async with get_client(url=url, api_key=key) as client:
        async with client.threads.stream(assistant_id="agent") as thread:
            await thread.run.start(input=user("note: buy milk"))

            async def asked() -> bool:
                return bool(thread.interrupts)

            await until(asked, timeout_s=30)
            [request] = thread.interrupts
            assert request["value"]["args"] == {"text": "buy milk"}
            await thread.run.respond({"approved": True})
            final = await thread.output.with_timeout(30)
        runs = await client.runs.list(thread.thread_id)
    assert texts(final)[-1] == SAVED
    assert [run["status"] for run in runs] == ["success", "success"]  # as langgraph-api


async def test_a_stream_reopened_with_since_gets_the_rest_once(
    door: tuple[str, dict[str, str], str | None],
) -> None:
    url, headers, _ = door
    label = f"resume-{uuid.uuid4().hex[:8]}"
    hold(label)
    thread_id = str(uuid.uuid4())
    body = {"channels": ["values", "updates", "custom", "lifecycle"]}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        try:
            started = await command(
                http, thread_id, "run.start", assistant_id="gated", input={"label": label}
            )
            assert started["type"] == "success", started
            before = await read_events(
                http, thread_id, body, stop=lambda e: e["method"] == "custom"
            )
        finally:
            release(label)
        after = await read_events(
            http, thread_id, {**body, "since": before[-1]["seq"]}, stop=root_end
        )
        whole = await read_events(http, thread_id, body, stop=root_end)
    ids = [event["event_id"] for event in whole]
    assert [e["event_id"] for e in before] + [e["event_id"] for e in after] == ids
    seqs = [event["seq"] for event in whole]
    assert seqs == sorted(set(seqs))
    assert [e["params"]["data"]["payload"]["step"] for e in whole if e["method"] == "custom"] == [
        0,
        1,
        2,
    ]
    assert whole[-1]["params"]["data"]["event"] == "completed"


async def test_another_identitys_thread_is_refused_in_the_protocols_envelope(
    secured: tuple[str, str, str],
) -> None:
    url, alice, bob = secured
    thread_id = str(uuid.uuid4())
    async with (
        httpx.AsyncClient(base_url=url, headers={"x-api-key": alice}, timeout=30) as owner,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": bob}, timeout=30) as other,
        get_client(url=url, api_key=bob) as bob_client,
    ):
        started = await command(
            owner, thread_id, "run.start", assistant_id="echo", input=user("mine")
        )
        assert started["type"] == "success"
        for method, params in [
            ("run.start", {"assistant_id": "echo", "input": user("theirs")}),
            ("state.get", {"namespace": []}),
            ("state.listCheckpoints", {}),
            ("agent.getTree", {}),
            ("input.respond", {"interrupt_id": "x", "response": 1}),
            ("state.fork", {"checkpoint_id": "x"}),
        ]:
            answer = await other.post(
                f"/threads/{thread_id}/commands", json={"id": 7, "method": method, "params": params}
            )
            assert answer.status_code == 404, (method, answer.text)
            assert answer.json() == {
                "type": "error",
                "id": 7,
                "error": "no_such_run",
                "message": f"no thread {thread_id!r}",
            }
        refused = await other.post(
            f"/threads/{thread_id}/stream/events", json={"channels": ["values"]}
        )
        assert refused.status_code == 404 and refused.json()["error"] == "no_such_run"
        async with bob_client.threads.stream(thread_id, assistant_id="echo") as thread:
            with pytest.raises(httpx.HTTPStatusError) as refusal:
                await thread.run.start(input=user("theirs"))
        assert refusal.value.response.status_code == 404
        async with httpx.AsyncClient(base_url=url) as nobody:
            anonymous = await nobody.post(
                f"/threads/{thread_id}/commands", json={"id": 1, "method": "state.get"}
            )
        assert anonymous.status_code == 401
        mine = await owner.post(
            f"/threads/{thread_id}/commands", json={"id": 2, "method": "state.get"}
        )
        assert texts(mine.json()["result"]["values"]) == ["mine", "echo: mine"]


async def test_commands_a_client_gets_wrong_are_4xx_in_the_protocols_envelope(server: str) -> None:
    thread_id = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        ran = await command(http, thread_id, "run.start", assistant_id="echo", input=user("hi"))
        assert ran["type"] == "success"
        cases: list[tuple[Any, int, str]] = [
            ({"id": 1, "method": "run.fly"}, 400, "unknown_command"),
            ({"id": 2, "method": "input.inject", "params": {}}, 400, "not_supported"),
            ({"id": 3, "method": "run.start", "params": {"input": 1}}, 400, "invalid_argument"),
            (
                {"id": 4, "method": "run.start", "params": {"assistant_id": "nope"}},
                404,
                "invalid_argument",
            ),
            (
                {
                    "id": 5,
                    "method": "run.start",
                    "params": {"assistant_id": "echo", "multitask_strategy": "x"},
                },
                400,
                "invalid_argument",
            ),
            (
                {"id": 6, "method": "state.listCheckpoints", "params": {"limit": 10**9}},
                400,
                "invalid_argument",
            ),
            (
                {
                    "id": 7,
                    "method": "input.respond",
                    "params": {"interrupt_id": "nope", "response": 1},
                },
                400,
                "invalid_argument",
            ),
            (
                {"id": 8, "method": "state.fork", "params": {"checkpoint_id": "nope"}},
                404,
                "no_such_checkpoint",
            ),
            (
                {"id": 9, "method": "state.get", "params": {"namespace": ["deep"]}},
                404,
                "no_such_namespace",
            ),
            (
                {"id": 10, "method": "agent.getTree", "params": {"run_id": "nope"}},
                404,
                "no_such_run",
            ),
            ({"id": -1, "method": "state.get"}, 400, "invalid_argument"),
            ({"id": "1", "method": "state.get"}, 400, "invalid_argument"),
            ({"method": "state.get"}, 400, "invalid_argument"),
            ([1, 2], 400, "invalid_argument"),
            ({"id": 11, "method": "state.get", "params": "all"}, 400, "invalid_argument"),
        ]
        for payload, status, code in cases:
            answer = await http.post(f"/threads/{thread_id}/commands", json=payload)
            assert (answer.status_code, answer.json()["error"]) == (status, code), (
                payload,
                answer.text,
            )
        garbage = await http.post(f"/threads/{thread_id}/commands", content=b"{not json")
        assert garbage.status_code == 400 and garbage.json()["type"] == "error"
        for bad in [
            {"channels": []},
            {"channels": ["everything"]},
            {"channels": ["values"], "since": -1},
            {"channels": ["values"], "depth": "1"},
            {"channels": ["values"], "namespaces": "root"},
            {"channels": ["values"], "extra": 1},
        ]:
            refused = await http.post(f"/threads/{thread_id}/stream/events", json=bad)
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_argument", bad


# The JS SDK's ThreadStream ---------------------------------------------------------------
@pytest.fixture(scope="module")
def js_client() -> None:
    """Install the JS SDK pinned by `tests/protocol_js/package-lock.json` (once)."""
    if not (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=300
        )


async def test_the_js_thread_stream_runs_every_flow(
    door: tuple[str, dict[str, str], str | None], secured: tuple[str, str, str], js_client: None
) -> None:
    url, _, key = door
    streamed = await js_flow(url, "stream", key)
    assert streamed["final"] == ANSWER and streamed["state"] == ANSWER
    assert streamed["texts"] == ["Scripted answer: hello there"]
    assert streamed["tree"]["tree"]["status"] == "completed"

    answered = await js_flow(url, "interrupt", key)
    assert answered["asked"]["args"] == {"text": "buy milk"}
    assert answered["final"][-1] == SAVED and answered["statuses"][-1] == "completed"

    label = f"js-{uuid.uuid4().hex[:8]}"
    hold(label)
    try:
        resumed = await js_flow(url, "resume", key, label=label)
    finally:
        release(label)
    assert resumed["before"] + resumed["after"] == resumed["full"]
    assert resumed["methods"][-1] == "lifecycle"

    secured_url, alice, bob = secured
    refused = await js_flow(secured_url, "refused", alice, bob)
    assert refused["start"]["status"] == 404 and "no thread" in refused["start"]["message"]
    assert refused["stream"]["status"] == 404 and refused["state"]["status"] == 404


# Helpers -----------------------------------------------------------------------------
def root_end(event: dict[str, Any]) -> bool:
    """Return whether `event` is the root's terminal lifecycle event."""
    return (
        event["method"] == "lifecycle"
        and not event["params"]["namespace"]
        and event["params"]["data"]["event"] in ("completed", "failed", "interrupted")
    )


async def command(http: httpx.AsyncClient, thread_id: str, method: str, **params: Any) -> Any:
    """Send one protocol command; return the answer's JSON."""
    answer = await http.post(
        f"/threads/{thread_id}/commands", json={"id": 1, "method": method, "params": params}
    )
    return answer.json()


async def read_events(
    http: httpx.AsyncClient, thread_id: str, body: dict[str, Any], *, stop: Any
) -> list[dict[str, Any]]:
    """Read the thread's event stream until `stop(event)`; then close it."""
    seen: list[dict[str, Any]] = []
    async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
        assert response.status_code == 200, await response.aread()
        async for data in sse_data(response.aiter_lines()):
            seen.append(data)
            if stop(data):
                break
    return seen


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Yield the JSON `data` of each SSE frame."""
    data = ""
    async for line in lines:
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            yield json.loads(data)
            data = ""


async def js_flow(url: str, flow: str, *keys: str | None, label: str | None = None) -> Any:
    """Run one flow of `flows.mjs` with the JS SDK; return its result."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the JS client tests"
    env = {**os.environ, "GATED_LABEL": label or ""}
    process = await asyncio.create_subprocess_exec(
        node,
        "flows.mjs",
        url,
        flow,
        *[k or "" for k in keys],
        cwd=JS_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    result = None
    while line := await asyncio.wait_for(process.stdout.readline(), timeout=120):
        shown = json.loads(line)
        if "disconnected" in shown and label:
            release(label)  # the run finishes while the client is away
        result = shown.get("result", result)
    code = await process.wait()
    errors = await process.stderr.read() if process.stderr else b""
    assert code == 0, errors.decode(errors=sys.getdefaultencoding() and "replace")
    return result
