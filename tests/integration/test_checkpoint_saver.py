"""`OrcaPostgresSaver` writes what LangGraph's `AsyncPostgresSaver` writes (`saver.py`).

Both savers get the same calls on one database, under two thread ids; every row of the
three checkpoint tables must come out the same. Then one graph with an interrupt, a
resume and a state update runs on each, and LangGraph reads both back alike.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from checkpoints.open import CheckpointStore, open_checkpointer
from checkpoints.saver import ROWS_AS_VALUES, OrcaPostgresSaver

pytestmark = pytest.mark.integration

ROWS = {
    "checkpoints": "checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata",
    "checkpoint_blobs": "checkpoint_ns, channel, version, type, blob",
    "checkpoint_writes": "checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, "
    "type, blob",
}


@pytest.fixture
async def store(postgres_url: str, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    async with open_checkpointer(
        postgres_url=postgres_url, sqlite_path=tmp_path / "unused.sqlite"
    ) as opened:
        yield opened


def both(store: CheckpointStore) -> tuple[AsyncPostgresSaver, OrcaPostgresSaver]:
    ours = store.saver
    assert isinstance(ours, OrcaPostgresSaver)
    return AsyncPostgresSaver(store.pool, serde=ours.serde), ours


async def rows_of(store: CheckpointStore, thread_id: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    async with store.pool.connection() as connection:
        for table, columns in ROWS.items():
            cursor = await connection.execute(
                f"SELECT {columns} FROM {table} WHERE thread_id = %s ORDER BY {columns}",  # noqa: S608 - constants
                (thread_id,),
            )
            found[table] = await cursor.fetchall()
    return found


async def test_both_savers_write_the_same_rows(store: CheckpointStore) -> None:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {
        "count": 3,
        "name": "crane",
        "nothing": None,
        "trace": ["first", "second"],
        "messages": [HumanMessage("hello", id="m1"), AIMessage("hi", id="m2")],
        "nested": {"a": [1, 2, {"b": "c"}]},
        "delta": _DeltaSnapshot(["so", "far"]),  # a DeltaChannel's snapshot: blob + True
    }
    versions = {
        channel: f"00000000000000000000000000000001.{i}"
        for i, channel in enumerate([*checkpoint["channel_values"], "cleared"])
    }
    checkpoint["channel_versions"] = versions
    metadata: Any = {"source": "loop", "step": 1, "run_id": "r1", "parents": {}}
    child_id = str(uuid.uuid4())
    for saver, thread_id in zip(both(store), ("stock", "ours"), strict=True):
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        written = await saver.aput(config, checkpoint, metadata, versions)
        assert written["configurable"]["checkpoint_id"] == checkpoint["id"]
        child = {**checkpoint, "id": child_id, "channel_values": {"count": 4}}
        child_config = await saver.aput(written, child, {**metadata, "step": 2}, {})
        again = {**child, "channel_values": {"count": 5, "trace": ["x"]}}  # same id: update
        await saver.aput(written, again, {**metadata, "step": 3}, {"trace": "2.0"})
        assert child_config["configurable"]["checkpoint_id"] == child["id"]
        await saver.aput_writes(written, [("trace", ["third"]), ("count", 5)], "task-1", "~a")
        await saver.aput_writes(written, [("trace", ["not kept"])], "task-1", "~a")
        await saver.aput_writes(written, [("__error__", "boom")], "task-2")
        await saver.aput_writes(written, [("__error__", "replaced")], "task-2")
        await saver.aput_writes(written, [("__interrupt__", [{"value": "ask"}])], "task-3")
        await saver.aput_writes(written, [], "task-4")
    assert await rows_of(store, "ours") == await rows_of(store, "stock")


@pytest.mark.parametrize("count", [1, ROWS_AS_VALUES, ROWS_AS_VALUES + 1, 40])
async def test_many_blobs_and_writes_alike(store: CheckpointStore, count: int) -> None:
    """A `VALUES` list up to `ROWS_AS_VALUES` rows, arrays past it: the same rows."""
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {f"list{i}": [i, "x"] for i in range(count)}
    versions = {channel: "1.0" for channel in checkpoint["channel_values"]}
    checkpoint["channel_versions"] = versions
    metadata: Any = {"source": "loop", "step": 0, "parents": {}}
    writes = [(f"list{i}", [i]) for i in range(count)]
    for saver, thread_id in zip(both(store), (f"stock{count}", f"ours{count}"), strict=True):
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        written = await saver.aput(config, checkpoint, metadata, versions)
        await saver.aput_writes(written, writes, "task-1")
        await saver.aput_writes(written, [("__error__", str(count))] * count, "task-2")
    ours = await rows_of(store, f"ours{count}")
    assert len(ours["checkpoint_blobs"]) == count
    assert len(ours["checkpoint_writes"]) == count + 1  # the special channel's idx is fixed
    assert ours == await rows_of(store, f"stock{count}")


class State(TypedDict):
    trace: Annotated[list[str], operator.add]
    messages: Annotated[list[Any], add_messages]
    answer: str


def ask(state: State) -> dict[str, Any]:
    reply = interrupt({"question": "go on?"})
    return {"trace": [f"asked:{reply}"], "messages": [AIMessage(str(reply))]}


def build(saver: Any) -> Any:
    builder: StateGraph[State] = StateGraph(State)
    builder.add_node("start", lambda state: {"trace": ["start"], "answer": "none yet"})
    builder.add_node("ask", ask)
    builder.add_node("finish", lambda state: {"trace": ["finish"], "answer": "done"})
    builder.add_edge(START, "start")
    builder.add_edge("start", "ask")
    builder.add_edge("ask", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=saver)


async def conversation(graph: Any, durability: Any) -> list[Any]:
    """Run to the interrupt, update the state, resume; return what LangGraph reads back."""
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4())}}
    seen: list[Any] = []
    await graph.ainvoke({"messages": [HumanMessage("hi")]}, config, durability=durability)
    paused = await graph.aget_state(config)
    seen += [paused.values, paused.next, [t.interrupts[0].value for t in paused.tasks]]
    await graph.aupdate_state(config, {"trace": ["by hand"]}, as_node="start")
    await graph.ainvoke(Command(resume="yes"), config, durability=durability)
    final = await graph.aget_state(config)
    seen += [final.values, final.next]
    history = [state async for state in graph.aget_state_history(config)]
    seen += [[(s.metadata or {}).get("step") for s in history], [s.next for s in history]]
    seen += [[s.values for s in history], [len(s.tasks) for s in history]]
    return _without_ids(seen)


def _without_ids(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_without_ids(item) for item in value]
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items()}
    if hasattr(value, "content") and hasattr(value, "type"):
        return (value.type, value.content)
    return value


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_a_graph_reads_back_alike_on_both_savers(
    store: CheckpointStore, durability: str
) -> None:
    stock, ours = both(store)
    assert await conversation(build(ours), durability) == await conversation(
        build(stock), durability
    )
    final = await conversation(build(ours), durability)
    assert final[3]["trace"] == ["start", "by hand", "asked:yes", "finish"]
    assert final[3]["answer"] == "done"
