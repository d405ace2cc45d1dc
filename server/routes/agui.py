"""AG-UI 1.0 streaming for chat workflows: `POST /agui/{workflow}`, `GET /agui`.

Built on `ag-ui-langgraph` (`server/agui/agent.py`) with the stream rules enforced in
`server/agui/stream.py`. Threads are the same checkpointed threads every surface uses. A
body that is not a `RunAgentInput` is a 422 before any stream starts; an unknown or
non-chat workflow is 404; a second run on a busy thread is 409 (the run service's
one-running-run-per-thread rule, the same on every surface). Each run is a run of the run
service: recorded in `/threads/{id}/runs`, and joinable through the runs API.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, cast

from ag_ui.core import BaseEvent, RunAgentInput
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from langchain_core.runnables import RunnableConfig
from starlette.types import Receive, Scope, Send

from graphs.context import Context
from server.agui.agent import (
    OrcaAgent,
    ResumeRefused,
    check_resume,
    clean_input,
    refusal_events,
)
from server.agui.recorded import RecordedGraph
from server.agui.stream import RunRules, ruled, sse_frames
from server.auth.identity import Identity
from server.deps import IdentityDep, ResourcesDep, SettingsDep, get_identity
from server.guards.runs import RunLimits, RunTimedOut
from server.observability.runs import RunTelemetry
from server.projects.workflows import workflows_of
from server.run_policy import RunRefused
from server.runs.context import with_auth_user
from server.runs.events import RunEvents
from server.runs.local import LocalRun, RunEnded, marked
from server.runs.records import ACTIVE, RunRecord, ThreadBusy
from server.runs.service import NotFound, RunRejected, RunsService
from server.runs.waiting import stopped

# Every route needs the caller's credentials, the listing too: it names the same workflows
# as `/v1/workflows`, and docs/security.md lists no AG-UI route as public.
router = APIRouter(prefix="/agui", tags=["AG-UI"], dependencies=[Depends(get_identity)])

KEEPALIVE_S = 15.0
"""Silence after which a `: ping` comment is sent."""
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
    "Connection": "keep-alive",
}


def chat_workflows(app: Any) -> dict[str, str]:
    """Return the app's workflows whose input is a conversation, with their descriptions."""
    return {name: spec.description for name, spec in workflows_of(app).items() if spec.chat}


def refuse_empty_thread_id(body: RunAgentInput) -> None:
    """Refuse an empty `threadId` as a missing one is refused: 422, before any thread exists.

    AG-UI requires `threadId` (a string) and has no "new thread" value: `@ag-ui/client` and
    the CopilotKit runtime make up an id when the app has none, so `""` is a client bug.
    Let through, the run service took it for "no id" and created a thread of its own, then
    refused the run on `""` with 404, leaving that thread behind.

    Raises:
        RequestValidationError: 422 naming `threadId`, in FastAPI's validation envelope.
    """
    if not body.thread_id:
        message = "threadId must name a thread; a new conversation needs a new id (a UUID)"
        detail = {"type": "string_too_short", "loc": ("body", "threadId"), "msg": message}
        raise RequestValidationError([{**detail, "input": body.thread_id}])


async def refused_before_run(
    runs: RunsService, identity: Identity, graph: Any, body: RunAgentInput
) -> ResumeRefused | None:
    """Refuse a resume that does not fit the thread before any run is recorded.

    A refused run ran nothing, yet recorded as failed it made the thread `error` and hid
    its open interrupts (Agent Chat UI's inbox lists `interrupted` threads). Only for a
    thread the caller owns: another's is refused as missing when the run starts. The run
    checks again under its claim on the thread, for a run that lands in between.
    """
    try:
        thread = await runs.thread(identity, body.thread_id, "update")
    except NotFound:
        return None
    forwarded = body.forwarded_props if isinstance(body.forwarded_props, dict) else {}
    if thread.status != "interrupted" and not body.resume and "command" not in forwarded:
        return None  # nothing open and nothing answered: no refusal (an ordinary turn)
    snapshot = await graph.aget_state({"configurable": {"thread_id": body.thread_id}})
    try:
        check_resume(snapshot, clean_input(body))
    except ResumeRefused as refused:
        return refused
    return None


async def earlier_run_stopped(runs: RunsService, thread_id: str) -> bool:
    """Wait for the thread's runs if each is being cancelled (its client left); say if so.

    A client that stops a run and sends the next message at once ("stop", then "send" in
    CopilotKit) found its thread busy for the moment the cancel takes (409). A run no one
    asked to stop still refuses the new one.
    """
    active = await runs.store.active_runs(thread_id)
    for run in active:
        if await runs.store.cancel_requested(run.run_id) is None and await still_active(
            runs, run.run_id
        ):
            return False
    await stopped(runs.wait, active)
    return True


async def still_active(runs: RunsService, run_id: str) -> bool:
    """Whether the run is pending or running (a cancelled one may have just ended)."""
    run = await runs.store.get_run(run_id)
    return run is not None and run.status in ACTIVE


async def _each(events: list[BaseEvent]) -> AsyncIterator[BaseEvent]:
    for event in events:
        yield event


class AguiRunFailed(Exception):
    """The run ended with `RUN_ERROR` (already sent): record it as failed."""


@router.get("", summary="List the workflows served over AG-UI")
async def list_workflows(request: Request) -> dict[str, Any]:
    """Name the chat workflows a frontend can pick."""
    return {
        "workflows": [
            {"name": name, "description": description, "url": f"/agui/{name}"}
            for name, description in chat_workflows(request.app).items()
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
    refuse_empty_thread_id(body)
    served = chat_workflows(request.app)
    if workflow not in served:
        raise HTTPException(404, f"no chat workflow {workflow!r}; AG-UI serves {sorted(served)}")
    runs = resources.runs
    assert runs is not None, "the lifespan opens the run service"
    context: Any
    try:
        resources.policy.check_input(workflow, None, identity)
        if resources.graphs[workflow].context_schema is Context:
            context = resources.policy.context(None, identity)
        else:  # a graph of the operator's: its own schema's defaults, as the runs API gives
            context = runs.context_for(resources.graphs[workflow], None, identity)
    except RunRefused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    except RunRejected as rejected:
        raise HTTPException(422, str(rejected)) from None
    telemetry: RunTelemetry = request.app.state.telemetry
    limits = RunLimits.from_settings(settings)
    rules = RunRules(body.thread_id, body.run_id)
    graph = resources.graphs[workflow]
    # The caller as LangGraph's server hands it to graphs (`langgraph_auth_user`, ...).
    config = limits.apply(
        telemetry.config_for(workflow, cast(RunnableConfig, with_auth_user(None, identity)))
    )

    async def run_body(events: RunEvents, marks: dict[str, Any]) -> AsyncIterator[BaseEvent]:
        agent = OrcaAgent(
            name=workflow,
            graph=RecordedGraph(graph, events),  # type: ignore[arg-type]
            context=context,
            config=marked(config, marks),
        )
        async for event in ruled(limits.bounded(agent.run(body)), rules):
            yield event
        if rules.outcome == "error":  # sent as RUN_ERROR; the run is recorded as failed
            raise AguiRunFailed(rules.error_message or "the run failed")

    refused = await refused_before_run(runs, identity, graph, body)
    if refused is not None:
        return StreamingResponse(
            sse_frames(
                ruled(_each(refusal_events(body, refused)), RunRules(body.thread_id, body.run_id)),
                KEEPALIVE_S,
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    start = partial(
        runs.start_local,
        identity,
        workflow,
        body.thread_id,
        surface="agui",
        body=run_body,
        shown_input={"messages": len(body.messages), "resume": bool(body.resume)},
        context=context,
        metadata={"agui_run_id": body.run_id},
        streaming=True,
    )
    try:
        try:
            local = await start()
        except ThreadBusy:
            if not await earlier_run_stopped(runs, body.thread_id):
                raise
            local = await start()
    except NotFound:
        raise HTTPException(404, f"no thread {body.thread_id!r}") from None
    except ThreadBusy:
        raise HTTPException(
            409, f"thread {body.thread_id!r} already has a run in progress; wait for it"
        ) from None
    keepalive_s = getattr(request.app.state, "agui_keepalive_s", KEEPALIVE_S)

    async def events() -> AsyncIterator[BaseEvent]:
        try:
            async for event in local.items():
                yield event
        except AguiRunFailed:
            return
        except RunEnded as ended:  # cancelled through the runs API, or its worker stopped
            if ended.status == "timeout":  # the worker's deadline came first: the same limit
                failed = rules.fail("RUN_TIMEOUT", str(RunTimedOut(limits.timeout_s or 0)))
            else:
                failed = rules.fail("RUN_FAILED", str(ended))
            for event in failed:
                yield event

    return RunStreamingResponse(sse_frames(events(), keepalive_s), local, runs.cancel)


class RunStreamingResponse(StreamingResponse):
    """AG-UI's SSE response, which cancels its run if the client leaves before its end.

    Checked as the response ends, not in the body's `finally`: a client that leaves before
    the first frame is sent (`curl -m 0.5` on a busy server) leaves a body never iterated,
    whose `finally` never runs, and one left suspended at a `yield` is not closed either.
    """

    def __init__(
        self,
        frames: AsyncGenerator[bytes, None],
        local: LocalRun,
        cancel: Callable[[RunRecord, str], Awaitable[None]],
    ) -> None:
        super().__init__(frames, media_type="text/event-stream", headers=SSE_HEADERS)
        self.frames = frames
        self.local = local
        self.cancel = cancel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the frames; then stop the run if the client did not see it end."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.local.client_left(self.cancel)
            await self.frames.aclose()  # stops `sse_frames`' producer, if it is still there
