"""The live server both client suites run against: runs in SQLite (the embedded default), or
in PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.support_runs import BACKENDS, runs_settings, served


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str | None:
    """Return the PostgreSQL URL of the run store, or None for the embedded default's."""
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


@pytest.fixture(scope="module")
def server(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the app with runs in SQLite or in PostgreSQL; yield its URL."""
    with served(runs_settings(tmp_path_factory.mktemp("runs") / "var", backend)) as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[LangGraphClient]:
    """Return langgraph-sdk's async client on the server."""
    async with get_client(url=server) as client:
        yield client
