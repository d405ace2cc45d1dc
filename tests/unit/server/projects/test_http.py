"""`http.app`: the project's routes beside Orca's, Orca's winning a clash, its lifespan run."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.projects.http import mount_http_app, with_app_lifespan


def test_custom_app_answers_what_orca_does_not(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def custom_lifespan(_: FastAPI) -> AsyncIterator[None]:
        events.append("custom up")
        yield
        events.append("custom down")

    custom = FastAPI(lifespan=custom_lifespan)
    custom.get("/hello")(lambda: {"from": "custom"})
    custom.get("/health")(lambda: {"from": "custom"})

    @asynccontextmanager
    async def orca_lifespan(_: FastAPI) -> AsyncIterator[None]:
        events.append("orca up")
        yield
        events.append("orca down")

    app = FastAPI(lifespan=with_app_lifespan(orca_lifespan, custom))
    app.get("/health")(lambda: {"from": "orca"})
    mount_http_app(app, custom)
    app.get("/later")(lambda: {"from": "orca, added after the mount"})
    with caplog.at_level(logging.WARNING, "orca.projects"), TestClient(app) as client:
        assert client.get("/hello").json() == {"from": "custom"}
        assert client.get("/health").json() == {"from": "orca"}
        assert client.get("/later").json() == {"from": "orca, added after the mount"}
        assert client.get("/nowhere").status_code == 404
    assert events == ["orca up", "custom up", "custom down", "orca down"]
    assert [record.getMessage() for record in caplog.records] == [
        "http.app: Orca's routes answer GET /health, so the app's own are not reached there"
    ]
