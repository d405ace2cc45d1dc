"""The OpenAI-compatible chat path (LLM-01/LLM-02) against a real llama.cpp server on loopback."""

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from nodes.catalog import ModelCatalog
from server.app import create_app
from server.models.factory import build_chat_models, close_models
from server.models.local_chat import smollm2_path
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import CORPUS, fake_catalog, serving

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """Run `python -m llama_cpp.server` with SmolLM2, standing in for LLM-01 and LLM-02."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def openai_models(chat_settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def open_models(settings: Settings) -> AsyncIterator[ModelCatalog]:
        chat, labels = await build_chat_models(chat_settings)
        catalog = fake_catalog(settings.embedding_alias)
        catalog.chat.update(chat)
        catalog.providers.update(labels)
        yield catalog
        await close_models(list(chat.values()))

    return open_models


async def test_rag_answers_through_the_openai_compatible_server(
    llama_server: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        chat_provider="openai",
        llm01_url=llama_server,
        llm01_model="smollm2",
        llm02_model="smollm2",
        chat_max_tokens=32,
    )
    async with serving(
        create_app(settings, models=openai_models(settings), embedder=fake_embedder())
    ) as client:
        await client.post("/workflows/ingest/invoke", json={"input": {"paths": [str(CORPUS)]}})
        for alias in ("llm-01", "llm-02"):
            response = await client.post(
                "/workflows/rag/invoke",
                json={
                    "input": {"question": "Who led Project Falcon?"},
                    "config": {"configurable": {"chat_model": alias}},
                },
            )
            assert response.status_code == 200, response.text
            assert response.json()["output"]["answer"].strip()
        health = (await client.get("/health/detailed")).json()
        assert health["checks"]["model:llm-01"]["status"] == "up"
        assert health["checks"]["model:llm-01"]["provider"].startswith("openai:smollm2@")


async def test_llm_server_down_is_a_503_naming_it(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", chat_provider="openai", llm01_url="http://127.0.0.1:9/v1"
    )
    async with serving(
        create_app(settings, models=openai_models(settings), embedder=fake_embedder())
    ) as client:
        await client.post("/workflows/ingest/invoke", json={"input": {"texts": ["Falcon facts."]}})
        response = await client.post(
            "/workflows/rag/invoke", json={"input": {"question": "Falcon facts."}}
        )
        assert response.status_code == 503
        # LLM-01 failed, then LLM-02 (the same server here), each after its retries.
        assert "llm-02 is unavailable" in response.json()["detail"]
        assert response.headers["retry-after"] == "5"
