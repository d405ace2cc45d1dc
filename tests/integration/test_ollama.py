"""The Ollama embedding provider against a faithful double, and opt-in against a real Ollama."""

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.embeddings.factory import open_embedder
from server.settings import Settings
from tests.doubles.ollama import create_ollama_double
from tests.support import CORPUS, fake_models, live_server, sent_files, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def ollama_url() -> object:
    double = create_ollama_double()
    with live_server(double) as url:
        yield url, double


@asynccontextmanager
async def serving_on_ollama(
    tmp_path: Path, url: str, model: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path / "var",
        embedding_provider="ollama",
        embedding_model=model,
        ollama_url=url,
    )
    async with serving(create_app(settings, models=fake_models())) as client:
        yield client


async def test_rag_over_ollama_embeddings_finds_the_passage(ollama_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, double = ollama_url
    async with serving_on_ollama(tmp_path, url, "nomic-embed-text") as client:
        ingested = await client.post(
            "/workflows/ingest/invoke", json={"input": {"files": sent_files(CORPUS)}}
        )
        assert ingested.status_code == 200, ingested.text
        answer = await client.post(
            "/workflows/rag/invoke",
            json={
                "input": {"question": "When is green tea served in the kitchen?"},
                "config": {"configurable": {"top_k": 1}},
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["sources"][0]["source"].endswith("kitchen.md")
        health = (await client.get("/health/detailed")).json()
        assert health["checks"]["model:embed-01"]["status"] == "up"
    assert all(call["model"] == "nomic-embed-text" for call in double.state.calls)
    assert any(
        isinstance(call["input"], list) and len(call["input"]) > 1 for call in double.state.calls
    )


async def test_unknown_ollama_model_is_a_clear_error(ollama_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, _ = ollama_url
    async with serving_on_ollama(tmp_path, url, "missing") as client:
        response = await client.post(
            "/workflows/ingest/invoke", json={"input": {"texts": ["hello"]}}
        )
        assert response.status_code == 502
        assert "404" in response.text and "missing" in response.text


async def test_ollama_down_is_a_503_naming_it(tmp_path: Path) -> None:
    async with serving_on_ollama(tmp_path, "http://127.0.0.1:9", "nomic-embed-text") as client:
        response = await client.post(
            "/workflows/ingest/invoke", json={"input": {"texts": ["hello"]}}
        )
        assert response.status_code == 503
        assert "unavailable" in response.json()["detail"]
        health = await client.get("/health/detailed")
        assert health.status_code == 503
        assert "model:embed-01" in health.json()["down"]


def test_double_refuses_token_ids_like_ollama() -> None:
    double = create_ollama_double()
    with live_server(double) as url:
        response = httpx.post(
            f"{url}/api/embed", json={"model": "nomic-embed-text", "input": [[1, 2, 3]]}
        )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid input type"}


@pytest.mark.ollama
@pytest.mark.skipif(not os.environ.get("ORCA_TEST_OLLAMA_URL"), reason="set ORCA_TEST_OLLAMA_URL")
async def test_real_ollama_embeds_unit_vectors() -> None:
    settings = Settings(
        embedding_provider="ollama",
        ollama_url=os.environ["ORCA_TEST_OLLAMA_URL"],
        embedding_model=os.environ.get("ORCA_TEST_OLLAMA_MODEL", "nomic-embed-text"),
    )
    async with open_embedder(settings) as embedder:
        info = await embedder.describe()
        embedded = await embedder.embed(["hello world", "another text"])
    assert embedded.vectors.shape == (2, info.dimensions)
    for vector in embedded.vectors.tolist():
        assert abs(math.sqrt(sum(v * v for v in vector)) - 1) < 1e-3
    assert info.version != "unknown"  # the digest from /api/tags
