"""A LangServe stream that fails because a dependency is down says which, and ends cleanly.

LangServe 0.3 catches whatever its runnable raises mid-stream, sends
`event: error` with `{"status_code": 500, "message": "Internal Server Error"}` (it hides the
message, which may hold what a client must not see), then raises the error again. The
server, with the response under way, can only cut the connection: clients read a broken
chunked body (curl exit 18, httpx `RemoteProtocolError`) and the log an "Exception in ASGI
application". So a model server, Qdrant, PostgreSQL or embedding provider that is down
reached the client as an anonymous 500, where `invoke` answers 503 naming it.

`StreamErrors` holds LangServe's hidden error event back until it knows why the stream
failed. When the cause is a dependency's failure (`server.errors.dependency_failure`: the
errors whose messages `invoke` already shows), it sends the event with that status and
message instead (`RemoteRunnable` raises it as an `httpx.HTTPStatusError` carrying the
status) and ends the body, as an `error` event ends a LangServe stream. Any other error
goes out exactly as before: the hidden event, then the error on up to the server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

from sse_starlette.sse import ServerSentEvent
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.embeddings.errors import ApiError
from server.errors import dependency_failure

log = logging.getLogger("orca")

STREAM_PATH = re.compile(r"/workflows/[^/]+/(stream|stream_log|stream_events)/?")
"""LangServe's streaming endpoints of a served workflow."""
ERROR_FRAME_START = b"event: error"
"""How LangServe's error event begins as sse-starlette writes it (it writes `event` first)."""
END_OF_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": False}


class StreamErrors:
    """ASGI middleware: a LangServe stream's error event names a dependency that failed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; on a workflow stream, say what failed when it is safe to."""
        if scope["type"] != "http" or not STREAM_PATH.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def holding(message: Message) -> None:
            if is_error_frame(message):  # the next thing LangServe does is raise
                held.append(message)
                return
            await flush(held, send)
            await send(message)

        try:
            await self.app(scope, receive, holding)
        except Exception as exc:
            failure = failure_in(exc) if held else None
            if failure is None:
                await flush(held, send)
                raise
            log.warning("%s stream failed: %s", scope["path"], failure.message)
            await send(error_frame(failure))
            await send(END_OF_BODY)
            return
        await flush(held, send)


def is_error_frame(message: Message) -> bool:
    """Return whether `message` carries a LangServe stream's `error` event."""
    if message["type"] != "http.response.body":
        return False
    return bytes(message.get("body", b"")).startswith(ERROR_FRAME_START)


async def flush(held: list[Message], send: Send) -> None:
    """Send what was held back, in order."""
    while held:
        await send(held.pop(0))


def failure_in(exc: BaseException) -> ApiError | None:
    """Return the dependency failure that ended the stream, if that is what ended it.

    The error reaches here inside the exception groups of the task groups it crossed
    (sse-starlette's, the run service's).
    """
    return next(filter(None, map(dependency_failure, leaves(exc))), None)


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """Yield the exceptions an exception group holds, however nested; else `exc` itself."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def error_frame(failure: ApiError) -> Message:
    """Return LangServe's `error` event saying what failed, as a body message."""
    data = json.dumps({"status_code": failure.status, "message": failure.message})
    event = ServerSentEvent(data=data, event="error").encode()
    return {"type": "http.response.body", "body": event, "more_body": True}
