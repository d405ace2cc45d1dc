"""On the JSON-RPC doors (A2A, MCP) the door's refusal is a JSON-RPC error, not FastAPI's.

An A2A or MCP client reads `{"jsonrpc", "id", "error"}`; the door answered U+0000 there
with a 422 `{"detail": [...]}` that neither SDK parses.
"""

import httpx
import pytest

NUL = "a\x00b"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/a2a/agent",
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "message/send",
                "params": {
                    "message": {
                        "role": "user",
                        "messageId": "m1",
                        "contextId": NUL,
                        "parts": [{"kind": "text", "text": "hi"}],
                    }
                },
            },
        ),
        (
            "/mcp",
            {
                "jsonrpc": "2.0",
                "id": "call-7",
                "method": "tools/call",
                "params": {"name": "agent", "arguments": {"message": NUL}},
            },
        ),
    ],
)
async def test_text_no_store_takes_is_a_json_rpc_error(
    client: httpx.AsyncClient, path: str, message: dict[str, object]
) -> None:
    response = await client.post(path, json=message)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["jsonrpc"] == "2.0" and answer["id"] == message["id"]
    assert answer["error"]["code"] == -32602
    assert "NUL" in answer["error"]["message"] and "params" in answer["error"]["message"]


async def test_a_body_without_an_id_is_answered_with_a_null_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/a2a/agent", json={"jsonrpc": "2.0", "params": NUL})
    assert response.json()["id"] is None and response.json()["error"]["code"] == -32602
