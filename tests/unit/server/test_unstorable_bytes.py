"""Text no store can write, sent as raw bytes or in a DELETE body, is a 4xx (`text.py`).

The door looked for the JSON escapes `\\ud800`-`\\udfff` only: a lone surrogate written as
its UTF-8 bytes (`ED A0 80`), which Python's JSON parser reads, or as UTF-16, reached
orjson or PostgreSQL and came back as a plain-text 500 on about fifteen routes; and the
bodies of DELETE requests (`DELETE /store/items`) were not read at all.
"""

from __future__ import annotations

import httpx
import pytest

RAW = b"a\xed\xa0\x80b"
"""A lone surrogate (U+D800) in the bytes Python's `surrogatepass` decodes it from."""
JSON = {"content-type": "application/json"}


def body(template: str) -> bytes:
    return template.encode().replace(b"RAW", RAW)


def refusal(response: httpx.Response) -> str:
    found = response.json()
    if "error" in found:
        return str(found["error"]["message"])
    return "; ".join(str(item["msg"]) for item in found["detail"])


@pytest.mark.parametrize(
    ("method", "route", "template"),
    [
        ("POST", "/threads", '{"metadata": {"x": "RAW"}}'),
        ("POST", "/threads", '{"thread_id": "RAW"}'),
        ("POST", "/threads/search", '{"metadata": {"x": "RAW"}}'),
        ("POST", "/runs/wait", '{"assistant_id": "rag", "input": {"question": "RAW"}}'),
        ("POST", "/assistants", '{"graph_id": "rag", "name": "RAW"}'),
        ("PUT", "/store/items", '{"namespace": ["n"], "key": "k", "value": {"v": "RAW"}}'),
        ("DELETE", "/store/items", '{"namespace": ["nRAW"], "key": "k"}'),
        ("DELETE", "/store/items", '{"namespace": ["n"], "key": "k\\u0000"}'),
        ("POST", "/agui/agent", '{"threadId": "RAW", "runId": "r", "messages": []}'),
        ("POST", "/v1/orchestrate", '{"workflow": "rag", "input": {"question": "RAW"}}'),
    ],
)
async def test_unstorable_text_in_raw_bytes_or_a_delete_body_is_a_4xx(
    client: httpx.AsyncClient, method: str, route: str, template: str
) -> None:
    response = await client.request(method, route, content=body(template), headers=JSON)
    assert response.status_code == (400 if route.startswith("/v1/") else 422), response.text
    assert "surrogate" in refusal(response) or "U+0000" in refusal(response)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-32"])
async def test_a_lone_surrogate_in_utf16_or_utf32_is_422(
    client: httpx.AsyncClient, encoding: str
) -> None:
    text = '{"metadata": {"a": "\ud800"}}'.encode(encoding, "surrogatepass")
    response = await client.post("/threads", content=text, headers=JSON)
    assert response.status_code == 422, response.text
    assert "surrogate" in refusal(response)
    assert (await client.post("/threads/search", json={})).json() == []


async def test_a_delete_with_an_ordinary_body_still_deletes(client: httpx.AsyncClient) -> None:
    item = {"namespace": ["n"], "key": "k"}
    assert (await client.put("/store/items", json={**item, "value": {"v": 1}})).status_code < 300
    deleted = await client.request("DELETE", "/store/items", json=item)
    assert deleted.status_code < 300, deleted.text
    assert (await client.get("/store/items", params={"namespace": "n", "key": "k"})).json() is None


async def test_orchestrate_refuses_an_empty_thread_id_in_the_openai_envelope(
    client: httpx.AsyncClient,
) -> None:
    """An empty `thread_id` ran on a new thread of a random id, as if none were given."""
    body = {"workflow": "rag", "input": {"question": "q"}, "thread_id": ""}
    response = await client.post("/v1/orchestrate", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].endswith("thread_id")
    assert (await client.post("/threads/search", json={})).json() == []
