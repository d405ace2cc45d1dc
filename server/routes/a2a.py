"""A2A (Agent2Agent): `POST /a2a/{assistant_id}` (JSON-RPC) and each assistant's agent card.

The SDK's JSON-RPC dispatcher parses the request, speaks A2A 1.0 (`SendMessage`,
`SendStreamingMessage`, `GetTask`, `CancelTask`) and, through its v0.3 layer, the 0.3 names
(`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`), and frames streams as
SSE; `server/doors/a2a_handler.py` answers each method with runs. The route authenticates
first (401 without credentials when auth is on) and finds the assistant (404).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from server.deps import IdentityDep, SettingsDep, get_identity
from server.routes.runs import RunsDep
from server.runs.wire import json_response

if TYPE_CHECKING:
    from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher

router = APIRouter(tags=["a2a"], dependencies=[Depends(get_identity)])


@cache
def dispatcher() -> JsonRpcDispatcher:
    """Return the SDK's JSON-RPC dispatcher, built (and the SDK imported) on first use.

    The A2A SDK and its protobuf types cost a server ~8 MiB of memory; one that is never
    called over A2A never loads them. The dispatcher holds no connection or state of its
    own: the request handler reads everything from the door of each call.
    """
    from a2a.server.context import ServerCallContext
    from a2a.server.routes.common import DefaultServerCallContextBuilder
    from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
    from starlette.requests import Request as StarletteRequest

    from server.doors.a2a_handler import DOOR, RunTasks

    class DoorContext(DefaultServerCallContextBuilder):
        """Hand the route's door (caller, assistant, run service) to the request handler."""

        def build(self, request: StarletteRequest) -> ServerCallContext:
            """Return the SDK's call context, with the door in its state."""
            context = super().build(request)
            context.state[DOOR] = request.state.a2a_door
            return context

    return JsonRpcDispatcher(RunTasks(), context_builder=DoorContext(), enable_v0_3_compat=True)


@router.post("/a2a/{assistant_id}")
async def a2a(
    assistant_id: str, request: Request, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Answer one A2A JSON-RPC request for the assistant (an SSE stream for streaming ones)."""
    assistant = await runs.find_assistant(identity, assistant_id)
    runs.graph_for(assistant)  # 422 for a saved assistant whose graph is no longer served
    from server.doors.a2a_handler import Door  # with the SDK, on first use (see dispatcher)

    request.state.a2a_door = Door(runs, identity, assistant)
    return await dispatcher().handle_requests(request)


@router.get("/.well-known/agent-card.json")
async def card(
    request: Request,
    runs: RunsDep,
    identity: IdentityDep,
    settings: SettingsDep,
    assistant_id: Annotated[str, Query(description="The assistant (id or graph name).")],
) -> Response:
    """Return the assistant's A2A agent card."""
    from server.doors.a2a_card import agent_card  # with the SDK, on first use (see dispatcher)

    assistant = await runs.find_assistant(identity, assistant_id)
    bearer = settings.auth_mode != "none" or bool(getattr(settings, "auth_path", None))
    return json_response(
        agent_card(
            assistant,
            base_url=str(request.base_url),
            version=request.app.version,
            bearer=bearer,
        )
    )
