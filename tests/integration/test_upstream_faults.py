"""LLM-01 and LLM-02 failing in every way a model server fails, over real HTTP on loopback.

Each server is a chat-completions double (`tests/doubles/openai_chat.py`) that records its
calls, so every test states how many upstream calls one logical request made.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import CountingEmbedder, fake_embedder
from tests.doubles.openai_chat import STALL_S, create_openai_chat_double
from tests.support import eventually, live_server, serving
from tests.unit.server.agui.support import run_input, stream, user

pytestmark = pytest.mark.integration


@dataclass
class Doubles:
    llm01: FastAPI
    llm02: FastAPI
    urls: tuple[str, str]

    def calls(self) -> tuple[int, int]:
        return len(self.llm01.state.calls), len(self.llm02.state.calls)


@pytest.fixture(scope="module")
def servers() -> Iterator[Doubles]:
    llm01, llm02 = create_openai_chat_double("llm-01"), create_openai_chat_double("llm-02")
    with live_server(llm01) as url1, live_server(llm02) as url2:
        yield Doubles(llm01, llm02, (url1, url2))


@pytest.fixture
def doubles(servers: Doubles) -> Doubles:
    for double in (servers.llm01, servers.llm02):
        double.state.calls.clear()
        double.state.script, double.state.fault, double.state.retry_after = [], None, "1"
    return servers


def settings_for(doubles: Doubles, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "chat_provider": "openai",
        "llm01_url": f"{doubles.urls[0]}/v1",
        "llm02_url": f"{doubles.urls[1]}/v1",
        "retry_initial_s": 0.01,
        "retry_max_s": 0.02,
        "stream_first_token_timeout_s": 0.5,
        "stream_idle_timeout_s": 0.5,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def orca(doubles: Doubles, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(doubles, tmp_path), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


async def ask(client: httpx.AsyncClient, question: str = "Who led Falcon?") -> httpx.Response:
    await client.post("/workflows/ingest/invoke", json={"input": {"texts": ["Falcon facts."]}})
    return await client.post(
        "/workflows/rag/invoke",
        json={"input": {"question": question}, "config": {"configurable": {"thread_id": "t"}}},
    )


def metric(text: str, name: str, upstream: str) -> float:
    prefix = f'{name}{{upstream="{upstream}"}} '
    return float(next(line for line in text.splitlines() if line.startswith(prefix)).split()[-1])


async def test_llm_01_answering_500_is_retried_then_llm_02_answers(
    orca: httpx.AsyncClient, doubles: Doubles
) -> None:
    doubles.llm01.state.fault = "500"
    response = await ask(orca)
    assert response.status_code == 200, response.text
    assert response.json()["output"]["answer"] == "llm-02 says: Who led Falcon?"
    assert doubles.calls() == (3, 1)  # three attempts on LLM-01, one on LLM-02
    app = orca._transport.app  # type: ignore[attr-defined]
    state = await app.state.resources.graphs["rag"].aget_state({"configurable": {"thread_id": "t"}})
    assert state.values["model"] == "llm-02"
    metrics = (await orca.get("/metrics")).text
    assert metric(metrics, "orca_upstream_retries_total", "llm-01") == 2


async def test_a_429_is_retried_after_its_retry_after(
    orca: httpx.AsyncClient, doubles: Doubles, caplog: pytest.LogCaptureFixture
) -> None:
    doubles.llm01.state.script = ["429"]
    response = await ask(orca)
    assert response.json()["output"]["answer"] == "llm-01 says: Who led Falcon?"
    assert doubles.calls() == (2, 0)
    assert "retrying llm-01 in 1.00s" in caplog.text  # the server's Retry-After: 1


async def test_a_retry_after_beyond_the_cap_reaches_the_client(
    doubles: Doubles, tmp_path: Path
) -> None:
    for double in (doubles.llm01, doubles.llm02):
        double.state.fault, double.state.retry_after = "429", "120"
    settings = settings_for(doubles, tmp_path, retry_after_cap_s=10)
    async with serving(create_app(settings, embedder=fake_embedder())) as client:
        response = await ask(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert "llm-02 is unavailable" in response.json()["detail"]
    assert doubles.calls() == (1, 1)  # not retried: the wait is the server's to ask


async def test_a_client_error_is_not_retried_and_the_other_model_answers(
    orca: httpx.AsyncClient, doubles: Doubles
) -> None:
    doubles.llm01.state.fault = "400"
    response = await ask(orca)
    assert response.json()["output"]["answer"].startswith("llm-02 says")
    assert doubles.calls() == (1, 1)
    health = (await orca.get("/health/detailed")).json()
    assert health["checks"]["model:llm-01"]["circuit"]["failures"] == 0  # a 4xx is not one


async def test_both_servers_down_is_a_503_naming_them(doubles: Doubles, tmp_path: Path) -> None:
    settings = settings_for(doubles, tmp_path)
    settings = settings.model_copy(
        update={"llm01_url": "http://127.0.0.1:9/v1", "llm02_url": "http://127.0.0.1:9/v1"}
    )
    async with serving(create_app(settings, embedder=fake_embedder())) as client:
        response = await ask(client)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "llm-02 is unavailable" in response.json()["detail"]
        run = await stream(client, "agent", run_input("down", [user("hello")]))
        assert run.types[-1] == "RUN_ERROR"
        assert "llm-02 is unavailable" in run.of("RUN_ERROR")[0]["message"]


async def test_the_circuit_opens_skips_llm_01_half_opens_and_closes(
    doubles: Doubles, tmp_path: Path
) -> None:
    settings = settings_for(doubles, tmp_path, breaker_failures=3, breaker_reset_s=0.5)
    async with serving(create_app(settings, embedder=fake_embedder())) as client:

        async def circuit() -> str:
            health = (await client.get("/health/detailed")).json()
            return health["checks"]["model:llm-01"]["circuit"]["state"]

        async def gauge() -> float:
            return metric((await client.get("/metrics")).text, "orca_circuit_state", "llm-01")

        doubles.llm01.state.fault = "500"
        await ask(client)  # three failed attempts: the circuit opens
        assert (await circuit(), await gauge(), doubles.calls()) == ("open", 2, (3, 1))
        response = await ask(client, "And now?")
        assert response.json()["output"]["answer"].startswith("llm-02 says")
        assert doubles.calls() == (3, 2)  # LLM-01 not called while its circuit is open

        states: list[str] = []

        async def half_open() -> bool:
            states.append(await circuit())
            return states[-1] == "half-open"

        for _ in range(200):  # a failure guard only: the reset time is 0.5 s
            if await half_open():
                break
        assert await gauge() == 1
        doubles.llm01.state.fault = None
        response = await ask(client, "Back?")
        assert response.json()["output"]["answer"] == "llm-01 says: Back?"
        assert (await circuit(), await gauge(), doubles.calls()) == ("closed", 0, (4, 2))


async def test_an_answer_slower_than_the_upstream_timeout_is_cut_and_retried(
    doubles: Doubles, tmp_path: Path
) -> None:
    # Only the SDK's own timeout (ORCA_UPSTREAM_TIMEOUT_S) can cut this attempt: the
    # stream watchdogs are set beyond the stall. Issue 13: a timeout of the wrong HTTP
    # library's type never reached the openai 3 (httpx2) client.
    settings = settings_for(
        doubles,
        tmp_path,
        upstream_timeout_s=0.5,
        stream_first_token_timeout_s=30,
        stream_idle_timeout_s=30,
    )
    doubles.llm01.state.script = ["stall"]
    async with serving(create_app(settings, embedder=fake_embedder())) as client:
        started = time.monotonic()
        response = await ask(client)
        elapsed = time.monotonic() - started
    assert response.json()["output"]["answer"] == "llm-01 says: Who led Falcon?"
    assert doubles.calls() == (2, 0)
    assert elapsed < STALL_S  # the stalled attempt was cut, not waited out


async def test_a_stall_before_the_first_token_is_retried_invisibly(
    orca: httpx.AsyncClient, doubles: Doubles
) -> None:
    doubles.llm01.state.script = ["stall"]
    run = await stream(orca, "agent", run_input("stall", [user("hello there")]))
    assert run.types[-1] == "RUN_FINISHED"
    assert run.text == "llm-01 says: hello there"  # once: the stalled attempt showed nothing
    assert doubles.calls() == (2, 0)


async def test_a_connection_reset_is_retried(orca: httpx.AsyncClient, doubles: Doubles) -> None:
    doubles.llm01.state.script = ["reset"]
    run = await stream(orca, "agent", run_input("reset", [user("hello there")]))
    assert run.text == "llm-01 says: hello there"
    assert doubles.calls() == (2, 0)
    doubles.llm01.state.script = ["reset"]
    assert (await ask(orca)).json()["output"]["answer"] == "llm-01 says: Who led Falcon?"
    assert doubles.calls() == (4, 0)


async def test_a_stall_after_the_first_token_ends_the_run_without_retry_or_fallback(
    orca: httpx.AsyncClient, doubles: Doubles
) -> None:
    doubles.llm01.state.script = ["stall-mid"]
    run = await stream(orca, "agent", run_input("mid", [user("hello there")]))
    assert run.text == "llm-01 says:"  # what had arrived, never repeated
    assert run.types[-1] == "RUN_ERROR"
    assert "stopped in the middle of its answer" in run.of("RUN_ERROR")[0]["message"]
    assert doubles.calls() == (1, 0)
    doubles.llm01.state.script = []
    again = await stream(orca, "agent", run_input("mid", [user("once more")]))
    assert again.types[-1] == "RUN_FINISHED"  # the thread stays usable


async def test_a_flood_of_embedding_calls_leaves_chat_and_health_alone(
    doubles: Doubles, tmp_path: Path
) -> None:
    embedder = CountingEmbedder(max_concurrency=1)
    embedder.gate = asyncio.Event()
    settings = settings_for(doubles, tmp_path, embedding_max_inflight=1)
    app = create_app(settings, embedder=fake_embedder(embedder))
    async with serving(app) as client:
        flood = [
            asyncio.create_task(
                client.post("/v1/embeddings", json={"model": "embed-01", "input": f"text {i}"})
            )
            for i in range(50)
        ]
        await eventually(lambda: embedder.running == 1)  # the one embedding slot is held
        run = await stream(client, "agent", run_input("chat", [user("hello there")]))
        assert run.text == "llm-01 says: hello there"
        health = await client.get("/health/detailed")
        assert health.status_code == 200
        assert health.json()["checks"]["model:embed-01"]["circuit"]["in_flight"] == 1
        embedder.gate.set()
        assert {(await request).status_code for request in flood} == {200}
