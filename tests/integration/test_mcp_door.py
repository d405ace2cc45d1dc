"""`/mcp` with the official `mcp` Python client: tools listed, called, refused; auth on and off.

Runs in SQLite (the embedded default) and in PostgreSQL, each with auth off and on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import httpx
import pytest
from langgraph_sdk import get_client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from graphs import REGISTRY
from tests.support_runs import api_keys, runs_settings, served

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
    settings = runs_settings(tmp_path_factory.mktemp("mcp") / "var", postgres, auth_mode=mode)
    with served(settings) as url:
        keys = (
            asyncio.run(api_keys(settings, "alice", "bob")) if mode == "api_key" else [None, None]
        )
        yield Door(url, keys[0], keys[1])


@asynccontextmanager
async def mcp_session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    """Open an initialized MCP client session on the server's `/mcp`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60, read=300)) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_every_workflow_is_a_tool_with_its_input_schema(door: Door) -> None:
    url, key, _ = door
    async with mcp_session(url, key) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(REGISTRY) | {"echo"} <= set(tools)
    assert tools["rag"].description == REGISTRY["rag"].description
    assert tools["rag"].inputSchema["required"] == ["question"]
    assert tools["rag"].inputSchema["properties"]["question"]["type"] == "string"
    assert "messages" in tools["agent"].inputSchema["properties"]
    assert all(tool.inputSchema.get("type") == "object" for tool in tools.values())


async def test_a_tool_call_runs_the_workflow_to_its_answer(door: Door) -> None:
    url, key, _ = door
    async with mcp_session(url, key) as session:
        said = {"messages": [{"role": "user", "content": "hello there"}]}
        result = await session.call_tool("agent", said)
        asked = await session.call_tool("rag", {"question": "Who led Project Falcon?"})
    assert not result.isError, result.content
    values = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert values["messages"][-1]["content"] == "Scripted answer: hello there"
    assert result.structuredContent == values
    assert not asked.isError, asked.content
    assert isinstance(json.loads(asked.content[0].text)["answer"], str)  # type: ignore[union-attr]


async def test_bad_arguments_and_refused_runs_are_tool_errors(door: Door) -> None:
    url, key, _ = door
    async with mcp_session(url, key) as session:
        wrong_type = await session.call_tool("rag", {"question": 42})
        missing = await session.call_tool("rag", {})
        unknown = await session.call_tool("no-such-workflow", {})
        # Server paths are for admins only: the run policy refuses, the model reads why.
        paths = await session.call_tool("ingest", {"paths": ["/etc"]})
        still_serving = await session.list_tools()  # the session survived each refusal
    texts = {}
    for name, result in [
        ("wrong_type", wrong_type),
        ("missing", missing),
        ("unknown", unknown),
        ("paths", paths),
    ]:
        assert result.isError, name
        texts[name] = result.content[0].text  # type: ignore[union-attr]
    assert "question" in texts["wrong_type"] and "string" in texts["wrong_type"]
    assert "question" in texts["missing"]
    assert "no tool 'no-such-workflow'" in texts["unknown"]
    assert "admin" in texts["paths"]
    assert still_serving.tools


async def test_no_credentials_is_401_when_auth_is_on(
    door: Door,
) -> None:
    url, key, _ = door
    if key is None:
        pytest.skip("auth is off on this server")
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30) as http:
        for path in ("/mcp", "/mcp/"):
            refused = await http.post(f"{url}{path}", json=hello, headers=accept)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(BaseException) as failure:  # noqa: PT011 - the client's task group wraps it
        async with mcp_session(url, None):
            pass
    assert "401" in repr(failure.value) or "401" in str(failure.value.__cause__)


async def test_a_saved_assistant_is_a_tool_of_its_owner_only(
    door: Door,
) -> None:
    url, alice, bob = door
    if alice is None or bob is None:
        pytest.skip("auth is off on this server")
    async with get_client(url=url, api_key=alice) as client:
        await client.assistants.create("echo", name="alice-echo", if_exists="do_nothing")
    async with mcp_session(url, alice) as session:
        mine = {tool.name for tool in (await session.list_tools()).tools}
        answer = await session.call_tool(
            "alice-echo", {"messages": [{"role": "user", "content": "hi"}]}
        )
    async with mcp_session(url, bob) as session:
        theirs = {tool.name for tool in (await session.list_tools()).tools}
        refused = await session.call_tool(
            "alice-echo", {"messages": [{"role": "user", "content": "hi"}]}
        )
    assert "alice-echo" in mine and "alice-echo" not in theirs
    assert not answer.isError, answer.content
    assert json.loads(answer.content[0].text)["messages"][-1]["content"] == "echo: hi"  # type: ignore[union-attr]
    assert refused.isError
