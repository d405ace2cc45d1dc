"""Metrics, request ids and structured logs, observed from the outside."""

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.observability.logs import configure_logging
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import serving
from tests.unit.server.agui.support import run_input, stream, user


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


async def samples(client: httpx.AsyncClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = (await client.get("/metrics")).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict, name: str, **labels: str) -> float:
    matches = [
        v for lab, v in found.get(name, []) if all(lab.get(k) == want for k, want in labels.items())
    ]
    assert matches, f"no {name} sample with {labels}"
    return sum(matches)


async def test_every_family_is_there_at_zero_before_the_first_event(
    client: httpx.AsyncClient,
) -> None:
    found = await samples(client)
    assert (
        value(
            found,
            "orca_workflow_runs_total",
            workflow="ingest",
            surface="agui",
            outcome="cancelled",
        )
        == 0
    )
    assert value(found, "orca_node_duration_seconds_count", workflow="agent", node="approve") == 0
    assert value(found, "orca_model_calls_total", alias="llm-02", outcome="error") == 0
    assert value(found, "orca_embedding_cache_total", layer="l2", result="error") == 0
    assert value(found, "orca_circuit_state", upstream="qdrant") == 0
    assert value(found, "orca_upstream_retries_total", upstream="llm-01") == 0
    assert value(found, "orca_active_streams", surface="agui") == 0
    assert value(found, "orca_embedding_queue_depth", model="embed-01") == 0
    assert value(found, "orca_build_info") == 1


async def test_requests_runs_nodes_models_and_embeddings_are_counted(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/health")
    assert (
        await client.post("/v1/embeddings", json={"model": "embed-01", "input": ["a", "b"]})
    ).status_code == 200
    await client.post("/v1/embeddings", json={"model": "embed-01", "input": ["a"]})
    await stream(client, "agent", run_input("m-1", [user("hello")]))
    await stream(client, "agent", run_input("m-2", [user("note: counted")]))
    await stream(client, "agent", run_input("m-3", [user("please fail")]))
    await client.post("/workflows/rag/invoke", json={"input": {"question": "anything?"}})
    found = await samples(client)
    routes = {labels["route"] for labels, _ in found["orca_http_requests_total"]}
    assert {"/v1/embeddings", "/agui/{workflow}", "/workflows/rag/invoke"} <= routes
    assert not any(route.startswith(("/health", "/metrics")) for route in routes)
    assert (
        value(
            found, "orca_http_requests_total", route="/v1/embeddings", method="POST", status="200"
        )
        == 2
    )
    assert value(found, "orca_http_request_duration_seconds_count", route="/agui/{workflow}") == 3
    for outcome in ("success", "interrupted", "error"):
        assert (
            value(
                found, "orca_workflow_runs_total", workflow="agent", surface="agui", outcome=outcome
            )
            == 1
        )
    assert (
        value(
            found,
            "orca_workflow_runs_total",
            workflow="rag",
            surface="langserve",
            outcome="success",
        )
        == 1
    )
    assert (
        value(found, "orca_workflow_run_duration_seconds_count", workflow="agent", surface="agui")
        == 3
    )
    assert value(found, "orca_node_duration_seconds_count", workflow="agent", node="agent") >= 3
    assert value(found, "orca_node_duration_seconds_count", workflow="rag", node="retrieve") == 1
    assert (
        value(
            found, "orca_model_calls_total", alias="llm-01", provider="scripted", outcome="success"
        )
        >= 2
    )
    assert value(found, "orca_model_calls_total", alias="llm-01", outcome="error") >= 1
    assert value(found, "orca_embedding_inputs_total", model="embed-01") >= 3
    assert value(found, "orca_embedding_cache_total", layer="l1", result="hit") >= 1
    assert value(found, "orca_embedding_cache_total", layer="l1", result="miss") >= 2
    assert value(found, "orca_embedding_batch_size_count", model="embed-01") >= 1
    assert value(found, "orca_active_streams", surface="agui") == 0


async def test_each_app_has_its_own_registry(settings: Settings) -> None:
    first = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    second = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_request_ids_are_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/")
    assert len(made.headers["x-request-id"]) == 32
    unsafe = await client.get("/", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


async def test_one_log_line_per_request_and_per_run_carry_ids(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await stream(client, "agent", run_input("log-1", [user("hello")]))
    requests = [r for r in caplog.records if r.name == "orca.requests"]
    runs = [r for r in caplog.records if r.name == "orca.runs"]
    assert (
        len(requests) == 1 and requests[0].route == "/agui/{workflow}" and requests[0].status == 200
    )
    assert len(runs) == 1
    assert (runs[0].workflow, runs[0].thread_id, runs[0].outcome) == ("agent", "log-1", "success")
    assert runs[0].duration_ms > 0


async def test_the_log_lines_name_the_caller(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """`identity` in the request and run lines is whom the key acts as, not a constant."""
    keyed = settings.model_copy(update={"auth_mode": "api_key"})
    app = create_app(keyed, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        key, _ = await app.state.resources.auth.keys.create(name="app", owner="alice")
        client.headers["X-API-Key"] = key
        with caplog.at_level(logging.INFO):
            await stream(client, "agent", run_input("log-2", [user("hello")]))
            assert (await client.get("/threads/nope", headers={"X-API-Key": ""})).status_code == 401
    requests = [r for r in caplog.records if r.name == "orca.requests"]
    runs = [r for r in caplog.records if r.name == "orca.runs" and hasattr(r, "identity")]
    assert [r.identity for r in requests] == ["alice", "anonymous"]
    assert [r.identity for r in runs] == ["alice"]


def test_logs_are_json_lines_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_lines=True)
    try:
        logging.getLogger("orca.test").info("hello", extra={"workflow": "agent"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["message"] == "hello" and record["workflow"] == "agent"
        assert record["level"] == "INFO" and record["request_id"] == "-"
    finally:
        logging.getLogger().handlers.clear()
