"""What a LangServe stream's error event says, by what ended it (`server/served_errors.py`)."""

from __future__ import annotations

import json

import psycopg
import pytest
from starlette.types import Message, Receive, Scope, Send

from server.embeddings.errors import ApiError
from server.errors import dependency_failure
from server.resilience.errors import CircuitOpen, UpstreamUnavailable
from server.served_errors import StreamErrors

HIDDEN = b'event: error\r\ndata: {"status_code": 500, "message": "Internal Server Error"}\r\n\r\n'
"""LangServe's error event, as it sends it whatever the cause."""
DATA = b"event: data\r\ndata: {}\r\n\r\n"


def failing_stream(exc: Exception) -> StreamErrors:
    """Return the middleware around a LangServe-like stream: one chunk, the event, `exc`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for body in (DATA, HIDDEN):
            await send({"type": "http.response.body", "body": body, "more_body": True})
        raise exc

    return StreamErrors(app)


async def served(
    app: StreamErrors, path: str = "/workflows/agent/stream", sent: list[Message] | None = None
) -> list[Message]:
    """Run one request through `app`; return what it sent (kept in `sent` if it raises)."""
    sent = [] if sent is None else sent

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "path": path}, receive, send)
    return sent


async def test_a_dependency_down_is_named_and_the_body_ends() -> None:
    down = UpstreamUnavailable("llm-02", "OpenAIConnectionError: Connection error.")
    nested = ExceptionGroup("sse", [ExceptionGroup("run", [down])])
    sent = await served(failing_stream(nested))
    assert sent[1]["body"] == DATA
    frame = sent[2]["body"].decode()
    assert frame.startswith("event: error\r\n") and frame.endswith("\r\n\r\n")
    error = json.loads(frame.split("data: ", 1)[1])
    assert error == {"status_code": 503, "message": str(down)}
    assert sent[3] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_any_other_error_stays_hidden_and_goes_on_up() -> None:
    sent: list[Message] = []
    bug = ExceptionGroup("sse", [RuntimeError("password=hunter2")])
    with pytest.raises(ExceptionGroup):
        await served(failing_stream(bug), "/workflows/agent/stream_events", sent)
    assert [message.get("body") for message in sent[1:]] == [DATA, HIDDEN]


async def test_other_paths_are_left_alone() -> None:
    with pytest.raises(ExceptionGroup):
        await served(failing_stream(ExceptionGroup("x", [CircuitOpen("llm-01", 30)])), "/runs")


@pytest.mark.parametrize(
    ("exc", "status", "named"),
    [
        (CircuitOpen("llm-01", 30), 503, "llm-01 is unavailable"),
        (ApiError(503, "the embedding server is unavailable"), 503, "embedding server"),
        (ConnectionRefusedError("refused"), 503, "model server is unavailable"),
        (psycopg.OperationalError("no connection"), 503, "PostgreSQL is unavailable"),
    ],
)
def test_dependency_failures_answer_as_invoke(exc: Exception, status: int, named: str) -> None:
    failure = dependency_failure(exc)
    assert failure is not None and failure.status == status and named in failure.message


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("a bug"),
        ApiError(422, "the request's doing"),
        psycopg.errors.ProgramLimitExceeded("index row too large"),
    ],
)
def test_the_rest_is_no_dependency_failure(exc: Exception) -> None:
    assert dependency_failure(exc) is None
