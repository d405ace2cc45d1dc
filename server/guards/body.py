"""Refuse request bodies over a size with 413, or too slow to arrive with 408: plain ASGI.

Plain ASGI, not `BaseHTTPMiddleware`, so streaming responses pass through untouched. A
declared `Content-Length` over the limit is refused before the app runs, and the connection
is closed so the server does not read the rest; a body without one (chunked) is counted as
it is read, and the read that crosses the limit raises `BodyTooLarge`, an `HTTPException`,
so the app's handlers answer it in the envelope of the surface (FastAPI re-raises an
`HTTPException` from a body read instead of turning it into a 400).

The whole body must arrive within `timeout_s` of the app's first read, else `BodyTooSlow`
(408), answered the same way. uvicorn sets no such limit: a client that declared megabytes
and then stalled, or trickled a byte at a time, held its request (and the part of the body
read so far) for as long as it kept the connection open. Reads after the body (Starlette
listening for a disconnect while a response streams) are not timed.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.embeddings.errors import ApiError

OPENAI_PREFIX = "/v1/"


class BodyTooLarge(HTTPException):
    """The request body is larger than the limit of its route."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds {limit} bytes; send a smaller request.")


class BodyTooSlow(HTTPException):
    """The request body did not arrive in time."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            408, f"Request body not received within {timeout_s:g} s; send it again, whole."
        )


class BodyLimits:
    """ASGI middleware capping request bodies: size (`openai_limit` on `/v1/*`) and time."""

    def __init__(
        self, app: ASGIApp, *, limit: int, openai_limit: int, timeout_s: float = 60.0
    ) -> None:
        self.app = app
        self.limit = limit
        self.openai_limit = openai_limit
        """`/v1/embeddings` carries up to 2048 inputs, so `/v1/*` has its own, larger limit."""
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request unless its body is, or turns out to be, too large."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        openai = str(scope.get("path", "")).startswith(OPENAI_PREFIX)
        limit = self.openai_limit if openai else self.limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, BodyTooLarge(limit), openai)
            return
        received = 0
        started = False
        deadline: float | None = None  # set by the first read
        whole = False

        async def counted() -> Message:
            nonlocal received, deadline, whole
            if whole:
                return await receive()  # a disconnect, whenever it comes
            deadline = deadline or asyncio.get_running_loop().time() + self.timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                whole = not message.get("more_body", False)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except (BodyTooLarge, BodyTooSlow) as refused:
            # Reached here only where no exception handler answered it (outside a route).
            if started:
                raise
            await _refuse(scope, receive, send, refused, openai)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(
    scope: Scope, receive: Receive, send: Send, error: HTTPException, openai: bool
) -> None:
    if openai:
        api_error = ApiError(error.status_code, str(error.detail))
        body, headers = api_error.body(), api_error.headers()
    else:
        body, headers = {"detail": error.detail}, {}
    # The rest of the body may still be on its way; closing spares reading it.
    headers["Connection"] = "close"
    await JSONResponse(body, status_code=error.status_code, headers=headers)(scope, receive, send)
