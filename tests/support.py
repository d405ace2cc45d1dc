"""Helpers shared by the unit and integration tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListChatModel
from sse_starlette.sse import AppStatus

from nodes.catalog import ModelCatalog
from server.guards.request_head import HeadDeadlineProtocol
from server.settings import Settings

CORPUS = Path(__file__).parent / "data" / "corpus"

FAKE_ANSWER = "Ingrid Solberg led Project Falcon."


def sent_files(*paths: Path) -> list[dict[str, str]]:
    """Return the files under `paths` as an ingest's `files` (`orca ingest` uploads these)."""
    from tools.files import expand_paths

    return [
        {"source": str(file), "text": file.read_text(encoding="utf-8")}
        for file in expand_paths(paths)
    ]


def fake_catalog(alias: str = "embed-01") -> ModelCatalog:
    """Return fake chat and embedding models under the usual aliases."""
    chat = FakeListChatModel(responses=[FAKE_ANSWER])
    return ModelCatalog(
        chat={"llm-01": chat, "llm-02": chat},
        embeddings={alias: DeterministicFakeEmbedding(size=16)},
        providers={"llm-01": "fake", "llm-02": "fake", alias: "fake"},
    )


def fake_models(
    catalog: ModelCatalog | None = None,
) -> Callable[[Settings], AbstractAsyncContextManager[ModelCatalog]]:
    """Return a model opener for `create_app(models=...)` that yields fakes."""

    @asynccontextmanager
    async def open_fakes(settings: Settings) -> AsyncIterator[ModelCatalog]:
        yield catalog or fake_catalog(settings.embedding_alias)

    return open_fakes


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Yield to the event loop until `condition()` holds; fail after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # noqa: ASYNC110 - polls state that has no event to wait on
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.005)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield an HTTP client bound to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orca.test", timeout=120
        ) as client:
            yield client


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port in a thread; yield its base URL."""
    # sse-starlette 1.x keeps one module-level exit Event, bound to the first event loop
    # that streamed; each server thread here has its own loop, so start it afresh.
    AppStatus.should_exit_event = None
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        http=HeadDeadlineProtocol,  # as `orca serve`, with its default deadline
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server failed to start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
