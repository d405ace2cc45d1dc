"""`/mcp`: Model Context Protocol over Streamable HTTP (stateless), each assistant a tool.

A FastAPI route rather than a mounted app, so the request passes what every route does
first (rate limits, authentication: 401 without credentials when auth is on); the MCP
SDK then answers it on the same connection (`server/doors/mcp_server.py`), except what
the route answers itself (`server/doors/mcp_http.py`): GET and DELETE (405), a body not
sent as JSON (415), a method MCP does not define (-32601).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from server.deps import get_identity, resources_of
from server.doors.mcp_http import method_not_allowed, unknown_method, unsupported_media
from server.guards.text import replay_body

router = APIRouter(tags=["mcp"], dependencies=[Depends(get_identity)])


class McpAnswer(Response):
    """A response the MCP session manager writes itself, from the request's own stream."""

    def __init__(self, manager: StreamableHTTPSessionManager, body: bytes) -> None:
        super().__init__()
        self.manager = manager
        self.request_body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the session manager, its body (read by the route) replayed."""
        await self.manager.handle_request(
            scope, replay_body(self.request_body, False, receive), send
        )


@router.post("/mcp", include_in_schema=False)
@router.post("/mcp/", include_in_schema=False)
async def mcp(request: Request) -> Response:
    """Answer one MCP request: `initialize`, `tools/list`, `tools/call`, `ping`."""
    resources_of(request.app)  # 503 while starting or stopping
    refused = unsupported_media(request.headers.get("content-type", ""))
    if refused is not None:
        return refused
    body = await request.body()
    refused = unknown_method(body)
    if refused is not None:
        return refused
    manager: StreamableHTTPSessionManager = request.app.state.mcp
    return McpAnswer(manager, body)


@router.api_route("/mcp", methods=["GET", "DELETE"], include_in_schema=False)
@router.api_route("/mcp/", methods=["GET", "DELETE"], include_in_schema=False)
async def mcp_stream_or_session() -> Response:
    """Answer 405: a stateless server has no event stream to open and no session to end."""
    return method_not_allowed()
