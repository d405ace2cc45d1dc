"""LangGraph's streaming protocol ("v2") on threads: commands and filtered event streams.

`POST /threads/{id}/commands` answers `{type: "success", id, result, meta}` or the
protocol's `{type: "error", id, error, message}` (with a 4xx status); `POST
/threads/{id}/stream/events` streams the thread's events as SSE (`id` = `event_id`,
`event` = method). What the JS SDK's `ThreadStream` (`ProtocolSseTransportAdapter`) and
`@langchain/react` speak; the rules are in `server/runs/protocol/`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from server.deps import IdentityDep, SettingsDep, get_identity
from server.routes.runs import RunsDep
from server.runs.protocol.commands import Command, CommandError, ProtocolCommands, refused
from server.runs.protocol.filters import EventFilter
from server.runs.protocol.journal import Bells, sse_body
from server.runs.service import NotFound
from server.runs.wire import json_response

router = APIRouter(tags=["threads"], dependencies=[Depends(get_identity)])


async def get_bells(request: Request) -> Bells:
    """Return the app's wake-ups for event streams waiting on a thread's next run."""
    bells: Bells | None = getattr(request.app.state, "protocol_bells", None)
    if bells is None:
        bells = request.app.state.protocol_bells = Bells()
    return bells


BellsDep = Annotated[Bells, Depends(get_bells)]


def error_response(error: CommandError, command_id: int | None) -> Response:
    """Answer a protocol error in the protocol's envelope."""
    body = {"type": "error", "id": command_id, "error": error.code, "message": error.message}
    return json_response(body, error.status)


@router.post("/threads/{thread_id}/commands")
async def thread_command(
    thread_id: str, request: Request, runs: RunsDep, identity: IdentityDep, bells: BellsDep
) -> Response:
    """Run one protocol command on the thread."""
    try:
        command = Command.model_validate_json(await request.body())
    except ValidationError as error:
        return error_response(refused(error, "command"), None)
    try:
        result: Any = await ProtocolCommands(runs, bells).handle(identity, thread_id, command)
    except CommandError as error:
        return error_response(error, command.id)
    meta = {"thread_id": thread_id}
    return json_response({"type": "success", "id": command.id, "result": result, "meta": meta})


@router.post("/threads/{thread_id}/stream/events")
async def thread_events(
    thread_id: str,
    request: Request,
    runs: RunsDep,
    identity: IdentityDep,
    settings: SettingsDep,
    bells: BellsDep,
) -> Response:
    """Stream the thread's protocol events that pass the filter in the body (SSE)."""
    try:
        wanted = EventFilter.model_validate_json(await request.body())
    except ValidationError as error:
        return error_response(refused(error, "stream/events"), None)
    try:
        await runs.thread(identity, thread_id)
    except NotFound as error:
        return error_response(CommandError("no_such_run", str(error)), None)
    body = sse_body(
        runs,
        thread_id,
        wanted,
        bells,
        poll_s=runs.events.poll_s,
        keepalive_s=settings.keepalive_s,
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
