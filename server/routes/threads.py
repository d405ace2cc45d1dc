"""Threads of the Agent Server API: CRUD, search, copy, state, history, thread stream.

Every thread belongs to the identity that created it (`server/auth/ownership.py`): any
other identity gets 404 for it here, as on LangServe and AG-UI.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from langgraph.errors import InvalidUpdateError
from langgraph.types import StateUpdate as GraphUpdate

from server.auth.identity import Identity
from server.deps import IdentityDep, SettingsDep, get_identity
from server.routes.runs import RunsDep
from server.runs.as_node import check_as_node
from server.runs.execute import command_from
from server.runs.pruning import keep_latest
from server.runs.records import ACTIVE, ThreadFilter, ThreadRecord
from server.runs.rehearsal import rehearse_supersteps_of_new_thread
from server.runs.schema import (
    Body,
    CheckpointRef,
    HistoryQuery,
    StateUpdate,
    Superstep,
    ThreadCreate,
    ThreadPatch,
    ThreadPrune,
    ThreadSearch,
    checkpoint_ref,
)
from server.runs.service import Graph, NotFound, RunRejected, RunsService
from server.runs.state import (
    get_history,
    get_state,
    thread_config,
    thread_summary,
    update_state,
)
from server.runs.thread_extract import check_extract, extracted
from server.runs.wire import (
    json_response,
    last_event_id,
    parse_modes,
    run_path,
    sse_response,
)

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
    """Create a thread (`if_exists=do_nothing` returns your existing one).

    `supersteps` build a new thread's history (langgraph-api's `bulk_update_state`): the
    graph is `metadata.graph_id`'s. They are rehearsed before the thread's row exists, so a
    step that cannot be applied is a 422 that leaves no thread (and one that fails anyway
    deletes it).
    """
    ttl = body.ttl.expiry() if body.ttl else None
    if not body.supersteps:
        thread = await runs.create_thread(
            identity, body.thread_id, body.metadata, body.if_exists, ttl
        )
        return json_response(thread.public())
    graph_id = str(body.metadata.get("graph_id") or "")
    if graph_id not in runs.graphs:
        raise RunRejected(
            "supersteps need metadata.graph_id, the graph whose nodes they name; "
            f"one of {sorted(runs.graphs)}"
        )
    graph = runs.graphs[graph_id]
    steps = _supersteps(runs, identity, graph_id, graph, body.supersteps)
    existing = None
    if body.thread_id is not None:
        existing = await runs.store.get_thread(body.thread_id, identity.id)
    if existing is None:
        await rehearse_supersteps_of_new_thread(graph, steps)
    assistant = await runs.find_assistant(identity, graph_id)
    marks = {"assistant_id": assistant.assistant_id, **body.metadata}
    thread = await runs.create_thread(identity, body.thread_id, marks, body.if_exists, ttl)
    if existing:  # `do_nothing` on your own thread: it keeps the history it has
        return json_response(thread.public())
    try:
        await graph.abulk_update_state(thread_config(thread.thread_id), steps)
    except Exception as error:
        await runs.delete_thread(identity, thread.thread_id)
        if isinstance(error, (ValueError, KeyError, InvalidUpdateError)):
            raise RunRejected(f"supersteps: cannot apply them: {error}") from None
        raise
    state = await get_state(graph, thread.thread_id)
    status, interrupts = thread_summary(state)
    await runs.store.set_thread_state(
        thread.thread_id, status=status, values=state["values"], interrupts=interrupts
    )
    return json_response((await runs.thread(identity, thread.thread_id)).public())


def _supersteps(
    runs: RunsService, identity: Identity, graph_id: str, graph: Graph, given: list[Superstep]
) -> list[list[GraphUpdate]]:
    """Check the supersteps (nodes, the caller's policy) and turn them into LangGraph's."""
    steps = []
    for number, superstep in enumerate(given):
        updates = []
        for update in superstep.updates:
            check_as_node(graph, update.as_node, update.values, f"supersteps[{number}]")
            runs.check_input(graph_id, update.values, identity)
            # A `Command` goes where values go: the node's writers take either, as a node's
            # own return value (LangGraph types the field as values only).
            values: Any = update.values
            if update.command is not None:
                values = command_from(update.command.model_dump(exclude_unset=True))
                runs.check_input(graph_id, update.command.update, identity)
            updates.append(GraphUpdate(values, update.as_node))
        steps.append(updates)
    return steps


@router.post("/threads/search")
async def search_threads(body: ThreadSearch, runs: RunsDep, identity: IdentityDep) -> Response:
    """Search your threads by metadata, values, status or ids (`select`: only those fields).

    `extract` adds `extracted` to each thread (read from the whole thread, selected or
    not). The headers are langgraph-api's: `X-Pagination-Total`, the count of the threads
    that match (under the same ownership and authorization filters), and
    `X-Pagination-Next`, the next page's offset, while threads remain past this page.
    """
    if body.extract:
        check_extract(body.extract)
    where = _filter(body)
    found = await runs.search_threads(
        identity,
        where,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        descending=body.sort_order == "desc",
    )
    threads = []
    for thread in (record.public() for record in found):
        shown = (
            thread if body.select is None else {k: thread[k] for k in body.select if k in thread}
        )
        if body.extract:
            shown["extracted"] = extracted(thread, body.extract)
        threads.append(shown)
    total = await runs.count_threads(identity, where)
    headers = {"X-Pagination-Total": str(total)}
    if body.offset + len(found) < total:
        headers["X-Pagination-Next"] = str(body.offset + body.limit)
    return json_response(threads, headers=headers)


@router.post("/threads/prune")
async def prune_threads(body: ThreadPrune, runs: RunsDep, identity: IdentityDep) -> Response:
    """Delete your threads (`delete`), or all but their latest state (`keep_latest`).

    Ids that are not your threads are skipped, and so, for `keep_latest`, are threads with
    a run in progress (its checkpoints are being written); `pruned_count` counts the rest.
    Every thread is authorized before any is pruned: the project's `threads.delete` rule
    (`keep_latest`: `threads.update`, the thread stays) hides a thread its filters do not
    match, and a refusal (403) prunes nothing.
    """
    action = "delete" if body.strategy == "delete" else "update"
    threads: list[ThreadRecord] = []
    for thread_id in dict.fromkeys(body.thread_ids):
        try:
            threads.append(await runs.thread(identity, thread_id, action))
        except NotFound:
            continue
    pruned = 0
    for thread in threads:
        thread_id = thread.thread_id
        if body.strategy == "delete":
            try:
                await runs.delete_thread(identity, thread_id)
            except NotFound:  # deleted meanwhile
                continue
        elif await runs.store.active_runs(thread_id):
            continue
        elif (graph := runs.graph_of(thread)) is not None:
            try:
                await keep_latest(graph.checkpointer, thread_id)
            except NotImplementedError as error:  # a thread with a DeltaChannel, on PostgreSQL
                raise RunRejected(f"thread {thread_id!r}: cannot keep_latest: {error}") from None
        pruned += 1
    return json_response({"pruned_count": pruned})


@router.post("/threads/count")
async def count_threads(body: ThreadSearch, runs: RunsDep, identity: IdentityDep) -> Response:
    """Count your threads that match."""
    return json_response(await runs.count_threads(identity, _filter(body)))


def _filter(body: ThreadSearch) -> ThreadFilter:
    return ThreadFilter(
        metadata=body.metadata or {}, values=body.values or {}, status=body.status, ids=body.ids
    )


@router.get("/threads/{thread_id}")
async def get_thread(
    thread_id: str,
    runs: RunsDep,
    identity: IdentityDep,
    include: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Return the thread; `include=ttl` adds its `ttl` when it has one.

    `include` is comma-separated (langgraph-sdk's `get(include=[...])`); a field Orca does
    not know is ignored, as langgraph-api does. Reading a thread does not restart its TTL.
    """
    thread = await runs.thread(identity, thread_id)
    shown = thread.public()
    fields = {name.strip() for value in include or [] for name in value.split(",")}
    if "ttl" in fields and (ttl := thread.ttl()) is not None:
        shown["ttl"] = ttl
    return json_response(shown)


@router.patch("/threads/{thread_id}")
async def patch_thread(
    thread_id: str,
    body: ThreadPatch,
    runs: RunsDep,
    identity: IdentityDep,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Merge metadata into the thread's; a `ttl` replaces its TTL, counted from now.

    `Prefer: return=minimal` (RFC 7240; the SDK's `update(..., return_minimal=True)`)
    answers 204 without the thread, as langgraph-api does (no other route of its honours
    `Prefer`).
    """
    thread = await runs.update_thread(identity, thread_id, body.metadata)
    if thread is not None and body.ttl is not None:  # allowed by the same `threads.update`
        thread = await runs.store.set_thread_ttl(thread_id, identity.id, body.ttl.expiry())
    if _wants_minimal(prefer):
        return Response(status_code=204)
    return json_response(thread.public() if thread else None)


def _wants_minimal(prefer: str | None) -> bool:
    """Return whether a `Prefer` header asks for `return=minimal` among its preferences."""
    tokens = (token.split(";")[0].strip().lower() for token in (prefer or "").split(","))
    return "return=minimal" in tokens


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
    runs: RunsService, identity: Identity, thread_id: str, action: str = "read"
) -> tuple[ThreadRecord, Graph | None]:
    thread = await runs.thread(identity, thread_id, action)
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


class StateAtCheckpoint(Body):
    """`POST /threads/{id}/state/checkpoint` (`langgraph-sdk`'s `get_state(checkpoint=...)`)."""

    checkpoint: CheckpointRef | None = None
    """The checkpoint to read (absent: the latest)."""
    subgraphs: bool = False


@router.post("/threads/{thread_id}/state/checkpoint")
async def thread_state_at_checkpoint(
    thread_id: str, body: StateAtCheckpoint, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Return the thread's state at the checkpoint in the body."""
    thread, graph = await _graph(runs, identity, thread_id)
    if graph is None:
        return json_response(EMPTY_STATE)
    checkpoint = body.checkpoint.model_dump() if body.checkpoint else None
    return json_response(
        await get_state(graph, thread.thread_id, checkpoint, subgraphs=body.subgraphs)
    )


@router.post("/threads/{thread_id}/state")
async def update_thread_state(
    thread_id: str, body: StateUpdate, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Write values into the thread's state, as if `as_node` had returned them.

    Values the graph cannot apply are a 422 and an unknown checkpoint a 404, with nothing
    written (`update_state` rehearses the write first).
    """
    thread, graph = await _graph(runs, identity, thread_id, "update")
    if graph is None:
        raise RunRejected("the thread has no graph yet: run an assistant on it first")
    check_as_node(graph, body.as_node, body.values, "as_node")
    runs.check_input(str(thread.metadata.get("graph_id")), body.values, identity)
    checkpoint = checkpoint_ref(body.checkpoint, body.checkpoint_id)
    async with runs.thread_locks.held(thread.thread_id):  # concurrent updates: one at a time
        if await runs.store.active_runs(thread.thread_id):
            detail = "the thread is busy: it has a pending or running run; update it when idle"
            return json_response({"detail": detail}, 409)  # as langgraph-api
        written = await update_state(
            graph, thread.thread_id, body.values, as_node=body.as_node, checkpoint=checkpoint
        )
        state = await get_state(graph, thread.thread_id)
        # The status follows the new checkpoint, as langgraph-api's: an interrupted thread
        # stays `interrupted` (for the run that resumes it) until `__end__` ends its tasks.
        status, interrupts = thread_summary(state)
        await runs.store.set_thread_state(
            thread.thread_id, status=status, values=state["values"], interrupts=interrupts
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
    # Where the SDK reconnects when this stream drops, with its Last-Event-ID: the followed
    # run's own stream (the same events under the same ids), in the same modes.
    location = f"{run_path(thread.thread_id, run.run_id)}/stream"
    if modes:
        location += "?" + urlencode({"stream_mode": sorted(modes)}, doseq=True)
    return sse_response(
        runs.events,
        run.run_id,
        after=last_event_id(request),
        modes=modes,
        keepalive_s=settings.keepalive_s,
        is_active=runs.is_active(run.run_id),
        on_disconnect=None,
        headers={
            "Location": location,
            "Content-Location": run_path(thread.thread_id, run.run_id),
            "X-Run-Status": run.status if run.status in ACTIVE else "final",
        },
    )
