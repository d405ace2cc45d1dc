"""Tracing stays off unless configured, and OpenTelemetry spans reach a configured collector."""

import os

import pytest
from fastapi import FastAPI, Request

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, live_server, serving


def test_langsmith_stays_off_whatever_the_environment_says(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    assert os.environ["LANGSMITH_TRACING"] == os.environ["LANGCHAIN_TRACING_V2"] == "false"
    assert app.state.tracer_provider is None


def test_langsmith_tracing_is_on_only_when_the_setting_says(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    create_app(
        settings.model_copy(update={"langsmith_tracing": True}),
        models=fake_models(),
        embedder=fake_embedder(),
    )
    assert os.environ["LANGSMITH_TRACING"] == "true"
    monkeypatch.setenv("LANGSMITH_TRACING", "false")  # leave the process as it was


def collector() -> FastAPI:
    app = FastAPI()
    app.state.posts = []

    @app.post("/v1/traces")
    async def traces(request: Request) -> dict:
        app.state.posts.append((request.headers.get("content-type"), await request.body()))
        return {}

    return app


async def test_requests_become_spans_at_the_configured_collector(settings: Settings) -> None:
    double = collector()
    with live_server(double) as url:
        configured = settings.model_copy(update={"otel_endpoint": url})
        app = create_app(configured, models=fake_models(), embedder=fake_embedder())
        async with serving(app) as client:
            response = await client.get("/v1/models")
            assert response.status_code == 200
        assert app.state.tracer_provider.force_flush(10_000)
        app.state.tracer_provider.shutdown()
    content_type, body = double.state.posts[-1]
    assert content_type == "application/x-protobuf"
    assert b"GET /v1/models" in body and response.headers["x-request-id"].encode() in body
