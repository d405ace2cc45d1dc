"""A2A (Agent2Agent): `POST /a2a/{assistant_id}` (JSON-RPC) and each assistant's agent card.

The SDK's JSON-RPC dispatcher parses the request, speaks A2A 1.0 (`SendMessage`,
`SendStreamingMessage`, `GetTask`, `CancelTask`) and, through its v0.3 layer, the 0.3 names
(`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`), and frames streams as
SSE; `server/doors/a2a_handler.py` answers each method with runs. The route authenticates
first (401 without credentials when auth is on), finds the assistant (404) and checks the
params the SDK would fail to convert (`server/doors/a2a_params.py`: -32602, not -32603).
A stream sends a `: ping` comment twice every `ORCA_KEEPALIVE_S` while its run works
(`with_keepalive`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from server.deps import IdentityDep, SettingsDep, get_identity
from server.doors.a2a_params import params_problem
from server.routes.runs import RunsDep
from server.runs.wire import json_response

if TYPE_CHECKING:
    from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
    from sse_starlette.sse import ServerSentEvent

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
    from a2a.utils.errors import InvalidParamsError
    from starlette.requests import Request as StarletteRequest

    from server.doors.a2a_handler import DOOR, RunTasks

    class DoorContext(DefaultServerCallContextBuilder):
        """Hand the route's door (caller, assistant, run service) to the request handler.

        Both protocol versions build the call context before they convert the params to
        protobuf, and answer an A2A error raised here in their own envelope: so params the
        route found wrong are refused here, before anything is converted or run.
        """

        def build(self, request: StarletteRequest) -> ServerCallContext:
            """Return the SDK's call context, with the door in its state.

            Raises:
                InvalidParamsError: the route found the params wrong (-32602).
            """
            if request.state.a2a_refused is not None:
                raise InvalidParamsError(message=request.state.a2a_refused)
            context = super().build(request)
            context.state[DOOR] = request.state.a2a_door
            return context

    return JsonRpcDispatcher(RunTasks(), context_builder=DoorContext(), enable_v0_3_compat=True)


@router.post("/a2a/{assistant_id}")
async def a2a(
    assistant_id: str,
    request: Request,
    runs: RunsDep,
    identity: IdentityDep,
    settings: SettingsDep,
) -> Response:
    """Answer one A2A JSON-RPC request for the assistant (an SSE stream for streaming ones)."""
    assistant = await runs.find_assistant(identity, assistant_id)
    runs.graph_for(assistant)  # 422 for a saved assistant whose graph is no longer served
    from server.doors.a2a_handler import Door  # with the SDK, on first use (see dispatcher)

    request.state.a2a_door = Door(runs, identity, assistant)
    request.state.a2a_refused = params_problem(await _json_body(request))
    response = await dispatcher().handle_requests(request)
    return with_keepalive(response, settings.keepalive_s)


def with_keepalive(response: Response, keepalive_s: float) -> Response:
    """Make a stream send a `: ping` comment twice every `keepalive_s` while its run works.

    A streamed task sends nothing between `working` and its answer, however long the model
    takes, and sse-starlette pings every 15 s: a client with a shorter read timeout (the A2A
    SDK's client uses httpx's, 5 s by default) gave up mid-run. SSE parsers skip comment
    lines, the SDK's client included. Twice per interval, because these pings are periodic
    (not sent after a silence, as the runs API's heartbeats are): a client whose read
    timeout is `keepalive_s` itself (httpx's default and `ORCA_KEEPALIVE_S`'s are both
    5 s) would otherwise race each ping, and lose about every other one. Both protocol
    versions answer a stream with sse-starlette's response, built inside the SDK: its ping
    is set here, before it is sent; other responses are returned as they are.
    """
    from sse_starlette.sse import EventSourceResponse  # loaded with the SDK (see dispatcher)

    if isinstance(response, EventSourceResponse):
        response.ping_interval = keepalive_s / 2
        response.ping_message_factory = _ping
    return response


def _ping() -> ServerSentEvent:
    """Return the keepalive comment, `: ping` as AG-UI's streams send it.

    sse-starlette's default stamps the time with `datetime.utcnow`, which Python 3.12
    deprecates (a warning per ping under the project's `-W error` tests).
    """
    from sse_starlette.sse import ServerSentEvent

    return ServerSentEvent(comment="ping")


async def _json_body(request: Request) -> Any:
    """Return the parsed body (kept by Starlette for the SDK), or None when it is not JSON.

    The SDK parses the body again and answers what is not JSON (-32700) itself.
    """
    try:
        return await request.json()
    except ValueError:  # not JSON, or not text in any encoding JSON allows
        return None


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
