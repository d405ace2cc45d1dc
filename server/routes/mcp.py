"""`/mcp`: Model Context Protocol over Streamable HTTP (stateless), each assistant a tool.

A FastAPI route rather than a mounted app, so the request passes what every route does
first (rate limits, authentication: 401 without credentials when auth is on); the MCP
SDK then answers it on the same connection (`server/doors/mcp_server.py`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from server.deps import get_identity, resources_of

router = APIRouter(tags=["mcp"], dependencies=[Depends(get_identity)])


class McpAnswer(Response):
    """A response the MCP session manager writes itself, from the request's own stream."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        super().__init__()
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the session manager (the body is still unread)."""
        await self.manager.handle_request(scope, receive, send)


# POST carries JSON-RPC; GET (a server-initiated stream) and DELETE (end a session) get
# the SDK's own answers for a stateless server.
@router.api_route("/mcp", methods=["POST", "GET", "DELETE"], include_in_schema=False)
@router.api_route("/mcp/", methods=["POST", "GET", "DELETE"], include_in_schema=False)
async def mcp(request: Request) -> Response:
    """Answer one MCP request: `initialize`, `tools/list`, `tools/call`, `ping`."""
    resources_of(request.app)  # 503 while starting or stopping
    manager: StreamableHTTPSessionManager = request.app.state.mcp
    return McpAnswer(manager)
