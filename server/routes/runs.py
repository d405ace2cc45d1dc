"""Runs of the Agent Server API: background, streamed and waited; join, cancel, list.

Paths, bodies and headers are the ones `langgraph-sdk` uses (`client.runs.*`), so the
SDK, `RemoteGraph`, Agent Chat UI and CopilotKit's LangGraph connector work unchanged.
`POST .../runs/stream` answers `Location: /threads/{t}/runs/{r}/stream`, where a client
that lost the connection reconnects with `Last-Event-ID`; `/wait` answers
`Location: .../join`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from server.auth.identity import Identity
from server.deps import IdentityDep, SettingsDep, get_identity, resources_of
from server.run_policy import MAX_BATCH_RUNS
from server.runs.authorized import runs_to_cancel
from server.runs.cancel_targets import STATUS_ALONE, still_active
from server.runs.join_answer import join_answer
from server.runs.records import ACTIVE, RunRecord
from server.runs.schema import MAX_OFFSET, RunCreate, RunField, RunsCancel
from server.runs.service import RunsService
from server.runs.wire import (
    json_response,
    last_event_id,
    parse_modes,
    run_path,
    sse_response,
    wait_response,
)

router = APIRouter(tags=["runs"], dependencies=[Depends(get_identity)])


async def get_runs(request: Request) -> RunsService:
    """Return the runs service of the app."""
    runs = resources_of(request.app).runs
    assert runs is not None  # opened by the lifespan
    return runs


RunsDep = Annotated[RunsService, Depends(get_runs)]


def _paths(run: RunRecord) -> tuple[str, str]:
    base = run_path(run.thread_id, run.run_id)
    return base, f"{base}/stream"


def _canceller(runs: RunsService, run: RunRecord, when: str) -> Any:
    if when != "cancel":
        return None

    async def cancel() -> None:
        current = await runs.store.get_run(run.run_id)
        if current is not None and current.status in ACTIVE:
            await runs.cancel(current, "interrupt")

    return cancel


async def create_response(
    runs: RunsService, identity: Identity, thread_id: str | None, body: RunCreate
) -> Response:
    """Create a background run; answer it with `Content-Location`."""
    run, _ = await runs.create_run(identity, thread_id, body)
    base, _ = _paths(run)
    return json_response(run.public(), headers={"Content-Location": base})


async def stream_response(
    runs: RunsService,
    identity: Identity,
    thread_id: str | None,
    body: RunCreate,
    keepalive_s: float,
) -> Response:
    """Create a run and answer its event stream, resumable at `Location`."""
    run, _ = await runs.create_run(identity, thread_id, body)
    base, stream = _paths(run)
    return sse_response(
        runs.events,
        run.run_id,
        after=0,
        modes=None,
        keepalive_s=keepalive_s,
        is_active=runs.is_active(run.run_id),
        on_disconnect=_canceller(runs, run, body.on_disconnect),
        headers={"Location": stream, "Content-Location": base},
    )


async def wait_result_response(
    runs: RunsService,
    identity: Identity,
    thread_id: str | None,
    body: RunCreate,
    keepalive_s: float,
) -> Response:
    """Create a run and answer its result, with keepalive newlines meanwhile."""
    run, task = await runs.create_run(identity, thread_id, body)
    base, _ = _paths(run)

    async def result() -> Any:
        return await join_answer(runs.store, await runs.wait(run, task))

    return await wait_response(
        result,
        keepalive_s=keepalive_s,
        on_disconnect=_canceller(runs, run, body.on_disconnect),
        headers={"Location": f"{base}/join", "Content-Location": base},
    )


# Stateful ---------------------------------------------------------------------
@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str, body: RunCreate, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Create a background run on the thread."""
    return await create_response(runs, identity, thread_id, body)


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(
    thread_id: str, body: RunCreate, runs: RunsDep, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """Create a run and stream its events (SSE)."""
    return await stream_response(runs, identity, thread_id, body, settings.keepalive_s)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    thread_id: str, body: RunCreate, runs: RunsDep, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """Create a run and answer with its final values."""
    return await wait_result_response(runs, identity, thread_id, body, settings.keepalive_s)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    runs: RunsDep,
    identity: IdentityDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    status: str | None = None,
    select: Annotated[list[RunField] | None, Query()] = None,
) -> Response:
    """List the thread's runs, newest first (`select`: only those fields; others are 422)."""
    await runs.thread(identity, thread_id)
    found = await runs.store.list_runs(thread_id, limit=limit, offset=offset, status=status)
    listed = [run.public() for run in found]
    if select:
        wanted = set(select)
        listed = [{k: v for k, v in run.items() if k in wanted} for run in listed]
    return json_response(listed)


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: str, run_id: str, runs: RunsDep, identity: IdentityDep) -> Response:
    """Return one run."""
    return json_response((await runs.run_of(identity, thread_id, run_id)).public())


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(
    thread_id: str, run_id: str, runs: RunsDep, identity: IdentityDep, force: bool = False
) -> Response:
    """Delete a finished run (an active one only with `force=1`, which cancels it first)."""
    run = await runs.run_of(identity, thread_id, run_id, "delete")
    if run.status in ACTIVE:
        if not force:
            return json_response(
                {"detail": "the run is active; cancel it first or pass force=1"}, 409
            )
        await runs.cancel(run, "interrupt")
    await runs.store.delete_run(run_id)
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(
    thread_id: str, run_id: str, runs: RunsDep, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """Wait for the run to finish and answer with its final values (`join_answer`)."""
    run = await runs.run_of(identity, thread_id, run_id)
    return await _joined(runs, run, settings.keepalive_s)


async def _joined(runs: RunsService, run: RunRecord, keepalive_s: float) -> Response:
    """Answer the run's final values once it ends, with keepalive newlines meanwhile."""

    async def result() -> Any:
        return await join_answer(runs.store, await runs.wait(run, None))

    base, _ = _paths(run)
    headers = {"Location": f"{base}/join", "Content-Location": base}
    return await wait_response(result, keepalive_s=keepalive_s, on_disconnect=None, headers=headers)


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_run_stream(
    thread_id: str,
    run_id: str,
    request: Request,
    runs: RunsDep,
    identity: IdentityDep,
    settings: SettingsDep,
    cancel_on_disconnect: bool = False,
    stream_mode: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Stream the run's events; with `Last-Event-ID`, only those after it (replay)."""
    run = await runs.run_of(identity, thread_id, run_id)
    base, stream = _paths(run)
    return sse_response(
        runs.events,
        run.run_id,
        after=last_event_id(request),
        modes=parse_modes(stream_mode),
        keepalive_s=settings.keepalive_s,
        is_active=runs.is_active(run.run_id),
        on_disconnect=_canceller(runs, run, "cancel" if cancel_on_disconnect else "continue"),
        # `Location` is where the SDK reconnects when this stream drops (with its
        # Last-Event-ID); without it `joinStream`, which useStream rejoins a run with after
        # a reload, fails on the first dropped connection instead of resuming.
        headers={"Location": stream, "Content-Location": base},
    )


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str,
    run_id: str,
    runs: RunsDep,
    identity: IdentityDep,
    settings: SettingsDep,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    """Cancel the run; `action=rollback` also deletes it and the checkpoints it wrote.

    As langgraph-api: 202 with no body; with `wait=1`, once the run has stopped, what its
    join answers. A run already final is 404 (`still_active`).
    """
    [run] = still_active([await runs.run_of(identity, thread_id, run_id, "update")])
    await runs.cancel(run, action)
    if not wait:
        return Response(status_code=202)
    return await _joined(runs, run, settings.keepalive_s)


# Stateless and bulk -----------------------------------------------------------
@router.post("/runs")
async def create_stateless_run(body: RunCreate, runs: RunsDep, identity: IdentityDep) -> Response:
    """Create a background run on a temporary thread."""
    return await create_response(runs, identity, None, body)


@router.post("/runs/stream")
async def stream_stateless_run(
    body: RunCreate, runs: RunsDep, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """Stream a run on a temporary thread."""
    return await stream_response(runs, identity, None, body, settings.keepalive_s)


@router.post("/runs/wait")
async def wait_stateless_run(
    body: RunCreate, runs: RunsDep, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """Run on a temporary thread and answer with the final values."""
    return await wait_result_response(runs, identity, None, body, settings.keepalive_s)


@router.post("/runs/batch")
async def create_run_batch(
    bodies: Annotated[list[RunCreate], Body(min_length=1, max_length=MAX_BATCH_RUNS)],
    runs: RunsDep,
    identity: IdentityDep,
) -> Response:
    """Create stateless background runs (at most `MAX_BATCH_RUNS`), each on its own thread.

    Every run is checked before any starts: one refused (an unknown assistant, a bad
    webhook) refuses the batch and starts none.
    """
    prepared = [await runs.prepare_run(identity, None, body, run_id=None) for body in bodies]
    created = [await runs.start_run(identity, None, run) for run in prepared]
    return json_response([run.public() for run, _ in created])


@router.post("/runs/cancel", status_code=204)
async def cancel_runs(
    body: RunsCancel,
    runs: RunsDep,
    identity: IdentityDep,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    """Cancel runs by thread and ids, or every pending/running run of the caller.

    404 when that finds no pending or running run (`still_active`), as langgraph-api.
    """
    if body.status is not None and (body.thread_id or body.run_ids):
        return json_response({"detail": STATUS_ALONE}, 422)
    if body.status is not None:
        statuses = ACTIVE if body.status == "all" else (body.status,)
        targets = await runs_to_cancel(runs.store, identity, body.status, statuses, action)
    elif body.thread_id and body.run_ids:
        targets = [
            await runs.run_of(identity, body.thread_id, rid, "update") for rid in body.run_ids
        ]
    else:
        return json_response({"detail": "give thread_id with run_ids, or status"}, 422)
    for run in still_active(targets):
        await runs.cancel(run, action)
    return Response(status_code=204)
