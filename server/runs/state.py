"""Thread state as `langgraph-sdk`'s `ThreadState`: values, next, checkpoint, tasks."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot, StateUpdate

from server.runs.records import ThreadStatus
from server.runs.rehearsal import rehearse_updates
from server.runs.serde import jsonable

Graph = CompiledStateGraph[Any, Any, Any, Any]

log = logging.getLogger("orca.runs")


def checkpoint_of(config: RunnableConfig | None) -> dict[str, Any] | None:
    """Return the SDK's `Checkpoint` for a checkpoint config."""
    if not config:
        return None
    configurable = config.get("configurable") or {}
    return {
        "thread_id": configurable.get("thread_id"),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable.get("checkpoint_id"),
        "checkpoint_map": configurable.get("checkpoint_map"),
    }


def state_of(snapshot: StateSnapshot) -> dict[str, Any]:
    """Return a snapshot as JSON `ThreadState`."""
    tasks = [
        {
            "id": task.id,
            "name": task.name,
            "path": jsonable(task.path),
            "error": None if task.error is None else str(task.error),
            "interrupts": jsonable(task.interrupts),
            "checkpoint": checkpoint_of(task.state) if isinstance(task.state, dict) else None,
            "state": state_of(task.state) if isinstance(task.state, StateSnapshot) else None,
            "result": jsonable(task.result),
        }
        for task in snapshot.tasks
    ]
    return {
        "values": jsonable(snapshot.values),
        "next": list(snapshot.next),
        "checkpoint": checkpoint_of(snapshot.config),
        "metadata": jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_of(snapshot.parent_config),
        "tasks": tasks,
        "interrupts": jsonable(list(snapshot.interrupts)),
    }


def public_config(config: Any) -> Any:
    """Return a config without LangGraph's `__`-prefixed configurable keys and callbacks."""
    if not isinstance(config, dict) or not isinstance(config.get("configurable"), dict):
        return config
    configurable = {k: v for k, v in config["configurable"].items() if not k.startswith("__")}
    return {**{k: v for k, v in config.items() if k != "callbacks"}, "configurable": configurable}


def stream_checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    """Return a streamed checkpoint (`debug`, `checkpoints`) with `/history`'s checkpoints.

    langgraph-api adds `checkpoint` and `parent_checkpoint` (the `Checkpoint` objects of
    `ThreadState`) to the raw `config`/`parent_config`, and a `checkpoint` to each task
    whose `state` is a subgraph's config, so a client can match the stream to `/history`.
    """
    return {
        **payload,
        "config": public_config(payload.get("config")),
        "parent_config": public_config(payload.get("parent_config")),
        "checkpoint": checkpoint_of(payload.get("config")),
        "parent_checkpoint": checkpoint_of(payload.get("parent_config")),
        "tasks": [_with_checkpoint(task) for task in payload.get("tasks") or []],
    }


def _with_checkpoint(task: Any) -> Any:
    """Give a streamed task whose `state` is a subgraph's config that config's checkpoint."""
    if not isinstance(task, dict) or not isinstance(task.get("state"), dict):
        return task
    state = public_config(task["state"])
    return {**task, "state": state, "checkpoint": checkpoint_of(state)}


def thread_config(thread_id: str, checkpoint: dict[str, Any] | None = None) -> RunnableConfig:
    """Return the config that reads `thread_id` (at `checkpoint`, when given)."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
        if checkpoint and checkpoint.get(key) is not None:
            configurable[key] = checkpoint[key]
    return RunnableConfig(configurable=configurable)


async def get_state(
    graph: Graph, thread_id: str, checkpoint: dict[str, Any] | None = None, subgraphs: bool = False
) -> dict[str, Any]:
    """Return the thread's state (at a checkpoint, when given)."""
    snapshot = await graph.aget_state(thread_config(thread_id, checkpoint), subgraphs=subgraphs)
    return state_of(snapshot)


async def get_history(
    graph: Graph,
    thread_id: str,
    *,
    limit: int,
    before: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    checkpoint: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Return the thread's states, newest first."""
    states = []
    async for snapshot in graph.aget_state_history(
        thread_config(thread_id, checkpoint),
        filter=metadata or None,
        before=thread_config(thread_id, before) if before else None,
        limit=limit,
    ):
        states.append(state_of(snapshot))
    return states


async def update_state(
    graph: Graph,
    thread_id: str,
    values: Any,
    *,
    as_node: str | None,
    checkpoint: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write `values` as if `as_node` returned them; return the new checkpoint.

    Rehearsed first (`rehearsal.py`): an unknown checkpoint is NotFound (404), values the
    graph cannot apply are RunRejected (422), and either way nothing is written.
    """
    config = thread_config(thread_id, checkpoint)
    await rehearse_updates(graph, config, [[StateUpdate(values, as_node)]])
    written = await graph.aupdate_state(config, values, as_node)
    return {"checkpoint": checkpoint_of(written)}


def thread_summary(state: dict[str, Any]) -> tuple[ThreadStatus, dict[str, list[Any]]]:
    """Return the status and the interrupts by task a thread shows for a state (`state_of`).

    What langgraph-api records after a state update (`Threads.set_status`): `interrupted`
    while the checkpoint has tasks left to run, else `idle`. So an update keeps an
    interrupted thread interrupted, and `as_node="__end__"`, which ends its tasks, frees it.
    """
    interrupts = {task["id"]: task["interrupts"] for task in state["tasks"] if task["interrupts"]}
    return ("interrupted" if state["next"] else "idle"), interrupts


async def status_of(graph: Graph, thread_id: str) -> ThreadStatus:
    """Return the status the thread's latest checkpoint gives it (no run being active).

    A thread whose checkpoint cannot be read (writes an earlier version stored that its
    reducers refuse: every read fails) is `error`, never left as it was: a caller freeing a
    `busy` thread must free it whatever its checkpoint holds.
    """
    try:
        snapshot = await graph.aget_state(thread_config(thread_id))
    except Exception:
        log.warning("thread %s: its state cannot be read; marked error", thread_id, exc_info=True)
        return "error"
    if any(task.error for task in snapshot.tasks):
        return "error"
    return "interrupted" if snapshot.next else "idle"
