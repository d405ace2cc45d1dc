"""`/mcp` over raw HTTP: what a stateless Streamable HTTP server answers besides tool calls.

The same servers as `test_mcp_door.py` (SQLite and PostgreSQL, auth off and on).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.integration import test_mcp_door
from tests.integration.test_mcp_door import Door, mcp_session

door = test_mcp_door.door
"""The served door of `test_mcp_door.py` (its four servers, one at a time)."""

ACCEPT = {"Accept": "application/json, text/event-stream"}


def client(door: Door) -> httpx.AsyncClient:
    """Return an HTTP client with the caller's credentials; 10 s is plenty for each answer."""
    auth = {"Authorization": f"Bearer {door.key}"} if door.key else {}
    return httpx.AsyncClient(headers=auth, timeout=10)


def jsonrpc(response: httpx.Response) -> dict[str, Any]:
    """Return the JSON-RPC message of a JSON or a one-event SSE answer."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        message: dict[str, Any] = json.loads(data[-1])
        return message
    answer: dict[str, Any] = response.json()
    return answer


async def test_get_and_delete_are_405_allowing_post(door: Door) -> None:
    # A stateless server has nothing to send on a GET stream: the SDK's one never ended.
    async with client(door) as http:
        for path in ("/mcp", "/mcp/"):
            stream = await http.get(f"{door.url}{path}", headers={"Accept": "text/event-stream"})
            end = await http.delete(f"{door.url}{path}")
            for answer in (stream, end):
                assert answer.status_code == 405, (path, answer.status_code)
                assert answer.headers["allow"] == "POST"
                assert answer.json()["error"]["message"].startswith("Method Not Allowed")


async def test_an_unknown_method_is_method_not_found(door: Door) -> None:
    async with client(door) as http:
        unknown = await http.post(
            f"{door.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "nope"}, headers=ACCEPT
        )
        unserved = await http.post(
            f"{door.url}/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "resources/list"},
            headers=ACCEPT,
        )
    assert unknown.status_code == 200
    assert jsonrpc(unknown)["id"] == 1
    assert jsonrpc(unknown)["error"]["code"] == -32601, unknown.text
    assert "nope" in jsonrpc(unknown)["error"]["message"]
    assert jsonrpc(unserved)["error"]["code"] == -32601, unserved.text  # the SDK's own answer


async def test_a_body_not_sent_as_json_is_415_in_the_jsonrpc_envelope(door: Door) -> None:
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    async with client(door) as http:
        plain = await http.post(
            f"{door.url}/mcp", content=ping, headers={**ACCEPT, "Content-Type": "text/plain"}
        )
        charset = await http.post(
            f"{door.url}/mcp",
            content=ping,
            headers={**ACCEPT, "Content-Type": "application/json; charset=utf-8"},
        )
    assert plain.status_code == 415
    assert plain.json()["error"]["code"] == -32600
    assert "application/json" in plain.json()["error"]["message"]
    assert charset.status_code == 200 and jsonrpc(charset)["result"] == {}
    async with mcp_session(door.url, door.key) as session:  # the official client still works
        assert (await session.list_tools()).tools
