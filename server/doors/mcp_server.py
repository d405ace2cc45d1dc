"""The MCP server behind `/mcp`: the SDK's low-level `Server` over Streamable HTTP, stateless.

Stateless, as langgraph-api's: every POST is answered on its own (no `Mcp-Session-Id`),
so any process behind a load balancer can take any request, and nothing is kept between
requests but the run store. The route authenticates the request before it reaches the SDK
and leaves the identity in the request's state, where the tool handlers read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request

from server.auth.identity import Identity
from server.deps import resources_of
from server.doors.mcp_tools import ToolFailed, call_tool, list_tools, result_content
from server.runs.service import RunsService

SERVER_NAME = "citadel-orca"


def build_server(version: str) -> Server[Any, Request]:
    """Return the MCP server: the caller's assistants as tools."""
    server: Server[Any, Request] = Server(
        SERVER_NAME,
        version=version,
        instructions="Each tool runs one Citadel Orca workflow and returns its final values.",
    )

    def caller() -> tuple[RunsService, Identity]:
        request = server.request_context.request
        assert request is not None  # Streamable HTTP always carries the HTTP request
        runs = resources_of(request.app).runs
        assert runs is not None  # opened by the lifespan
        identity: Identity = request.state.identity  # set by the route's authentication
        return runs, identity

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def tools() -> list[types.Tool]:
        runs, identity = caller()
        return await list_tools(runs, identity)

    # The arguments are checked in `call_tool`, against the caller's own assistant: the
    # SDK's check reads a tool cache shared by every caller.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call(
        name: str, arguments: dict[str, Any]
    ) -> tuple[list[types.ContentBlock], dict[str, Any]] | types.CallToolResult:
        runs, identity = caller()
        try:
            values = await call_tool(runs, identity, name, arguments)
        except ToolFailed as failed:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(failed))], isError=True
            )
        return result_content(values)

    return server


@asynccontextmanager
async def open_mcp(version: str) -> AsyncIterator[StreamableHTTPSessionManager]:
    """Run the Streamable HTTP session manager (its task group) while the app serves.

    The manager's anyio task group must be left by the task that entered it, and a
    lifespan may be entered and left by different tasks (pytest-asyncio's fixtures,
    some ASGI servers): so one task of its own holds it open.
    """
    manager = StreamableHTTPSessionManager(app=build_server(version), stateless=True)
    running = asyncio.Event()
    stop = asyncio.Event()

    async def hold_open() -> None:
        async with manager.run():
            running.set()
            await stop.wait()

    holder = asyncio.create_task(hold_open(), name="mcp-session-manager")
    waiting = asyncio.ensure_future(running.wait())
    await asyncio.wait({holder, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if holder.done():
        holder.result()  # it failed to start: raise its error
    try:
        yield manager
    finally:
        stop.set()
        await holder
