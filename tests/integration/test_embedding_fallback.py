"""The embedding provider failing: retries, its circuit, and the configured fallback provider."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings
from tests.doubles.openai_embeddings import MODEL, create_openai_embeddings_double
from tests.support import fake_models, live_server, serving

pytestmark = pytest.mark.integration


@dataclass
class Providers:
    primary: FastAPI
    fallback: FastAPI
    urls: tuple[str, str]


@pytest.fixture(scope="module")
def servers() -> Iterator[Providers]:
    primary, fallback = create_openai_embeddings_double(), create_openai_embeddings_double()
    with live_server(primary) as url1, live_server(fallback) as url2:
        yield Providers(primary, fallback, (url1, url2))


@pytest.fixture
async def orca(servers: Providers, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    for double in (servers.primary, servers.fallback):
        double.state.fault = None
        double.state.calls.clear()
    settings = Settings(
        data_dir=tmp_path / "var",
        embedding_provider="openai",
        embedding_model=MODEL,
        embedding_url=f"{servers.urls[0]}/v1",
        embedding_version="1",
        embedding_fallback_provider="openai",
        embedding_fallback_model=f"{MODEL}-replica",
        embedding_fallback_url=f"{servers.urls[1]}/v1",
        retry_initial_s=0.01,
        breaker_failures=6,
    )
    async with serving(create_app(settings, models=fake_models())) as client:
        yield client


async def embed(client: httpx.AsyncClient, text: str) -> httpx.Response:
    return await client.post("/v1/embeddings", json={"model": "embed-01", "input": text})


async def test_a_failing_provider_is_retried_then_the_fallback_answers_in_its_own_namespace(
    orca: httpx.AsyncClient, servers: Providers
) -> None:
    assert (await embed(orca, "warm up")).status_code == 200  # the primary's size is known
    primary_calls = len(servers.primary.state.calls)
    servers.primary.state.fault = "500"
    answered = await embed(orca, "Project Falcon")
    assert answered.status_code == 200
    assert len(servers.primary.state.calls) - primary_calls == 3  # every attempt
    assert [call["model"] for call in servers.fallback.state.calls][-1] == f"{MODEL}-replica"
    gateway = orca._transport.app.state.resources.embeddings  # type: ignore[attr-defined]
    assert gateway.fallbacks == 1
    servers.primary.state.fault = None
    again = await embed(orca, "Project Falcon")
    # The fallback's vector is cached under the fallback's identity: the primary computes
    # its own instead of being handed another model's vector.
    assert again.headers["x-cache"] == "miss"
    assert servers.primary.state.calls[-1]["input"] == ["Project Falcon"]


async def test_an_open_circuit_sends_requests_to_the_fallback_at_once(
    orca: httpx.AsyncClient, servers: Providers
) -> None:
    assert (await embed(orca, "warm up")).status_code == 200
    servers.primary.state.fault = "500"
    for i in range(2):  # 3 failed attempts each: 6 open the circuit
        assert (await embed(orca, f"text {i}")).status_code == 200
    health = (await orca.get("/health/detailed")).json()
    assert health["checks"]["model:embed-01"]["circuit"]["state"] == "open"
    before = len(servers.primary.state.calls)
    assert (await embed(orca, "while open")).status_code == 200
    assert len(servers.primary.state.calls) == before  # not even tried
    metrics = (await orca.get("/metrics")).text
    assert 'orca_circuit_state{upstream="embeddings"} 2.0' in metrics


async def test_both_down_is_a_503_with_retry_after(
    orca: httpx.AsyncClient, servers: Providers
) -> None:
    assert (await embed(orca, "warm up")).status_code == 200
    servers.primary.state.fault = servers.fallback.state.fault = "500"
    failed = await embed(orca, "nobody answers")
    assert failed.status_code == 502
    assert failed.headers["retry-after"] == "5"
    assert failed.json()["error"]["code"] == "upstream_error"
