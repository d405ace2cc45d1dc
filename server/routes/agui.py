"""AG-UI 1.0 streaming for chat workflows: `POST /agui/{workflow}`, `GET /agui`.

Built on `ag-ui-langgraph` (`server/agui/agent.py`) with the stream rules enforced in
`server/agui/stream.py`. Threads are the same checkpointed threads every surface uses. A
body that is not a `RunAgentInput` is a 422 before any stream starts; an unknown or
non-chat workflow is 404; a second run on a busy thread is 409.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ag_ui.core import RunAgentInput
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from graphs import REGISTRY
from server.agui.agent import OrcaAgent
from server.agui.runs import ActiveRuns, ThreadBusy
from server.agui.stream import RunRules, ruled, sse_frames
from server.auth.ownership import ThreadNotFound
from server.deps import IdentityDep, ResourcesDep, SettingsDep
from server.guards.runs import RunLimits
from server.observability.runs import RunTelemetry
from server.run_policy import RunRefused

router = APIRouter(prefix="/agui", tags=["AG-UI"])

KEEPALIVE_S = 15.0
"""Silence after which a `: ping` comment is sent."""
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
    "Connection": "keep-alive",
}


def chat_workflows() -> dict[str, str]:
    """Return the workflows whose input is a conversation, with their descriptions."""
    return {name: spec.description for name, spec in REGISTRY.items() if spec.chat}


def active_runs(request: Request) -> ActiveRuns:
    """Return the app's registry of busy threads (created on first use)."""
    runs: ActiveRuns | None = getattr(request.app.state, "agui_runs", None)
    if runs is None:
        runs = request.app.state.agui_runs = ActiveRuns()
    return runs


@router.get("", summary="List the workflows served over AG-UI")
async def list_workflows() -> dict[str, Any]:
    """Name the chat workflows a frontend can pick."""
    return {
        "workflows": [
            {"name": name, "description": description, "url": f"/agui/{name}"}
            for name, description in chat_workflows().items()
        ]
    }


@router.post("/{workflow}", summary="Run a workflow, streaming AG-UI events")
async def run_workflow(
    workflow: str,
    body: RunAgentInput,
    request: Request,
    resources: ResourcesDep,
    settings: SettingsDep,
    identity: IdentityDep,
) -> StreamingResponse:
    """Stream one run of `workflow` on `body.threadId` as AG-UI server-sent events."""
    if workflow not in chat_workflows():
        raise HTTPException(
            404, f"no chat workflow {workflow!r}; AG-UI serves {sorted(chat_workflows())}"
        )
    try:
        resources.policy.check_input(workflow, None, identity)
        context = resources.policy.context(None, identity)
    except RunRefused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    try:
        await resources.auth.owners.claim(body.thread_id, identity)
    except ThreadNotFound:
        raise HTTPException(404, f"no thread {body.thread_id!r}") from None
    runs = active_runs(request)
    try:
        runs.start(body.thread_id, body.run_id)
    except ThreadBusy as busy:
        raise HTTPException(409, str(busy)) from None
    telemetry: RunTelemetry = request.app.state.telemetry
    limits = RunLimits.from_settings(settings)
    agent = OrcaAgent(
        name=workflow,
        graph=resources.graphs[workflow],
        context=context,
        config=limits.apply(telemetry.config_for(workflow)),
    )
    keepalive_s = getattr(request.app.state, "agui_keepalive_s", KEEPALIVE_S)

    async def stream() -> AsyncIterator[bytes]:
        try:
            async with telemetry.run(workflow, "agui", body.thread_id, streaming=True) as record:
                rules = RunRules(body.thread_id, body.run_id)
                events = ruled(limits.bounded(agent.run(body)), rules)
                async for frame in sse_frames(events, keepalive_s):
                    yield frame
                record.outcome = rules.outcome
        finally:
            runs.finish(body.thread_id, body.run_id)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        background=BackgroundTask(runs.finish, body.thread_id, body.run_id),
    )
