"""The store API against the real `langgraph-sdk` client, over SQLite and PostgreSQL.

Items, filters, namespaces, semantic search (the bag-of-words embedding double through the
service's gateway, vectors in local Qdrant), TTL expiry, refusals, and two API keys that
never see each other's items, in the API or in a graph's `runtime.store`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from server.settings import Settings
from tests.support_runs import BACKENDS, api_keys, served, until

pytestmark = pytest.mark.integration

MEMORY = "tests.doubles.memory_graph:build_graph"


@pytest.fixture(scope="module", params=BACKENDS)
def store_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Settings]]:
    """Serve the app with API keys, a store index and the memory graph; yield URL, settings."""
    backend = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("store") / "var",
        postgres_url=backend,
        graphs={"memory": MEMORY},
        builtin_workflows=False,
        rate_limit="",
        rate_limit_runs="",
        auth_mode="api_key",
        store_index={"dims": 64, "embed": "embed-01", "fields": ["text"]},
    )
    with served(settings) as url:
        yield url, settings


@pytest.fixture
async def pair(
    store_server: tuple[str, Settings],
) -> AsyncIterator[tuple[LangGraphClient, LangGraphClient]]:
    """Return clients of two new identities (the PostgreSQL database is the session's)."""
    url, settings = store_server
    tag = uuid.uuid4().hex[:8]
    alice_key, bob_key = await api_keys(settings, f"alice-{tag}", f"bob-{tag}")
    async with (
        get_client(url=url, api_key=alice_key) as alice,
        get_client(url=url, api_key=bob_key) as bob,
    ):
        yield alice, bob


def keys(found: dict[str, Any]) -> list[str]:
    return [item["key"] for item in found["items"]]


async def test_items_round_trip(pair: tuple[LangGraphClient, LangGraphClient]) -> None:
    alice, _ = pair
    await alice.store.put_item(["users", "u1", "prefs"], "theme", {"text": "dark", "rank": 3})
    await alice.store.put_item(["users", "u1", "prefs"], "lang", {"text": "en", "rank": 12})
    await alice.store.put_item(["users", "u2"], "theme", {"text": "light", "rank": 7})
    item = await alice.store.get_item(["users", "u1", "prefs"], "theme")
    assert item["namespace"] == ["users", "u1", "prefs"]
    assert item["value"] == {"text": "dark", "rank": 3} and item["created_at"]
    assert await alice.store.get_item(["users", "u1", "prefs"], "missing") is None
    assert sorted(keys(await alice.store.search_items(["users", "u1"]))) == ["lang", "theme"]
    ranked = await alice.store.search_items(["users"], filter={"rank": {"$gt": 5}})
    assert sorted(keys(ranked)) == ["lang", "theme"]  # 12 and 7: numbers, not text
    exact = await alice.store.search_items(["users"], filter={"text": "light"})
    assert [item["namespace"] for item in exact["items"]] == [["users", "u2"]]
    assert len((await alice.store.search_items(["users"], limit=2))["items"]) == 2
    assert len((await alice.store.search_items(["users"], limit=2, offset=2))["items"]) == 1
    listed = await alice.store.list_namespaces()
    assert listed["namespaces"] == [["users", "u1", "prefs"], ["users", "u2"]]
    shallow = await alice.store.list_namespaces(prefix=["users"], max_depth=2)
    assert shallow["namespaces"] == [["users", "u1"], ["users", "u2"]]
    assert (await alice.store.list_namespaces(suffix=["prefs"]))["namespaces"] == [
        ["users", "u1", "prefs"]
    ]
    await alice.store.put_item(["users", "u2"], "theme", {"text": "sepia"})
    assert (await alice.store.get_item(["users", "u2"], "theme"))["value"] == {"text": "sepia"}
    await alice.store.delete_item(["users", "u2"], "theme")
    assert await alice.store.get_item(["users", "u2"], "theme") is None


async def test_query_finds_items_by_meaning(pair: tuple[LangGraphClient, LangGraphClient]) -> None:
    alice, _ = pair
    notes = {
        "tea": "I drink green tea every morning",
        "cat": "the cat sleeps on the warm mat",
        "car": "my car needs new tyres",
    }
    for key, text in notes.items():
        await alice.store.put_item(["notes"], key, {"text": text, "kind": "note"})
    await alice.store.put_item(["notes"], "hidden", {"text": "green tea"}, index=False)
    found = await alice.store.search_items(["notes"], query="which tea do I drink", limit=2)
    assert keys(found)[0] == "tea" and len(found["items"]) == 2
    scores = [item["score"] for item in found["items"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    everything = await alice.store.search_items(["notes"], query="green tea", limit=10)
    assert "hidden" not in keys(everything)  # not indexed: found by key and filter only
    filtered = await alice.store.search_items(
        ["notes"], query="green tea", filter={"kind": {"$ne": "note"}}
    )
    assert filtered["items"] == []
    await alice.store.put_item(["notes"], "tea", {"text": "tyres for the car", "kind": "note"})
    again = await alice.store.search_items(["notes"], query="green tea morning", limit=1)
    assert keys(again) != ["tea"]  # re-indexed with its new text
    await alice.store.delete_item(["notes"], "car")
    assert "car" not in keys(await alice.store.search_items(["notes"], query="car tyres"))


async def test_an_item_expires_after_its_ttl(
    pair: tuple[LangGraphClient, LangGraphClient],
) -> None:
    alice, _ = pair
    await alice.store.put_item(["short"], "brief", {"text": "gone soon"}, ttl=0.02)  # type: ignore[arg-type]
    await alice.store.put_item(["short"], "lasting", {"text": "gone never"})
    assert (await alice.store.get_item(["short"], "brief"))["value"] == {"text": "gone soon"}

    async def expired() -> bool:
        return await alice.store.get_item(["short"], "brief", refresh_ttl=False) is None

    await until(expired, timeout_s=60)
    assert keys(await alice.store.search_items(["short"])) == ["lasting"]
    assert keys(await alice.store.search_items(["short"], query="gone")) == ["lasting"]


async def test_two_identities_never_see_each_others_items(
    pair: tuple[LangGraphClient, LangGraphClient],
) -> None:
    alice, bob = pair
    await alice.store.put_item(["shared", "name"], "k", {"text": "alice's secret"})
    assert await bob.store.get_item(["shared", "name"], "k") is None
    assert (await bob.store.search_items([]))["items"] == []
    assert (await bob.store.search_items([], query="secret"))["items"] == []
    assert (await bob.store.list_namespaces())["namespaces"] == []
    await bob.store.put_item(["shared", "name"], "k", {"text": "bob's own"})
    await bob.store.delete_item(["shared", "name"], "k")
    assert (await alice.store.get_item(["shared", "name"], "k"))["value"] == {
        "text": "alice's secret"
    }
    assert await bob.store.get_item(["shared", "name"], "k") is None


async def test_bad_input_is_a_4xx_with_a_reason(
    store_server: tuple[str, Settings], pair: tuple[LangGraphClient, LangGraphClient]
) -> None:
    url, _ = store_server
    alice, _ = pair
    raw = alice.http.client
    good = {"namespace": ["a"], "key": "k", "value": {"text": "x"}}
    for change in (
        {"namespace": []},
        {"namespace": ["a.b"]},
        {"namespace": [""]},
        {"namespace": ["langgraph"]},
        {"namespace": [7]},
        {"key": ""},
        {"value": [1, 2]},
        {"ttl": -1},
        {"ttl": 0},
        {"ttl": "soon"},
        {"index": "text"},
    ):
        response = await raw.put("/store/items", json={**good, **change})
        assert response.status_code == 422, change
        assert response.json()["detail"], change
    for body in (
        {"filter": {"a": {"$regex": "x"}}},
        {"filter": {"a.b": 1}},
        {"filter": {"n": {"$gt": "ten"}}},
        {"limit": 0},
        {"limit": 100000},
        {"offset": -1},
        {"namespace_prefix": ["x.y"]},
    ):
        response = await raw.post("/store/items/search", json=body)
        assert response.status_code == 422, body
    assert (await raw.post("/store/namespaces", json={"max_depth": 0})).status_code == 422
    assert (
        await raw.get("/store/items", params={"namespace": "a..b", "key": "k"})
    ).status_code == 422
    nul = await raw.put("/store/items", json={**good, "key": "a\u0000b"})
    assert nul.status_code == 422
    key = alice.http.client.headers["x-api-key"]
    assert await declared_put_status(url, key, 7 * 2**20) == "HTTP/1.1 413"


async def declared_put_status(url: str, key: str, length: int) -> str:
    """Declare a `PUT /store/items` body of `length` bytes; return the answer's status line.

    The body is never sent: the server answers from the declared length (a client still
    writing megabytes when the 413 arrives sees a reset instead).
    """
    host, port = httpx.URL(url).host, httpx.URL(url).port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (
                f"PUT /store/items HTTP/1.1\r\nHost: {host}\r\nx-api-key: {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        writer.close()
    return " ".join(line.decode().split()[:2])


async def test_a_graph_keeps_memory_per_run_owner(
    store_server: tuple[str, Settings], pair: tuple[LangGraphClient, LangGraphClient]
) -> None:
    url, _ = store_server
    alice, bob = pair
    first = await alice.runs.wait(None, "memory", input={"note": "green tea in the morning"})
    assert first["recalled"] == ["green tea in the morning"] and first["nearest"] == ""
    second = await alice.runs.wait(None, "memory", input={"note": "green tea at night"})
    assert second["recalled"] == ["green tea at night", "green tea in the morning"]
    assert second["nearest"] == "green tea in the morning"
    theirs = await bob.runs.wait(None, "memory", input={"note": "coffee"})
    assert theirs == {"note": "coffee", "recalled": ["coffee"], "nearest": ""}
    mine = await alice.store.search_items(["notes"])
    assert sorted(keys(mine)) == ["green tea at night", "green tea in the morning"]
    assert await alice.store.get_item(["notes"], "coffee") is None
    assert keys(await bob.store.search_items(["notes"])) == ["coffee"]
    # LangServe runs the same graph through the same run service: the caller's memory too.
    key = bob.http.client.headers["x-api-key"]
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}) as raw:
        response = await raw.post("/workflows/memory/invoke", json={"input": {"note": "tea"}})
    assert response.status_code == 200, response.text
    assert response.json()["output"]["recalled"] == ["coffee", "tea"]
