"""One identity's view of the store, over LangGraph's SQLite store and local Qdrant.

Scoping, TTL defaults and expiry, value limits, semantic search through `VectorIndex`,
and the graphs' `RunStore` (whose owner is the executing run's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from langgraph.store.sqlite import AsyncSqliteStore
from qdrant_client import AsyncQdrantClient

from server.runs.schema import MAX_OFFSET
from server.store.config import StoreTTL
from server.store.expiry import ExpirySweeper
from server.store.indexed import IndexedStore
from server.store.open import MemoryStore, ttl_config
from server.store.rules import MAX_DEPTH, MIN_TTL_MINUTES, StoreRejected, owner_label
from server.store.runs import owned_store
from server.store.vectors import VectorIndex
from tests.doubles.embedder import bag_of_words
from tests.doubles.ollama import DIMENSIONS


class Unguarded:
    async def call(self, fn):  # type: ignore[no-untyped-def]
        return await fn()


async def embed(texts: list[str]) -> list[list[float]]:
    return bag_of_words(texts).tolist()  # type: ignore[no-any-return]


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    """Return a memory store in a SQLite file, indexing `text` in local Qdrant."""
    qdrant = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    ttl = ttl_config(StoreTTL(default_ttl=60))
    async with aiosqlite.connect(tmp_path / "store.sqlite", isolation_level=None) as connection:
        items = AsyncSqliteStore(connection, ttl=ttl)
        await items.setup()
        index = VectorIndex(
            qdrant,
            "orca.store.test.64",
            embed,
            dims=DIMENSIONS,
            fields=["text"],
            guard=Unguarded(),
            index_payload=False,
        )
        await index.setup()
        yield MemoryStore(
            IndexedStore(items, index, expiry=ExpirySweeper(items)), ttl=ttl, max_value_bytes=4096
        )
    await qdrant.close()


async def test_an_owner_sees_only_its_own_namespaces(memory: MemoryStore) -> None:
    alice, bob = memory.view("alice@example.com"), memory.view("bob")
    await alice.aput(("notes", "x"), "k", {"text": "alice's"})
    await bob.aput(("notes", "x"), "k", {"text": "bob's"})
    assert (await alice.aget(("notes", "x"), "k")).value == {"text": "alice's"}  # type: ignore[union-attr]
    assert [i.value["text"] for i in await bob.asearch(("notes",))] == ["bob's"]
    assert await alice.alist_namespaces() == [("notes", "x")]
    raw = await memory.items.alist_namespaces()
    assert sorted(raw) == sorted(
        [(owner_label("alice@example.com"), "notes", "x"), (owner_label("bob"), "notes", "x")]
    )
    found = await bob.asearch((), query="alice's")
    assert [item.namespace for item in found] == [("notes", "x")]
    assert found[0].value == {"text": "bob's"}


async def test_a_put_gets_the_default_ttl_and_an_explicit_one_expires(
    memory: MemoryStore,
) -> None:
    alice = memory.view("alice")
    await alice.aput(("t",), "default", {"text": "a"})
    await alice.aput(("t",), "brief", {"text": "b"}, ttl=MIN_TTL_MINUTES)
    cursor = await memory.items.items.conn.execute(  # type: ignore[attr-defined]
        "SELECT key, ttl_minutes FROM store ORDER BY key"
    )
    assert await cursor.fetchall() == [("brief", MIN_TTL_MINUTES), ("default", 60.0)]

    async def gone() -> bool:
        return await alice.aget(("t",), "brief", refresh_ttl=False) is None

    deadline = asyncio.get_running_loop().time() + 30
    while not await gone():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert [item.key for item in await alice.asearch(("t",), query="b")] == ["default"]


async def test_bad_writes_are_refused_before_anything_is_stored(memory: MemoryStore) -> None:
    alice = memory.view("alice")
    with pytest.raises(StoreRejected) as big:
        await alice.aput(("n",), "k", {"text": "x" * 5000})
    assert big.value.status == 413
    with pytest.raises(StoreRejected):
        await alice.aput(("n",), "k", {"text": "x"}, index=["", 3])  # type: ignore[list-item]
    with pytest.raises(StoreRejected):
        await alice.asearch(("n",), filter={"a": {"$near": 1}})
    with pytest.raises(StoreRejected, match="ttl"):
        await alice.aput(("n",), "k", {"text": "x"}, ttl=1e-7)
    assert await alice.alist_namespaces() == []


async def test_a_graph_cannot_page_or_list_past_the_bounds(memory: MemoryStore) -> None:
    """`runtime.store` skips the HTTP models: the store's own checks hold the same bounds."""
    alice = memory.view("alice")
    with pytest.raises(StoreRejected, match="offset"):
        await alice.asearch(("n",), offset=MAX_OFFSET + 1)
    with pytest.raises(StoreRejected, match="offset"):
        await alice.alist_namespaces(offset=2**63)
    with pytest.raises(StoreRejected, match="max_depth"):
        await alice.alist_namespaces(max_depth=MAX_DEPTH + 1)
    with pytest.raises(StoreRejected, match="refresh_ttl"):
        await alice.aget(("n",), "k", refresh_ttl="yes")  # type: ignore[arg-type]
    assert await alice.alist_namespaces(max_depth=MAX_DEPTH, offset=MAX_OFFSET) == []


async def test_semantic_search_follows_updates_and_deletes(memory: MemoryStore) -> None:
    alice = memory.view("alice")
    await alice.aput(("n",), "tea", {"text": "green tea in the morning", "kind": "drink"})
    await alice.aput(("n",), "cat", {"text": "a cat on a mat", "kind": "pet"})
    top = await alice.asearch(("n",), query="morning tea", limit=1)
    assert [item.key for item in top] == ["tea"] and top[0].score is not None
    pets = await alice.asearch(("n",), query="morning tea", filter={"kind": "pet"})
    assert [item.key for item in pets] == ["cat"]
    await alice.aput(("n",), "tea", {"text": "nothing"}, index=False)
    assert [i.key for i in await alice.asearch(("n",), query="morning tea")] == ["cat"]
    await alice.adelete(("n",), "cat")
    assert await alice.asearch(("n",), query="a cat on a mat") == []


async def test_the_graphs_store_is_the_running_owners(memory: MemoryStore) -> None:
    with pytest.raises(RuntimeError, match="outside a run"):
        await memory.graphs.aput(("n",), "k", {"text": "x"})
    async with owned_store("alice"):
        await memory.graphs.aput(("n",), "k", {"text": "from a run"})
        # A synchronous node runs in a thread: its calls hop onto the loop.
        item = await asyncio.to_thread(memory.graphs.get, ("n",), "k")
    assert item is not None and item.value == {"text": "from a run"}
    assert await memory.view("bob").aget(("n",), "k") is None
    async with owned_store("bob"):
        assert await memory.graphs.asearch(("n",)) == []
    with pytest.raises(RuntimeError, match="async methods"):
        memory.graphs.get(("n",), "k")
