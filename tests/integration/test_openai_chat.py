"""The OpenAI-compatible chat path (LLM-01/LLM-02) against a real llama.cpp server on loopback."""

import os
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


@pytest.fixture
def orca_serve(llama_server: str, tmp_path: Path) -> Iterator[str]:
    """Run `orca serve` as a user starts the production chat setup: ORCA_CHAT_PROVIDER=openai."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORCA_")},
        "ORCA_CHAT_PROVIDER": "openai",
        "ORCA_LLM01_URL": llama_server,
        "ORCA_LLM01_MODEL": "smollm2",
        "ORCA_LLM02_MODEL": "smollm2",
        "ORCA_CHAT_MAX_TOKENS": "32",
        "ORCA_DATA_DIR": str(tmp_path / "var"),
        "ORCA_PORT": str(port),
    }
    log = tmp_path / "orca.log"
    with log.open("wb") as output:
        # The `orca` script beside this interpreter, run outside the checkout, whose `.env`
        # must not configure it.
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "orca"), "serve"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a failure guard: start-up loads the embedder
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "orca serve never answered /health"
            try:
                if httpx.get(f"{url}/health", timeout=1).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_orca_serve_with_the_openai_provider_starts_and_answers(
    orca_serve: str, llama_server: str
) -> None:
    # Issue 13: on openai 3 (built on httpx2) start-up died with `TypeError: Invalid timeout`.
    async with httpx.AsyncClient(base_url=orca_serve, timeout=120) as client:
        texts = ["Project Falcon was led by Ingrid Solberg."]
        ingest = await client.post(
            "/workflows/ingest/invoke", json={"input": {"texts": texts, "paths": []}}
        )
        assert ingest.status_code == 200, ingest.text
        response = await client.post(
            "/workflows/rag/invoke", json={"input": {"question": "Who led Project Falcon?"}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["output"]["answer"].strip()
        health = (await client.get("/health/detailed")).json()
    assert health["checks"]["model:llm-01"]["status"] == "up"
    assert health["checks"]["model:llm-01"]["provider"].startswith(f"openai:smollm2@{llama_server}")


async def test_openai_clients_take_the_configured_timeouts(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        chat_provider="openai",
        llm01_url="http://127.0.0.1:9/v1",
        upstream_timeout_s=7,
        upstream_connect_timeout_s=2,
    )
    chat, _ = await build_chat_models(settings)
    try:
        for model in chat.values():
            timeout = model.root_async_client.timeout  # type: ignore[attr-defined]
            assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (2, 7, 7, 7)
    finally:
        await close_models(list(chat.values()))


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
