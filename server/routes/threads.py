"""Threads of the Agent Server API: CRUD, search, copy, state, history, thread stream.

Every thread belongs to the identity that created it (`server/auth/ownership.py`): any
other identity gets 404 for it here, as on LangServe and AG-UI.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from server.auth.identity import Identity
from server.deps import IdentityDep, SettingsDep, get_identity
from server.routes.runs import RunsDep
from server.runs.records import ACTIVE, ThreadFilter, ThreadRecord
from server.runs.schema import (
    HistoryQuery,
    StateUpdate,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
    checkpoint_ref,
)
from server.runs.service import Graph, RunRejected, RunsService
from server.runs.state import get_history, get_state, update_state
from server.runs.wire import json_response, last_event_id, parse_modes, sse_response

router = APIRouter(tags=["threads"], dependencies=[Depends(get_identity)])

EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "checkpoint": None,
    "metadata": {},
    "created_at": None,
    "parent_checkpoint": None,
    "tasks": [],
    "interrupts": [],
}


@router.post("/threads")
async def create_thread(body: ThreadCreate, runs: RunsDep, identity: IdentityDep) -> Response:
    """Create a thread (`if_exists=do_nothing` returns your existing one)."""
    thread = await runs.create_thread(identity, body.thread_id, body.metadata, body.if_exists)
    return json_response(thread.public())


@router.post("/threads/search")
async def search_threads(body: ThreadSearch, runs: RunsDep, identity: IdentityDep) -> Response:
    """Search your threads by metadata, values, status or ids."""
    found = await runs.store.search_threads(
        identity.id,
        _filter(body),
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        descending=body.sort_order == "desc",
    )
    return json_response([thread.public() for thread in found])


@router.post("/threads/count")
async def count_threads(body: ThreadSearch, runs: RunsDep, identity: IdentityDep) -> Response:
    """Count your threads that match."""
    return json_response(await runs.store.count_threads(identity.id, _filter(body)))


def _filter(body: ThreadSearch) -> ThreadFilter:
    return ThreadFilter(
        metadata=body.metadata or {}, values=body.values or {}, status=body.status, ids=body.ids
    )


@router.get("/threads/{thread_id}")
async def get_thread(thread_id: str, runs: RunsDep, identity: IdentityDep) -> Response:
    """Return the thread."""
    return json_response((await runs.thread(identity, thread_id)).public())


@router.patch("/threads/{thread_id}")
async def patch_thread(
    thread_id: str, body: ThreadPatch, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Merge metadata into the thread's."""
    await runs.thread(identity, thread_id)
    thread = await runs.store.update_thread(thread_id, identity.id, body.metadata)
    return json_response(thread.public() if thread else None)


@router.delete("/threads/{thread_id}", status_code=204)
async def delete_thread(thread_id: str, runs: RunsDep, identity: IdentityDep) -> Response:
    """Delete the thread, its checkpoints, runs and stream buffers (active runs cancelled)."""
    await runs.delete_thread(identity, thread_id)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/copy")
async def copy_thread(thread_id: str, runs: RunsDep, identity: IdentityDep) -> Response:
    """Copy the thread with its whole history into a new thread you own."""
    source = await runs.thread(identity, thread_id)
    copy = await runs.create_thread(identity, str(uuid.uuid4()), dict(source.metadata), "raise")
    graph = runs.graph_of(source)
    if graph is not None:
        await _copy_checkpoints(graph, source.thread_id, copy.thread_id)
    await runs.store.set_thread_state(
        copy.thread_id,
        status="interrupted" if source.status == "interrupted" else "idle",
        values=source.values,
        interrupts=source.interrupts,
    )
    return json_response((await runs.thread(identity, copy.thread_id)).public())


async def _copy_checkpoints(graph: Graph, source: str, target: str) -> None:
    """Re-write every checkpoint and pending write of `source` under `target`, oldest first."""
    saver = graph.checkpointer
    assert saver is not None and not isinstance(saver, bool)
    tuples = [t async for t in saver.alist({"configurable": {"thread_id": source}})]
    for item in reversed(tuples):
        configurable = dict(item.config["configurable"])
        parent = item.parent_config["configurable"] if item.parent_config else {}
        config = {
            "configurable": {
                "thread_id": target,
                "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                **({"checkpoint_id": parent["checkpoint_id"]} if parent else {}),
            }
        }
        written = await saver.aput(
            config,  # type: ignore[arg-type]
            item.checkpoint,
            {**item.metadata, "thread_id": target},  # type: ignore[typeddict-unknown-key]
            item.checkpoint["channel_versions"],
        )
        by_task: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in item.pending_writes or []:
            by_task.setdefault(task_id, []).append((channel, value))
        for task_id, writes in by_task.items():
            await saver.aput_writes(written, writes, task_id)


async def _graph(
    runs: RunsService, identity: Identity, thread_id: str
) -> tuple[ThreadRecord, Graph | None]:
    thread = await runs.thread(identity, thread_id)
    return thread, runs.graph_of(thread)


@router.get("/threads/{thread_id}/state")
async def thread_state(
    thread_id: str, runs: RunsDep, identity: IdentityDep, subgraphs: bool = False
) -> Response:
    """Return the thread's current state."""
    thread, graph = await _graph(runs, identity, thread_id)
    if graph is None:
        return json_response(EMPTY_STATE)
    return json_response(await get_state(graph, thread.thread_id, subgraphs=subgraphs))


@router.get("/threads/{thread_id}/state/{checkpoint_id}")
async def thread_state_at(
    thread_id: str,
    checkpoint_id: str,
    runs: RunsDep,
    identity: IdentityDep,
    subgraphs: bool = False,
) -> Response:
    """Return the thread's state at a checkpoint."""
    thread, graph = await _graph(runs, identity, thread_id)
    if graph is None:
        return json_response(EMPTY_STATE)
    checkpoint = {"checkpoint_id": checkpoint_id}
    return json_response(await get_state(graph, thread.thread_id, checkpoint, subgraphs=subgraphs))


@router.post("/threads/{thread_id}/state/checkpoint")
async def thread_state_at_checkpoint(
    thread_id: str, body: dict[str, Any], runs: RunsDep, identity: IdentityDep
) -> Response:
    """Return the thread's state at the checkpoint in the body."""
    thread, graph = await _graph(runs, identity, thread_id)
    if graph is None:
        return json_response(EMPTY_STATE)
    checkpoint = body.get("checkpoint") or {}
    return json_response(
        await get_state(graph, thread.thread_id, checkpoint, subgraphs=bool(body.get("subgraphs")))
    )


@router.post("/threads/{thread_id}/state")
async def update_thread_state(
    thread_id: str, body: StateUpdate, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Write values into the thread's state, as if `as_node` had returned them."""
    thread, graph = await _graph(runs, identity, thread_id)
    if graph is None:
        raise RunRejected("the thread has no graph yet: run an assistant on it first")
    if await runs.store.active_runs(thread.thread_id):
        raise RunRejected("the thread has an active run; update its state when it is idle")
    if body.as_node is not None and body.as_node not in graph.nodes:
        raise RunRejected(f"as_node: no node {body.as_node!r} in this graph")
    checkpoint = checkpoint_ref(body.checkpoint, body.checkpoint_id)
    try:
        written = await update_state(
            graph, thread.thread_id, body.values, as_node=body.as_node, checkpoint=checkpoint
        )
    except (ValueError, KeyError) as error:
        raise RunRejected(f"cannot update the state: {error}") from None
    state = await get_state(graph, thread.thread_id)
    await runs.store.set_thread_state(
        thread.thread_id,
        status="interrupted" if state["interrupts"] else "idle",
        values=state["values"],
    )
    return json_response(written)


@router.get("/threads/{thread_id}/history")
async def thread_history_get(
    thread_id: str,
    runs: RunsDep,
    identity: IdentityDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    before: str | None = None,
) -> Response:
    """Return the thread's past states, newest first."""
    query = HistoryQuery(limit=limit, before={"checkpoint_id": before} if before else None)
    return await thread_history(thread_id, query, runs, identity)


@router.post("/threads/{thread_id}/history")
async def thread_history(
    thread_id: str, body: HistoryQuery, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Return the thread's past states, newest first (`before`, `metadata`, `checkpoint`)."""
    thread, graph = await _graph(runs, identity, thread_id)
    if graph is None:
        return json_response([])
    before = body.before
    before_ref = (
        {"checkpoint_id": before}
        if isinstance(before, str)
        else (before.model_dump() if before else None)
    )
    return json_response(
        await get_history(
            graph,
            thread.thread_id,
            limit=body.limit,
            before=before_ref,
            metadata=body.metadata,
            checkpoint=body.checkpoint.model_dump() if body.checkpoint else None,
        )
    )


@router.get("/threads/{thread_id}/stream")
async def thread_stream(
    thread_id: str,
    request: Request,
    runs: RunsDep,
    identity: IdentityDep,
    settings: SettingsDep,
    stream_mode: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Stream the events of the thread's active run (or, if none, of its latest run)."""
    thread = await runs.thread(identity, thread_id)
    active = await runs.store.active_runs(thread.thread_id)
    latest = active or await runs.store.list_runs(thread.thread_id, limit=1, offset=0, status=None)
    if not latest:
        return json_response({"detail": f"thread {thread_id!r} has no runs to stream"}, 404)
    run = next((r for r in latest if r.status == "running"), latest[0])
    modes = parse_modes(stream_mode)
    if modes is not None and "run_modes" in modes:
        modes = None  # the SDK's default: every event the run streams, in its own modes
    return sse_response(
        runs.events,
        run.run_id,
        after=last_event_id(request),
        modes=modes,
        keepalive_s=settings.keepalive_s,
        is_active=runs.is_active(run.run_id),
        on_disconnect=None,
        headers={
            "Content-Location": f"/threads/{thread_id}/runs/{run.run_id}",
            "X-Run-Status": run.status if run.status in ACTIVE else "final",
        },
    )
