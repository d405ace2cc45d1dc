"""Helpers for the runs API client tests: a live server per backend, SSE, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.auth.keys import KeyStore
from server.auth.setup import open_database
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import live_server

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
"""Where runs and threads live: the embedded default's SQLite file, or PostgreSQL
(ORCA_POSTGRES_URL)."""

GRAPHS = {
    "echo": "tests.doubles.echo_graph:build_graph",
    "gated": "tests.doubles.gated_graph:build_graph",
    "nested": "tests.doubles.gated_graph:build_nested_graph",
}


GATED_UPDATES_AND_CUSTOM = ["metadata", "updates", "custom", "custom", "custom", "updates"]
"""The events of a `gated` run read in `updates` and `custom` modes (no `end`: langgraph-api
sends none, the stream just closes)."""


def runs_settings(data_dir: Path, postgres_url: str | None, **more: Any) -> Settings:
    """Return settings serving the test graphs, with no rate limits in the way."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # module-scoped: before the env is isolated
        data_dir=data_dir,
        postgres_url=postgres_url,
        graphs=GRAPHS,
        rate_limit="",
        rate_limit_runs="",
        **more,
    )


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """Serve the app (scripted models, fake embeddings) on loopback; yield its URL."""
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    with live_server(app) as url:
        yield url


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Await `check()` until it holds; fail after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def api_keys(settings: Settings, *owners: str) -> list[str]:
    """Create one API key per owner in the served app's database (as `orca keys create`)."""
    async with open_database(settings) as database:
        keys = KeyStore(database)
        return [(await keys.create(name=owner, owner=owner))[0] for owner in owners]


def user(text: str) -> dict[str, Any]:
    """Return a graph input of one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def texts(values: dict[str, Any]) -> list[str]:
    """Return the contents of a state's messages."""
    return [str(message["content"]) for message in values.get("messages", [])]


@dataclass
class SseEvent:
    """One event of a raw SSE body."""

    event: str
    data: Any
    id: int | None


async def sse_lines(response: httpx.Response) -> AsyncIterator[SseEvent | str]:
    """Yield a raw SSE body's events, and its comment lines (`: heartbeat`) as strings."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            data = json.loads(fields["data"]) if fields.get("data") else None
            event_id = int(fields["id"]) if fields.get("id") else None
            yield SseEvent(fields.get("event", "message"), data, event_id)
            fields = {}


HELD_ANSWER_S = 8.0
"""Longest a held receiver keeps a webhook POST unanswered (below the sender's timeout)."""


@dataclass
class WebhookReceiver:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: int = 0
    """POSTs that came in, answered or still held."""


@contextmanager
def webhook_receiver(hold: threading.Event | None = None) -> Iterator[WebhookReceiver]:
    """Run a receiver on a free loopback port in a thread; `hold` delays its answers."""
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            receiver.arrived += 1
            if hold is not None:
                hold.wait(HELD_ANSWER_S)
            length = int(self.headers.get("Content-Length", "0"))
            receiver.received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
