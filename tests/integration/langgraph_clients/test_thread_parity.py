"""Threads where langgraph-api (probed with langgraph-sdk 0.4.14) answered otherwise than
Orca: LangGraph's special `as_node` values, search's `state_updated_at`, `extract` and
pagination headers, null metadata filters, an empty prune and `Prefer: return=minimal`.
Through `langgraph-sdk` (httpx for the headers), with runs in SQLite and in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from tests.support_runs import texts, user

pytestmark = pytest.mark.integration


async def interrupted_thread(client: LangGraphClient, text: str = "hold") -> str:
    """Return a thread whose echo run stopped before `reply`."""
    thread_id = str((await client.threads.create())["thread_id"])
    await client.runs.wait(thread_id, "echo", input=user(text), interrupt_before=["reply"])
    assert (await client.threads.get(thread_id))["status"] == "interrupted"
    return thread_id


# Special as_node values -------------------------------------------------------------
async def test_as_node_end_dismisses_an_interrupt(client: LangGraphClient) -> None:
    thread_id = await interrupted_thread(client)
    await client.threads.update_state(thread_id, None, as_node="__end__")
    state = await client.threads.get_state(thread_id)
    assert (state["next"], state["tasks"], texts(state["values"])) == ([], [], ["hold"])
    thread = await client.threads.get(thread_id)
    assert (thread["status"], thread["interrupts"]) == ("idle", {})
    # Nothing is left to resume; a new input runs from the start.
    done = await client.runs.wait(thread_id, "echo", input=user("next"))
    assert texts(done) == ["hold", "next", "echo: next"]


async def test_as_node_end_with_values_is_refused(client: LangGraphClient) -> None:
    thread_id = await interrupted_thread(client)
    with pytest.raises(UnprocessableEntityError):
        await client.threads.update_state(thread_id, user("x"), as_node="__end__")
    assert (await client.threads.get_state(thread_id))["next"] == ["reply"]


async def test_as_node_copy_forks_the_latest_checkpoint(client: LangGraphClient) -> None:
    thread_id = await interrupted_thread(client)
    before = await client.threads.get_state(thread_id)
    written = await client.threads.update_state(thread_id, None, as_node="__copy__")
    after = await client.threads.get_state(thread_id)
    assert after["checkpoint"] == written["checkpoint"] != before["checkpoint"]
    assert after["metadata"]["source"] == "fork"
    assert after["parent_checkpoint"] == before["parent_checkpoint"]  # beside, not after it
    assert (after["values"], after["next"]) == (before["values"], ["reply"])


async def test_as_node_input_writes_the_graphs_input(client: LangGraphClient) -> None:
    thread_id = str((await client.threads.create())["thread_id"])
    await client.runs.wait(thread_id, "echo", input=user("one"))
    await client.threads.update_state(thread_id, user("two"), as_node="__input__")
    state = await client.threads.get_state(thread_id)
    assert (state["metadata"]["source"], state["next"]) == ("input", ["__start__"])
    done = await client.runs.wait(thread_id, "echo", input=None)
    assert texts(done) == ["one", "echo: one", "two", "echo: two"]


async def test_as_node_start_and_unknown_names(client: LangGraphClient) -> None:
    thread_id = await interrupted_thread(client)
    await client.threads.update_state(thread_id, user("more"), as_node="__start__")
    assert texts((await client.threads.get_state(thread_id))["values"]) == ["hold", "more"]
    for name in ("nope", "__nope__"):
        with pytest.raises(UnprocessableEntityError):
            await client.threads.update_state(thread_id, user("x"), as_node=name)


async def test_supersteps_take_the_special_as_node_values(client: LangGraphClient) -> None:
    first = user("a")
    thread = await client.threads.create(
        graph_id="echo",
        supersteps=[
            {"updates": [{"as_node": "__input__", "values": first}]},
            {"updates": [{"as_node": "__start__", "values": first}]},
            {"updates": [{"as_node": "__copy__", "values": None}]},
            {"updates": [{"as_node": "__end__", "values": None}]},
        ],
    )
    assert (thread["status"], texts(thread["values"])) == ("idle", ["a"])
    history = await client.threads.get_history(thread["thread_id"], limit=10)
    assert [s["metadata"]["source"] for s in history][:2] == ["update", "fork"]
    with pytest.raises(UnprocessableEntityError):
        await client.threads.create(
            graph_id="echo",
            supersteps=[{"updates": [{"as_node": "__end__", "values": first}]}],
        )


# Search ------------------------------------------------------------------------------
async def tagged_threads(client: LangGraphClient, count: int) -> tuple[dict[str, str], list[str]]:
    """Create `count` threads with a fresh tag, oldest first; return the tag and their ids."""
    tag = {"tag": uuid.uuid4().hex}
    ids = [str((await client.threads.create(metadata=tag))["thread_id"]) for _ in range(count)]
    return tag, ids


async def test_search_sorts_and_selects_by_state_updated_at(client: LangGraphClient) -> None:
    tag, (older, newer) = await tagged_threads(client, 2)

    async def order(sort_by: Any) -> list[str]:
        found = await client.threads.search(metadata=tag, sort_by=sort_by, sort_order="desc")
        return [t["thread_id"] for t in found]

    await client.threads.update(older, metadata={"title": "renamed"})  # not a state change
    assert await order("updated_at") == [older, newer]
    assert await order("state_updated_at") == [newer, older]
    await client.runs.wait(older, "echo", input=user("hi"))
    assert await order("state_updated_at") == [older, newer]
    found = await client.threads.search(metadata=tag, select=["thread_id", "state_updated_at"])
    assert all(set(t) == {"thread_id", "state_updated_at"} for t in found)
    thread = await client.threads.get(older)
    assert thread["updated_at"] >= thread["state_updated_at"] > thread["created_at"]


async def test_search_extracts_values_by_path(client: LangGraphClient) -> None:
    tag, [thread_id] = await tagged_threads(client, 1)
    await client.runs.wait(thread_id, "echo", input=user("hi"))
    extract = {
        "last": "values.messages[-1].content",
        "first_type": "values.messages[0].type",
        "tag": "metadata.tag",
        "nowhere": "values.messages[9].content",
    }
    [full] = await client.threads.search(metadata=tag, extract=extract)
    assert full["extracted"] == {
        "last": "echo: hi",
        "first_type": "human",
        "tag": tag["tag"],
        "nowhere": None,
    }
    assert full["values"]["messages"]  # the thread is all there too
    [picked] = await client.threads.search(
        metadata=tag, select=["thread_id"], extract={"last": "values.messages[-1].content"}
    )
    assert picked == {"thread_id": thread_id, "extracted": {"last": "echo: hi"}}


@pytest.mark.parametrize(
    "extract",
    [
        {"x": "state.messages"},  # not a thread's JSON field
        {"status": "values.x"},  # an alias that is a thread field
        {"not-an-identifier": "values.x"},
        {f"a{n}": "values.x" for n in range(11)},  # more than 10
    ],
)
async def test_search_refuses_a_bad_extract(
    client: LangGraphClient, extract: dict[str, str]
) -> None:
    with pytest.raises(UnprocessableEntityError):
        await client.threads.search(extract=extract)


async def test_search_sends_pagination_headers(client: LangGraphClient, server: str) -> None:
    tag, _ = await tagged_threads(client, 3)
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:

        async def page(**body: Any) -> httpx.Response:
            return await http.post("/threads/search", json={"metadata": tag, **body})

        first = await page(limit=2)
        assert len(first.json()) == 2
        assert (first.headers["x-pagination-total"], first.headers["x-pagination-next"]) == (
            "3",
            "2",
        )
        last = await page(limit=2, offset=2)
        assert len(last.json()) == 1 and last.headers["x-pagination-total"] == "3"
        assert "x-pagination-next" not in last.headers
        whole = await page(limit=3)
        assert whole.headers["x-pagination-total"] == "3"
        assert "x-pagination-next" not in whole.headers
        narrowed = await page(limit=1, status="busy")
        assert (narrowed.json(), narrowed.headers["x-pagination-total"]) == ([], "0")


async def test_a_null_metadata_filter_needs_the_key(client: LangGraphClient) -> None:
    tag, [plain] = await tagged_threads(client, 1)
    nulled = str((await client.threads.create(metadata={**tag, "missing": None}))["thread_id"])
    wanted = {**tag, "missing": None}
    assert [t["thread_id"] for t in await client.threads.search(metadata=wanted)] == [nulled]
    assert await client.threads.count(metadata=wanted) == 1
    assert plain != nulled


# Prune and patch ---------------------------------------------------------------------
async def test_pruning_no_threads_is_a_no_op(client: LangGraphClient) -> None:
    assert await client.threads.prune([]) == {"pruned_count": 0}


async def test_patch_with_return_minimal_answers_204(client: LangGraphClient, server: str) -> None:
    thread_id = str((await client.threads.create(metadata={"a": 1}))["thread_id"])
    assert await client.threads.update(thread_id, metadata={"b": 2}, return_minimal=True) is None
    assert (await client.threads.get(thread_id))["metadata"] == {"a": 1, "b": 2}
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        minimal = await http.patch(
            f"/threads/{thread_id}", json={"metadata": {}}, headers={"Prefer": "return=minimal"}
        )
        assert (minimal.status_code, minimal.content) == (204, b"")
        full = await http.patch(f"/threads/{thread_id}", json={"metadata": {}})
        assert full.status_code == 200 and full.json()["metadata"] == {"a": 1, "b": 2}
        missing = await http.patch(
            f"/threads/{uuid.uuid4()}", json={"metadata": {}}, headers={"Prefer": "return=minimal"}
        )
        assert missing.status_code == 404


# Concurrent state updates -----------------------------------------------------------
async def test_concurrent_state_updates_all_land(client: LangGraphClient) -> None:
    """Ten updates at once each read the same head and wrote a child of it: all answered
    200 and the state kept two of them. They now take the thread one at a time."""
    thread_id = await interrupted_thread(client)
    sent = [user(f"u{i}") for i in range(10)]
    await asyncio.gather(*(client.threads.update_state(thread_id, m) for m in sent))
    kept = texts((await client.threads.get_state(thread_id))["values"])
    assert sorted(kept) == sorted(["hold", *(f"u{i}" for i in range(10))])
