"""The runs API against real LangGraph clients: threads, stream modes, interrupts, state.

`langgraph-sdk`'s async and sync clients and `RemoteGraph` talk to a live server, once
with runs in memory and once with them in PostgreSQL. Cancelling, multitasking,
reconnecting, ownership, webhooks and keepalives are in `test_runs.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError
from langgraph_sdk.schema import StreamPart

from tests.doubles.gated_graph import STEPS
from tests.support_runs import (
    GATED_UPDATES_AND_CUSTOM,
    texts,
    user,
)

pytestmark = pytest.mark.integration

ANSWER = ["hello there", "Scripted answer: hello there"]


@pytest.fixture
def sync_client(server: str) -> Iterator[SyncLangGraphClient]:
    with get_sync_client(url=server) as client:
        yield client


# Threads ------------------------------------------------------------------------
def test_a_thread_is_created_read_updated_and_found_with_the_sync_client(
    sync_client: SyncLangGraphClient,
) -> None:
    client = sync_client
    tag = uuid.uuid4().hex
    thread = client.threads.create(metadata={"tag": tag, "kind": "draft"})
    thread_id = thread["thread_id"]
    assert thread["status"] == "idle" and thread["metadata"] == {"tag": tag, "kind": "draft"}
    again = client.threads.create(thread_id=thread_id, if_exists="do_nothing")
    assert again["thread_id"] == thread_id and again["metadata"]["tag"] == tag
    with pytest.raises(ConflictError):
        client.threads.create(thread_id=thread_id, if_exists="raise")
    assert client.threads.get(thread_id)["metadata"]["kind"] == "draft"
    updated = client.threads.update(thread_id, metadata={"kind": "final"})
    assert updated["metadata"] == {"tag": tag, "kind": "final"}

    waiting = client.threads.create(metadata={"tag": tag})["thread_id"]
    client.runs.wait(waiting, "agent", input=user("note: buy milk"))
    found = client.threads.search(metadata={"tag": tag})
    assert {t["thread_id"] for t in found} == {thread_id, waiting}
    interrupted = client.threads.search(metadata={"tag": tag}, status="interrupted")
    assert [t["thread_id"] for t in interrupted] == [waiting]
    assert client.threads.count(metadata={"tag": tag}) == 2
    assert client.threads.count(metadata={"tag": tag, "kind": "final"}) == 1
    assert client.threads.count(metadata={"tag": tag}, status="idle") == 1


async def test_a_copied_thread_has_the_same_state_and_history_and_outlives_a_deleted_one(
    client: LangGraphClient,
) -> None:
    source = (await client.threads.create())["thread_id"]
    await client.runs.wait(source, "echo", input=user("one"))
    await client.runs.wait(source, "echo", input=user("two"))

    copy = (await client.threads.copy(source))["thread_id"]
    assert copy != source
    state = await client.threads.get_state(copy)
    assert texts(state["values"]) == ["one", "echo: one", "two", "echo: two"]
    assert state["values"] == (await client.threads.get_state(source))["values"]
    history = await client.threads.get_history(copy, limit=100)
    original = await client.threads.get_history(source, limit=100)
    assert [texts(s["values"]) for s in history] == [texts(s["values"]) for s in original]
    assert {s["checkpoint"]["thread_id"] for s in history} == {copy}

    await client.threads.delete(source)
    with pytest.raises(NotFoundError):
        await client.threads.get(source)
    with pytest.raises(NotFoundError):
        await client.threads.get_state(source)
    assert texts((await client.threads.get_state(copy))["values"])[-1] == "echo: two"
    after = await client.runs.wait(copy, "echo", input=user("three"))
    assert texts(after)[-2:] == ["three", "echo: three"]


# Stream modes -------------------------------------------------------------------
def check_values(parts: list[StreamPart]) -> None:
    values = [p.data for p in parts if p.event == "values"]
    assert texts(values[0]) == ["hello there"] and texts(values[-1]) == ANSWER


def check_updates(parts: list[StreamPart]) -> None:
    assert [next(iter(p.data)) for p in parts if p.event == "updates"] == ["route_model", "agent"]


def check_messages(parts: list[StreamPart]) -> None:
    events = {p.event for p in parts}
    assert events == {"metadata", "messages/metadata", "messages/partial", "messages/complete"}
    metadata = next(p.data for p in parts if p.event == "messages/metadata")
    assert next(iter(metadata.values()))["metadata"]["langgraph_node"] == "agent"
    partial = [p.data[0] for p in parts if p.event == "messages/partial"]
    assert partial[0]["content"] == "Scripted" and partial[-1]["content"] == ANSWER[1]
    # Each message once, when a node has returned it (the reference server's rule): the
    # question, then the reply its partials built, with the same id and content.
    complete = [m for p in parts if p.event == "messages/complete" for m in p.data]
    assert [(m["type"], m["content"]) for m in complete] == [
        ("human", ANSWER[0]),
        ("ai", ANSWER[1]),
    ]
    assert complete[-1]["id"] == partial[-1]["id"] and parts[-1].event == "messages/complete"


def check_messages_tuple(parts: list[StreamPart]) -> None:
    pairs = [p.data for p in parts if p.event == "messages"]
    assert "".join(chunk["content"] for chunk, _ in pairs) == ANSWER[1]
    assert {metadata["langgraph_node"] for _, metadata in pairs} == {"agent"}


def check_events(parts: list[StreamPart]) -> None:
    kinds = [p.data["event"] for p in parts if p.event == "events"]
    assert kinds[0] == "on_chain_start" and kinds[-1] == "on_chain_end"
    streamed = [
        p.data["data"]["chunk"]["content"]
        for p in parts
        if p.event == "events" and p.data["event"] == "on_chat_model_stream"
    ]
    assert "".join(streamed) == ANSWER[1]


def check_custom(parts: list[StreamPart]) -> None:
    assert [p.data["step"] for p in parts if p.event == "custom"] == list(range(STEPS))


def check_debug(parts: list[StreamPart]) -> None:
    kinds = {p.data["type"] for p in parts if p.event == "debug"}
    assert kinds == {"checkpoint", "task", "task_result"}


def check_tasks(parts: list[StreamPart]) -> None:
    tasks = [p.data for p in parts if p.event == "tasks"]
    assert [t["name"] for t in tasks] == ["route_model", "route_model", "agent", "agent"]
    assert tasks[-1]["result"]["messages"][0]["content"] == ANSWER[1]


def check_checkpoints(parts: list[StreamPart]) -> None:
    checkpoints = [p.data for p in parts if p.event == "checkpoints"]
    assert checkpoints[-1]["next"] == [] and texts(checkpoints[-1]["values"]) == ANSWER
    assert all(c["config"]["configurable"]["checkpoint_id"] for c in checkpoints)


MODES: dict[str, Callable[[list[StreamPart]], None]] = {
    "values": check_values,
    "updates": check_updates,
    "messages": check_messages,
    "messages-tuple": check_messages_tuple,
    "events": check_events,
    "custom": check_custom,
    "debug": check_debug,
    "tasks": check_tasks,
    "checkpoints": check_checkpoints,
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_every_stream_mode_streams_what_the_sdk_expects(
    client: LangGraphClient, mode: str
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    assistant, graph_input = ("gated", {"label": "c"}) if mode == "custom" else ("agent", None)
    parts = [
        part
        async for part in client.runs.stream(
            thread_id, assistant, input=graph_input or user(ANSWER[0]), stream_mode=mode
        )
    ]
    assert parts[0].event == "metadata" and parts[0].data["run_id"]
    assert "end" not in {p.event for p in parts}  # langgraph-api sends none: the stream closes
    assert [p.id for p in parts] == [str(n) for n in range(1, len(parts) + 1)]
    MODES[mode](parts)


async def test_subgraph_events_are_named_by_their_namespace(client: LangGraphClient) -> None:
    parts = [
        part
        async for part in client.runs.stream(
            None,
            "nested",
            input={"label": "n"},
            stream_mode=["updates", "custom"],
            stream_subgraphs=True,
        )
    ]
    inner = [p for p in parts if "|" in p.event]
    assert {p.event.split("|")[1].split(":")[0] for p in inner} == {"inner"}
    assert [p.data["step"] for p in inner if p.event.startswith("custom|")] == list(range(STEPS))
    assert [next(iter(p.data)) for p in inner if p.event.startswith("updates|")] == [
        "begin",
        "work",
    ]
    root = [p.data for p in parts if p.event == "updates"]
    assert root == [{"inner": {"label": "n", "log": ["n:begin", "n:done"]}}]


# Interrupts ---------------------------------------------------------------------
async def test_an_approval_interrupt_is_resumed_with_a_command(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    paused = await client.runs.wait(thread_id, "agent", input=user("note: buy milk"))
    [request] = paused["__interrupt__"]
    assert request["value"]["tool"] == "save_note"
    assert request["value"]["args"] == {"text": "buy milk"}
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "interrupted" and thread["interrupts"]
    assert (await client.threads.get_state(thread_id))["next"] == ["approve"]

    done = await client.runs.wait(thread_id, "agent", command={"resume": {"approved": True}})
    assert texts(done)[-1] == "Saved the note."
    assert (await client.threads.get(thread_id))["status"] == "idle"
    # langgraph-api records a run that paused on an interrupt as `success`: the thread,
    # not the run, says it waits (`interrupted` is a cancelled run's status).
    [first, second] = await client.runs.list(thread_id)
    assert (first["status"], second["status"]) == ("success", "success")
    assert paused == (await client.runs.join(thread_id, second["run_id"]))


async def test_interrupt_before_a_node_stops_there_and_continues_with_no_input(
    client: LangGraphClient,
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread_id, "echo", input=user("hold"), interrupt_before=["reply"])
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["reply"] and texts(state["values"]) == ["hold"]
    assert (await client.threads.get(thread_id))["status"] == "interrupted"

    done = await client.runs.wait(thread_id, "echo", input=None)
    assert texts(done) == ["hold", "echo: hold"]
    assert (await client.threads.get_state(thread_id))["next"] == []


@contextmanager
def remote(assistant: str, url: str) -> Iterator[RemoteGraph]:
    """Yield `RemoteGraph(assistant, url=url)` and close the sync client it opened."""
    graph = RemoteGraph(assistant, url=url)
    try:
        yield graph
    finally:
        assert graph.sync_client is not None
        graph.sync_client.close()


def test_remote_graph_invokes_is_interrupted_and_resumes_with_a_command(server: str) -> None:
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
    with remote("agent", server) as graph:
        paused = graph.invoke(user("note: buy milk"), config)
        assert paused["__interrupt__"][0]["value"]["args"] == {"text": "buy milk"}
        assert graph.get_state(config).next == ("approve",)
        done = graph.invoke(Command(resume={"approved": True}), config)
        assert texts(done)[-1] == "Saved the note."


def test_remote_graph_streams_updates_of_a_served_graph(server: str) -> None:
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
    with remote("echo", server) as graph:
        updates = list(graph.stream(user("hi"), config, stream_mode="updates"))
        assert texts(updates[0]["reply"]) == ["echo: hi"]
        history = list(graph.get_state_history(config))
        assert texts(history[0].values) == ["hi", "echo: hi"]


# State, history, forks ------------------------------------------------------------
async def test_state_updates_history_and_a_fork_from_an_earlier_checkpoint(
    client: LangGraphClient,
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread_id, "echo", input=user("one"))
    await client.runs.wait(thread_id, "echo", input=user("two"))

    await client.threads.update_state(
        thread_id, {"messages": [{"type": "ai", "content": "edited"}]}, as_node="reply"
    )
    state = await client.threads.get_state(thread_id)
    assert texts(state["values"]) == ["one", "echo: one", "two", "echo: two", "edited"]

    newest = await client.threads.get_history(thread_id, limit=2)
    assert len(newest) == 2 and newest[0]["values"] == state["values"]
    older = await client.threads.get_history(thread_id, limit=1, before=newest[0]["checkpoint"])
    assert older[0]["checkpoint"] == newest[1]["checkpoint"]

    history = await client.threads.get_history(thread_id, limit=100)
    after_one = next(s for s in history if texts(s["values"]) == ["one", "echo: one"])
    at = await client.threads.get_state(
        thread_id, checkpoint_id=after_one["checkpoint"]["checkpoint_id"]
    )
    assert at["values"] == after_one["values"] and at["checkpoint"] == after_one["checkpoint"]
    branch = await client.runs.wait(
        thread_id,
        "echo",
        input=user("other"),
        checkpoint_id=after_one["checkpoint"]["checkpoint_id"],
    )
    assert texts(branch) == ["one", "echo: one", "other", "echo: other"]
    head = await client.threads.get_state(thread_id)
    assert head["values"] == branch
    lineage = await client.threads.get_history(thread_id, limit=100)
    assert any(texts(s["values"])[-1] == "edited" for s in lineage)  # the old branch stays


# Background and stateless runs -----------------------------------------------------
async def test_a_background_run_is_joined_got_and_listed(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(thread_id, "gated", input={"label": "bg"})
    assert run["status"] in ("pending", "running") and run["thread_id"] == thread_id
    assert await client.runs.join(thread_id, run["run_id"]) == {
        "label": "bg",
        "log": ["bg:begin", "bg:done"],
    }
    assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "success"
    second = await client.runs.create(thread_id, "echo", input=user("x"))
    await client.runs.join(thread_id, second["run_id"])
    listed = await client.runs.list(thread_id)
    assert [r["run_id"] for r in listed] == [second["run_id"], run["run_id"]]
    assert [r["run_id"] for r in await client.runs.list(thread_id, limit=1, offset=1)] == [
        run["run_id"]
    ]


async def test_a_finished_run_is_rejoined_in_the_modes_asked_for(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        thread_id, "gated", input={"label": "m"}, stream_mode=["values", "updates", "custom"]
    )
    await client.runs.join(thread_id, run["run_id"])
    both = client.runs.join_stream(thread_id, run["run_id"], stream_mode=["custom", "updates"])
    assert [p.event async for p in both] == GATED_UPDATES_AND_CUSTOM
    custom = client.runs.join_stream(thread_id, run["run_id"], stream_mode="custom")
    assert [p.event async for p in custom] == ["metadata", "custom", "custom", "custom"]
    # The thread's stream defaults to `run_modes`: what the run streams.
    thread_events = [p.event async for p in await client.threads.join_stream(thread_id)]
    assert thread_events.count("values") == 3 and "end" not in thread_events


async def test_stateless_runs_wait_and_stream_without_a_thread(client: LangGraphClient) -> None:
    assert texts(await client.runs.wait(None, "echo", input=user("alone"))) == [
        "alone",
        "echo: alone",
    ]
    parts = [part async for part in client.runs.stream(None, "echo", input=user("alone"))]
    assert [p.event for p in parts] == ["metadata", "values", "values"]
    assert texts(parts[-1].data) == ["alone", "echo: alone"]


def test_a_stateless_run_waits_with_the_sync_client(sync_client: SyncLangGraphClient) -> None:
    answer = sync_client.runs.wait(None, "agent", input=user("hi"))
    assert texts(answer)[-1] == "Scripted answer: hi"
