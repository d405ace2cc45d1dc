"""The Ollama and OpenAI-compatible providers over real HTTP on loopback, faults included."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import bag_of_words
from tests.doubles.ollama import create_ollama_double
from tests.doubles.openai_embeddings import MODEL, create_openai_embeddings_double
from tests.support import fake_models, live_server, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, FastAPI]]:
    double = create_openai_embeddings_double()
    with live_server(double) as url:
        yield url, double


@pytest.fixture
async def orca(upstream: tuple[str, FastAPI], tmp_path: Path) -> AsyncIterator[openai.AsyncOpenAI]:
    url, double = upstream
    double.state.fault = None
    double.state.calls.clear()
    settings = Settings(
        data_dir=tmp_path / "var",
        embedding_provider="openai",
        embedding_model=MODEL,
        embedding_url=f"{url}/v1",
        embedding_version="2026-11",
        upstream_timeout_s=1.0,
        retry_attempts=1,  # how each fault reaches the client; retries: test_embedding_fallback
    )
    async with serving(create_app(settings, models=fake_models())) as http:
        yield openai.AsyncOpenAI(
            base_url="http://orca.test/v1", api_key="x", http_client=http, max_retries=0
        )


async def test_vectors_come_back_in_order_from_an_out_of_order_upstream(
    orca: openai.AsyncOpenAI, upstream: tuple[str, FastAPI]
) -> None:
    texts = [f"text {i} about {'tea' if i % 2 else 'falcon'}" for i in range(10)]
    result = await orca.embeddings.create(model="embed-01", input=texts)
    assert np.allclose([d.embedding for d in result.data], bag_of_words(texts), atol=1e-6)
    assert result.usage.prompt_tokens == sum(len(t.split()) for t in texts)
    _, double = upstream
    assert double.state.calls[-1]["encoding_format"] == "base64"
    double.state.fault = "floats"
    floats = await orca.embeddings.create(model="embed-01", input=["a server that ignores base64"])
    assert np.allclose(
        floats.data[0].embedding, bag_of_words(["a server that ignores base64"])[0], atol=1e-6
    )


@pytest.mark.parametrize(
    ("fault", "status", "code", "retry_after"),
    [
        ("500", 502, "upstream_error", "5"),
        ("429", 503, "upstream_unavailable", "3"),
        ("stall", 504, "upstream_timeout", "5"),
    ],
)
async def test_upstream_faults_map_to_5xx_with_retry_after(
    orca: openai.AsyncOpenAI,
    upstream: tuple[str, FastAPI],
    fault: str,
    status: int,
    code: str,
    retry_after: str,
) -> None:
    _, double = upstream
    await orca.embeddings.create(model="embed-01", input="warm up")  # learn the size first
    double.state.fault = fault
    with pytest.raises(openai.APIStatusError) as failed:
        await orca.embeddings.create(model="embed-01", input=f"fault {fault}")
    assert failed.value.status_code == status
    assert failed.value.code == code
    assert failed.value.response.headers["retry-after"] == retry_after
    double.state.fault = None
    assert (await orca.embeddings.create(model="embed-01", input=f"fault {fault}")).data


async def test_an_upstream_refusal_of_one_input_is_the_callers_400(
    orca: openai.AsyncOpenAI, upstream: tuple[str, FastAPI]
) -> None:
    _, double = upstream
    double.state.fault = "too-long"
    with pytest.raises(openai.BadRequestError) as refused:
        await orca.embeddings.create(model="embed-01", input=["short", "word " * 60])
    assert refused.value.code == "context_length_exceeded"
    assert refused.value.body["message"].startswith("input[1]:")


async def test_an_unreachable_upstream_is_503_naming_it(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        embedding_provider="openai",
        embedding_model=MODEL,
        embedding_url="http://127.0.0.1:9/v1",
    )
    async with serving(create_app(settings, models=fake_models())) as http:
        response = await http.post("/v1/embeddings", json={"model": "embed-01", "input": "x"})
        assert response.status_code == 503
        assert "127.0.0.1:9" in response.json()["error"]["message"]
        assert response.headers["retry-after"] == "5"


@pytest.fixture(scope="module")
def ollama() -> Iterator[tuple[str, FastAPI]]:
    double = create_ollama_double()
    with live_server(double) as url:
        yield url, double


async def test_ollama_provider_through_the_endpoint(
    ollama: tuple[str, FastAPI], tmp_path: Path
) -> None:
    url, double = ollama
    settings = Settings(
        data_dir=tmp_path / "var",
        embedding_provider="ollama",
        embedding_model="nomic-embed-text",
        ollama_url=url,
        embedding_max_input_tokens=20,
    )
    async with serving(create_app(settings, models=fake_models())) as http:
        client = openai.AsyncOpenAI(
            base_url="http://orca.test/v1", api_key="x", http_client=http, max_retries=0
        )
        texts = ["green tea in the kitchen", "Project Falcon"]
        result = await client.embeddings.create(model="embed-01", input=texts)
        assert np.allclose([d.embedding for d in result.data], bag_of_words(texts), atol=1e-6)
        assert result.usage.prompt_tokens == (5 + 2) + (2 + 2)
        call = double.state.calls[-1]
        assert call["truncate"] is False and call["options"] == {"num_ctx": 20}
        with pytest.raises(openai.BadRequestError) as refused:
            await client.embeddings.create(model="embed-01", input=["fine", "word " * 30])
        assert refused.value.code == "context_length_exceeded"
        assert refused.value.body["message"].startswith("input[1]:")
        gateway = http._transport.app.state.resources.embeddings  # type: ignore[attr-defined]
        info = await gateway.describe()
        assert info.dimensions == 64 and len(info.version) == 64  # the digest from /api/tags


async def test_health_reports_the_embedding_provider(
    ollama: tuple[str, FastAPI], tmp_path: Path
) -> None:
    url, _ = ollama
    settings = Settings(
        data_dir=tmp_path / "var",
        embedding_provider="ollama",
        ollama_url=url,
        embedding_model="nomic-embed-text",
    )
    async with serving(create_app(settings, models=fake_models())) as http:
        checks = (await http.get("/health/detailed")).json()["checks"]
        assert checks["model:embed-01"]["status"] == "up"
        assert checks["model:embed-01"]["provider"] == "ollama:nomic-embed-text"
