"""Request bodies over the limit are 413, and too slow 408, in the envelope of the surface."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from server.app import create_app
from server.guards.body import BodyLimits
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

LIMIT = 2048
OPENAI_LIMIT = 4096
TIMEOUT_S = 0.3


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings.model_copy(
        update={
            "max_body_bytes": LIMIT,
            "embedding_max_body_bytes": OPENAI_LIMIT,
            "body_timeout_s": TIMEOUT_S,
        }
    )
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


async def chunks(size: int, piece: int = 512) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (chunked), `piece` bytes at a time."""
    for start in range(0, size, piece):
        yield b" " * min(piece, size - start)


async def test_a_declared_body_over_the_limit_is_413_detail_and_closes(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/workflows/rag/invoke", content=b"{" + b" " * LIMIT + b"}")
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"Request body exceeds {LIMIT} bytes; send a smaller request."
    }
    assert response.headers["connection"] == "close"


async def test_a_streamed_body_over_the_limit_is_413_once_it_crosses(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/agui/agent", content=chunks(LIMIT + 1))
    assert response.status_code == 413
    assert "detail" in response.json()


@pytest.mark.parametrize("declared", [True, False])
async def test_on_v1_the_413_is_openais_envelope(client: httpx.AsyncClient, declared: bool) -> None:
    size = OPENAI_LIMIT + 1
    body = b" " * size if declared else chunks(size)
    response = await client.post("/v1/embeddings", content=body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and str(OPENAI_LIMIT) in error["message"]
    assert response.headers["x-should-retry"] == "false"


async def test_v1_keeps_the_larger_embeddings_limit(client: httpx.AsyncClient) -> None:
    padding = " " * (LIMIT + 100)  # over ORCA_MAX_BODY_BYTES, under the embeddings limit
    body = f'{{"model": "embed-01", "input": "Falcon"{padding}}}'
    response = await client.post("/v1/embeddings", content=body.encode())
    assert response.status_code == 200, response.text


async def test_a_body_under_the_limit_is_served(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows/ingest/invoke", json={"input": {"texts": ["Falcon."]}})
    assert response.status_code == 200, response.text


async def test_outside_a_route_the_middleware_answers_itself() -> None:
    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()  # raises BodyTooLarge, nobody handles it
        await PlainTextResponse(str(len(body)))(scope, receive, send)

    transport = httpx.ASGITransport(app=BodyLimits(reader, limit=10, openai_limit=20))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        small = await http.post("/x", content=chunks(10, piece=4))
        large = await http.post("/x", content=chunks(11, piece=4))
        openai = await http.post("/v1/x", content=chunks(21, piece=4))
    assert (small.status_code, small.text) == (200, "10")
    assert large.status_code == 413 and "detail" in large.json()
    assert openai.status_code == 413 and openai.json()["error"]["code"] is None


async def stalled(first: bytes) -> AsyncIterator[bytes]:
    """A body whose client sends `first`, then nothing more while the connection stays."""
    yield first
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("path", "envelope"), [("/threads", "detail"), ("/v1/embeddings", "error")]
)
async def test_a_body_that_stalls_is_408_in_the_envelope(
    client: httpx.AsyncClient, path: str, envelope: str
) -> None:
    async with asyncio.timeout(30):
        response = await client.post(path, content=stalled(b'{"metadata": {'))
    assert response.status_code == 408, response.text
    assert f"{TIMEOUT_S:g} s" in str(response.json()[envelope])


async def test_reads_after_the_body_are_not_timed() -> None:
    """Starlette waits on `receive` for a disconnect while a response streams: no deadline."""
    messages: list[Message] = [
        {"type": "http.request", "body": b"{}", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        if len(messages) == 1:
            await asyncio.sleep(TIMEOUT_S * 3)  # the client stays, past the body's deadline
        return messages.pop(0)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        assert (await receive())["type"] == "http.disconnect"
        await PlainTextResponse(body.decode())(scope, receive, send)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}
    await BodyLimits(app, limit=10, openai_limit=20, timeout_s=TIMEOUT_S)(scope, receive, send)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"{}"
