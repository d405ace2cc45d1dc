"""The runs API where langgraph-api's reference server (`@langchain/langgraph-api`) showed
a difference: what the reference answers, Orca answers, through `langgraph-sdk` (and
httpx for raw wire details), with runs in SQLite and in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from server.run_policy import MAX_BATCH_RUNS
from tests.doubles.gated_graph import held, waiting
from tests.support import eventually
from tests.support_runs import GATED_UPDATES_AND_CUSTOM, SseEvent, sse_lines, texts, user

pytestmark = pytest.mark.integration


async def new_thread(client: LangGraphClient) -> str:
    return str((await client.threads.create())["thread_id"])


# Streams ---------------------------------------------------------------------------
async def test_last_event_id_minus_one_replays_a_run_and_a_thread_from_the_start(
    client: LangGraphClient, server: str
) -> None:
    thread_id = await new_thread(client)
    run = await client.runs.create(
        thread_id, "gated", input={"label": "r"}, stream_mode=["updates", "custom"]
    )
    await client.runs.join(thread_id, run["run_id"])
    # What useStream sends when it re-attaches to a run after a page reload.
    rejoined = client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")
    assert [p.event async for p in rejoined] == GATED_UPDATES_AND_CUSTOM
    thread = await client.threads.join_stream(thread_id, last_event_id="-1")
    assert [p.event async for p in thread] == GATED_UPDATES_AND_CUSTOM
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        raw = await http.get(
            f"/threads/{thread_id}/runs/{run['run_id']}/stream", headers={"Last-Event-ID": "-1"}
        )
    assert raw.status_code == 200 and b"event: end" not in raw.content


async def test_a_stream_closes_after_its_last_event_and_the_sdk_finds_the_run_final(
    server: str,
) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        body = {"assistant_id": "echo", "input": user("bye")}
        async with (
            http.stream("POST", "/runs/stream", json=body) as stream,
            aclosing(sse_lines(stream)) as lines,
        ):
            events = [e async for e in lines if isinstance(e, SseEvent)]
            run_url = stream.headers["content-location"]
        # What the SDK asks when a stream closes without `end`: the run is already final.
        assert (await http.get(run_url)).json()["status"] == "success"
    assert [e.event for e in events] == ["metadata", "values", "values"]


async def test_debug_checkpoints_match_the_history(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    streamed = [
        part.data["payload"]
        async for part in client.runs.stream(
            thread_id, "gated", input={"label": "d"}, stream_mode="debug"
        )
        if part.event == "debug" and part.data["type"] == "checkpoint"
    ]
    history = list(reversed(await client.threads.get_history(thread_id, limit=100)))

    def shape(states: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(s["metadata"]["step"], s["checkpoint"], s["parent_checkpoint"]) for s in states]

    assert shape(streamed) == shape(history)
    assert streamed[-1]["checkpoint"]["checkpoint_id"]  # the raw config stays, too
    assert streamed[-1]["config"]["configurable"]["thread_id"] == thread_id


async def test_state_tasks_have_a_path(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "echo", input=user("x"), interrupt_before=["reply"])
    [task] = (await client.threads.get_state(thread_id))["tasks"]
    assert (task["name"], task["path"]) == ("reply", ["__pregel_pull", "reply"])


async def test_subgraphs_give_their_schemas_under_the_reference_keys(
    client: LangGraphClient,
) -> None:
    found = await client.assistants.get_subgraphs("nested", recurse=True)
    assert list(found) == ["inner"]
    state = found["inner"]["state"]
    assert state["type"] == "object" and set(state["properties"]) == {"label", "log"}
    assert found["inner"]["state_schema"] == state  # and under the SDK's `GraphSchema` key


# State updates ------------------------------------------------------------------------
async def test_an_update_keeps_an_interrupted_thread_interrupted(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "echo", input=user("hold"), interrupt_before=["reply"])
    assert (await client.threads.get(thread_id))["status"] == "interrupted"
    await client.threads.update_state(
        thread_id, {"messages": [{"type": "human", "content": "and"}]}
    )
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "interrupted" and texts(thread["values"]) == ["hold", "and"]
    done = await client.runs.wait(thread_id, "echo", input=None)
    assert texts(done) == ["hold", "and", "echo: and"]
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_updating_a_thread_with_a_run_in_flight_is_409(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    run = await client.runs.create(thread_id, "echo", input=user("later"), after_seconds=60)
    with pytest.raises(ConflictError):
        await client.threads.update_state(thread_id, {"messages": [{"type": "ai", "content": "x"}]})
    await client.runs.cancel(thread_id, run["run_id"])
    cancelled = await client.runs.get(thread_id, run["run_id"])
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("interrupted", "interrupt")
    assert (await client.threads.get_state(thread_id))["values"] == {}


async def test_interrupt_before_a_node_the_graph_lacks_is_accepted(
    client: LangGraphClient,
) -> None:
    done = await client.runs.wait(None, "echo", input=user("hi"), interrupt_before=["nope"])
    assert texts(done) == ["hi", "echo: hi"]


async def test_supersteps_build_a_new_threads_history(client: LangGraphClient) -> None:
    source = await new_thread(client)
    updates = [
        part.data
        async for part in client.runs.stream(
            source, "echo", input=user("one"), stream_mode="updates"
        )
        if part.event == "updates"
    ]
    history = await client.threads.get_history(source, limit=100)
    first = history[-2]["values"]  # the input, applied
    clone = await client.threads.create(
        graph_id="echo",
        supersteps=[
            {"updates": [{"as_node": "__input__", "values": first}]},
            {"updates": [{"as_node": "__start__", "values": first}]},
            *[
                {"updates": [{"as_node": node, "values": values} for node, values in u.items()]}
                for u in updates
            ],
        ],
    )
    assert texts(clone["values"]) == ["one", "echo: one"] and clone["status"] == "idle"
    copied = await client.threads.get_history(clone["thread_id"], limit=100)

    def shape(states: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (s["next"], [(m["type"], m["content"], m["id"]) for m in s["values"]["messages"]])
            for s in states
            if s["values"]
        ]

    assert shape(copied) == shape(history) and len(copied) == len(history)
    # The thread is the graph's: it runs on, and Agent Chat UI finds it by assistant.
    after = await client.runs.wait(clone["thread_id"], "echo", input=user("two"))
    assert texts(after) == ["one", "echo: one", "two", "echo: two"]
    assert clone["metadata"] == {
        "graph_id": "echo",
        "assistant_id": clone["metadata"]["assistant_id"],
    }


async def test_supersteps_naming_no_node_are_refused_and_leave_no_thread(
    client: LangGraphClient,
) -> None:
    thread_id = str(uuid.uuid4())
    with pytest.raises(UnprocessableEntityError):
        await client.threads.create(
            thread_id=thread_id,
            graph_id="echo",
            supersteps=[{"updates": [{"as_node": "nope", "values": {}}]}],
        )
    with pytest.raises(NotFoundError):
        await client.threads.get(thread_id)


# Search, count, prune --------------------------------------------------------------------
async def test_search_selects_fields_and_count_counts(client: LangGraphClient) -> None:
    tag = {"tag": uuid.uuid4().hex}
    ids = {(await client.threads.create(metadata=tag))["thread_id"] for _ in range(3)}
    found = await client.threads.search(metadata=tag, select=["thread_id", "status"])
    assert {t["thread_id"] for t in found} == ids
    assert all(set(t) == {"thread_id", "status"} for t in found)
    assert await client.threads.count(metadata=tag) == 3
    assert await client.threads.count(metadata=tag, status="busy") == 0


async def test_prune_deletes_threads_or_keeps_their_latest_state(client: LangGraphClient) -> None:
    kept, gone = await new_thread(client), await new_thread(client)
    for thread_id in (kept, gone):
        await client.runs.wait(thread_id, "echo", input=user("one"))
        await client.runs.wait(thread_id, "echo", input=user("two"))
    assert len(await client.threads.get_history(kept, limit=100)) > 1
    before = (await client.threads.get_state(kept))["values"]

    result = await client.threads.prune([kept, str(uuid.uuid4())], strategy="keep_latest")
    assert result == {"pruned_count": 1}  # an id that is not your thread is not counted
    [latest] = await client.threads.get_history(kept, limit=100)
    assert latest["values"] == before and latest["parent_checkpoint"] is None
    after = await client.runs.wait(kept, "echo", input=user("three"))
    assert texts(after)[-2:] == ["three", "echo: three"] and len(texts(after)) == 6

    assert await client.threads.prune([gone]) == {"pruned_count": 1}
    with pytest.raises(NotFoundError):
        await client.threads.get(gone)


async def test_prune_keep_latest_skips_a_thread_with_a_run_in_progress(
    client: LangGraphClient,
) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "gated", input={"label": "first"})
    with held() as label:
        run = await client.runs.create(thread_id, "gated", input={"label": label})
        assert await client.threads.prune([thread_id], strategy="keep_latest") == {
            "pruned_count": 0
        }
    await client.runs.join(thread_id, run["run_id"])
    assert len(await client.threads.get_history(thread_id, limit=100)) > 2


# Bulk runs -------------------------------------------------------------------------------
async def test_a_batch_of_stateless_runs_and_a_bulk_cancel_by_ids(client: LangGraphClient) -> None:
    created = await client.runs.create_batch(
        [
            {"assistant_id": "echo", "input": user("a")},
            {"assistant_id": "gated", "input": {"label": "b"}},
        ]
    )
    assert [run["assistant_id"] for run in created] == [
        (await client.assistants.get(name))["assistant_id"] for name in ("echo", "gated")
    ]
    for run in created:
        assert await client.runs.join(run["thread_id"], run["run_id"])

    thread_id = await new_thread(client)
    later = await client.runs.create(thread_id, "echo", input=user("x"), after_seconds=60)
    await client.runs.cancel_many(thread_id=thread_id, run_ids=[later["run_id"]])
    cancelled = await client.runs.get(thread_id, later["run_id"])
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("interrupted", "interrupt")
    assert (await client.threads.get(thread_id))["status"] == "idle"  # not left `busy`


async def test_an_empty_batch_and_one_over_the_cap_are_refused(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        assert (await http.post("/runs/batch", json=[])).status_code == 422
        threads_before = (await http.post("/threads/count", json={})).json()
        run = {"assistant_id": "echo", "input": user("x")}
        over = await http.post("/runs/batch", json=[run] * (MAX_BATCH_RUNS + 1))
        assert over.status_code == 422, over.text
        assert over.json()["detail"][0]["type"] == "too_long"
        assert (await http.post("/threads/count", json={})).json() == threads_before
        # One refused run refuses the batch before any starts (the first used to run).
        kept = {**run, "on_completion": "keep"}
        mixed = await http.post("/runs/batch", json=[kept, {"assistant_id": "nope"}])
        assert mixed.status_code == 404, mixed.text
        assert (await http.post("/threads/count", json={})).json() == threads_before


# Listing, joining and cancelling runs ------------------------------------------------------
async def test_listing_runs_selects_fields_and_refuses_unknown_ones(
    client: LangGraphClient,
) -> None:
    """`select` was ignored (whole runs came back) and an unknown name accepted."""
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "echo", input=user("one"))
    await client.runs.wait(thread_id, "echo", input=user("two"))
    listed = await client.runs.list(thread_id, select=["run_id", "status"])
    assert [set(run) for run in listed] == [{"run_id", "status"}] * 2
    assert {run["status"] for run in listed} == {"success"}
    with pytest.raises(UnprocessableEntityError):
        await client.runs.list(thread_id, select=["bogus"])  # type: ignore[list-item]


async def test_a_run_cancelled_before_it_started_joins_to_the_thread_s_values(
    client: LangGraphClient,
) -> None:
    """Its join answered `null` (the SDK's `join` returned None)."""
    thread_id = await new_thread(client)
    before = await client.runs.wait(thread_id, "echo", input=user("one"))
    later = await client.runs.create(thread_id, "echo", input=user("two"), after_seconds=60)
    await client.runs.cancel(thread_id, later["run_id"])
    assert await client.runs.join(thread_id, later["run_id"]) == before
    assert texts(before) == ["one", "echo: one"]


async def test_a_run_cancelled_while_running_joins_to_its_values_not_an_error(
    client: LangGraphClient,
) -> None:
    """A user's cancel is no error: join, `cancel(wait=True)` and a `wait` cut short
    answer the values the run kept. They answered `{"__error__": {"error": "Cancelled"}}`
    while `join_stream` of the same run ended cleanly."""
    thread_id = await new_thread(client)
    with held() as label:
        waited = asyncio.ensure_future(client.runs.wait(thread_id, "gated", input={"label": label}))
        await eventually(lambda: waiting(label))
        [run] = await client.runs.list(thread_id)
        answered = await client.runs.cancel(thread_id, run["run_id"], wait=True)
        kept = {"label": label, "log": [f"{label}:begin"]}
        assert answered == kept
        assert await waited == kept
        assert await client.runs.join(thread_id, run["run_id"]) == kept
    joined = client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")
    assert "error" not in [part.event async for part in joined]


async def test_a_rolled_back_run_joins_to_the_values_from_before_it(
    client: LangGraphClient,
) -> None:
    thread_id = await new_thread(client)
    before = await client.runs.wait(thread_id, "gated", input={"label": "kept"})
    with held() as label:
        run = await client.runs.create(thread_id, "gated", input={"label": label})
        await eventually(lambda: waiting(label))
        rolled_back = await client.runs.cancel(
            thread_id, run["run_id"], wait=True, action="rollback"
        )
    assert rolled_back == before and before["log"] == ["kept:begin", "kept:done"]


async def test_cancelling_a_finished_run_is_404_and_a_live_one_202_with_no_body(
    client: LangGraphClient, server: str
) -> None:
    """Orca answered 200 with the finished run, and the run itself to a cancel."""
    thread_id = await new_thread(client)
    done = await client.runs.create(thread_id, "echo", input=user("one"))
    await client.runs.join(thread_id, done["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.cancel(thread_id, done["run_id"])
    with pytest.raises(NotFoundError):  # a bulk cancel that finds nothing to stop, too
        await client.runs.cancel_many(thread_id=thread_id, run_ids=[done["run_id"]])
    later = await client.runs.create(thread_id, "echo", input=user("two"), after_seconds=60)
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        cancelled = await http.post(f"/threads/{thread_id}/runs/{later['run_id']}/cancel")
    assert (cancelled.status_code, cancelled.content) == (202, b"")
    with pytest.raises(UnprocessableEntityError):  # `status` cancels by status alone
        await client.runs.cancel_many(status="all", thread_id=thread_id)
