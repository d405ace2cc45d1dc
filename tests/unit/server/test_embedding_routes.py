"""`/v1/embeddings` and `/v1/models` through the stock OpenAI client and LangChain, in-process."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import numpy as np
import openai
import pytest
from fastapi import Depends, FastAPI
from langchain_openai import OpenAIEmbeddings

from server.app import create_app
from server.embeddings.errors import ApiError
from server.routes.embeddings import direct_route
from server.settings import Settings
from tests.doubles.embedder import CountingEmbedder, bag_of_words, fake_embedder
from tests.support import eventually, fake_models, serving


@dataclass
class Orca:
    app: FastAPI
    http: httpx.AsyncClient
    client: openai.AsyncOpenAI
    embedder: CountingEmbedder


@pytest.fixture
async def orca(settings: Settings) -> AsyncIterator[Orca]:
    settings = settings.model_copy(
        update={"embedding_aliases": ["text-embedding-3-small"], "embedding_max_body_bytes": 65536}
    )
    embedder = CountingEmbedder(max_concurrency=1)
    app = create_app(settings, models=fake_models(), embedder=fake_embedder(embedder))
    async with serving(app) as http:
        client = openai.AsyncOpenAI(
            base_url="http://orca.test/v1", api_key="unused", http_client=http, max_retries=0
        )
        yield Orca(app, http, client, embedder)


def envelope_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


async def test_the_stock_client_gets_floats_back_from_its_default_base64(orca: Orca) -> None:
    texts = ["the kitchen serves green tea", "Project Falcon", "the kitchen serves green tea"]
    result = await orca.client.embeddings.create(model="embed-01", input=texts)
    assert [item.index for item in result.data] == [0, 1, 2]
    assert np.allclose([item.embedding for item in result.data], bag_of_words(texts), atol=1e-6)
    assert result.model == "embed-01"
    assert result.usage.prompt_tokens == result.usage.total_tokens == 7 + 4 + 7
    floats = await orca.client.embeddings.create(
        model="text-embedding-3-small", input=texts[1], encoding_format="float"
    )
    assert np.allclose(floats.data[0].embedding, bag_of_words([texts[1]])[0], atol=1e-6)


async def test_x_cache_tells_miss_partial_hit_and_no_cache_bypasses(orca: Orca) -> None:
    async def post(texts: list[str], **headers: str) -> httpx.Response:
        response = await orca.http.post(
            "/v1/embeddings", json={"model": "embed-01", "input": texts}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response

    assert (await post(["one"])).headers["x-cache"] == "miss"
    partial = await post(["one", "two"])
    assert (partial.headers["x-cache"], partial.headers["x-cache-hits"]) == ("partial", "1")
    assert (await post(["two", "one"])).headers["x-cache"] == "hit"
    assert (await post(["one"], **{"Cache-Control": "no-cache"})).headers["x-cache"] == "miss"
    assert orca.embedder.texts == ["one", "two", "one"]


async def test_a_hundred_mixed_inputs_match_their_single_calls(orca: Orca) -> None:
    texts = [
        f"passage {i % 37} on {['falcon', 'tea', 'ops', 'ünïcode ✓'][i % 4]} " * (1 + i % 5)
        for i in range(100)
    ]
    batch = await orca.client.embeddings.create(model="embed-01", input=texts)
    for text, item in zip(texts, batch.data, strict=True):
        single = await orca.client.embeddings.create(
            model="embed-01", input=text, extra_headers={"Cache-Control": "no-cache"}
        )
        a, b = np.array(item.embedding), np.array(single.data[0].embedding)
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 0.999


async def test_langchain_openai_embeddings_works_with_plain_text(orca: Orca) -> None:
    embeddings = OpenAIEmbeddings(
        model="embed-01",
        base_url="http://orca.test/v1",
        api_key="unused",
        http_async_client=orca.http,
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    documents = await embeddings.aembed_documents(["Project Falcon", "green tea"])
    query = await embeddings.aembed_query("green tea")
    assert np.allclose(documents, bag_of_words(["Project Falcon", "green tea"]), atol=1e-6)
    assert np.allclose(query, documents[1], atol=1e-6)


async def test_token_ids_get_a_400_that_says_to_send_text(orca: Orca) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await orca.client.embeddings.create(model="embed-01", input=[[101, 2023, 102]])
    assert refused.value.code == "token_ids_unsupported"
    assert "check_embedding_ctx_length=False" in refused.value.message
    assert orca.embedder.batches == []


async def test_an_unknown_model_is_404_model_not_found(orca: Orca) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        await orca.client.embeddings.create(model="text-embedding-ada-002", input="x")
    assert refused.value.code == "model_not_found"
    assert refused.value.response.headers["x-should-retry"] == "false"
    missing = await orca.http.get("/v1/models/text-embedding-ada-002")
    assert missing.status_code == 404 and envelope_of(missing)["code"] == "model_not_found"


async def test_models_lists_the_embedding_aliases(orca: Orca) -> None:
    listed = await orca.client.models.list()
    assert [model.id for model in listed.data] == ["embed-01", "text-embedding-3-small"]
    assert (await orca.client.models.retrieve("embed-01")).owned_by == "citadel-orca"


async def test_an_oversized_body_is_413_in_the_envelope(orca: Orca) -> None:
    response = await orca.http.post(
        "/v1/embeddings", json={"model": "embed-01", "input": ["x" * 70_000]}
    )
    assert response.status_code == 413
    assert "65536 bytes" in envelope_of(response)["message"]
    assert response.headers["x-should-retry"] == "false"


async def test_framework_errors_on_v1_use_the_envelope_too(orca: Orca) -> None:
    @orca.app.get("/v1/probe")
    async def probe(limit: int) -> dict:
        return {"limit": limit}

    invalid = await orca.http.get("/v1/probe", params={"limit": "many"})
    assert invalid.status_code == 400
    assert envelope_of(invalid)["param"] == "query.limit"
    unknown = await orca.http.post("/v1/chat/completions", json={})
    assert unknown.status_code == 404 and envelope_of(unknown)["code"] == "unknown_url"
    wrong_method = await orca.http.get("/v1/embeddings")
    assert (
        wrong_method.status_code == 405
        and envelope_of(wrong_method)["type"] == "invalid_request_error"
        and wrong_method.headers["allow"] == "POST"
    )
    bad_json = await orca.http.post(
        "/v1/embeddings", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and "could not parse" in envelope_of(bad_json)["message"]
    outside = await orca.http.get("/workflows/rag/nowhere")
    assert outside.status_code == 404 and "detail" in outside.json()


def test_the_direct_route_will_not_skip_a_dependency_it_does_not_know(
    settings: Settings,
) -> None:
    """POST /v1/embeddings is served ahead of FastAPI's routers, calling the admission and
    authentication dependencies itself: one more dependency would be skipped, so the app
    refuses to start (the test suite is where that shows)."""
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    served = direct_route(app.state.guards, app.router.dependencies)
    assert served.path == "/v1/embeddings" and served.methods == {"POST"}

    async def audit() -> None: ...

    with pytest.raises(RuntimeError, match="update direct_route"):
        direct_route(app.state.guards, [*app.router.dependencies, Depends(audit)])


async def test_a_provider_outage_is_503_with_retry_after(orca: Orca) -> None:
    orca.embedder.fail = lambda texts: ApiError(
        503, "the embedding server is unavailable", retry_after=7
    )
    with pytest.raises(openai.InternalServerError) as failed:
        await orca.client.embeddings.create(model="embed-01", input="x")
    assert failed.value.status_code == 503
    assert failed.value.response.headers["retry-after"] == "7"
    orca.embedder.fail = None
    assert (await orca.client.embeddings.create(model="embed-01", input="x")).data


async def test_beyond_the_queue_requests_get_503_not_a_hang(settings: Settings) -> None:
    settings = settings.model_copy(update={"embedding_max_queue": 2, "embedding_max_inflight": 1})
    embedder = CountingEmbedder(max_concurrency=1)
    embedder.gate = asyncio.Event()
    app = create_app(settings, models=fake_models(), embedder=fake_embedder(embedder))
    async with serving(app) as http:

        def post(texts: list[str]):  # type: ignore[no-untyped-def]
            return http.post("/v1/embeddings", json={"model": "embed-01", "input": texts})

        running = asyncio.create_task(post(["running"]))
        await eventually(lambda: bool(embedder.batches))
        queued = asyncio.create_task(post(["a", "b"]))
        await eventually(lambda: app.state.resources.embeddings.batcher.queued == 2)
        refused = await post(["c"])
        assert refused.status_code == 503
        assert envelope_of(refused)["code"] == "server_overloaded"
        assert refused.headers["retry-after"] == "1"
        embedder.gate.set()
        assert [(await r).status_code for r in (running, queued)] == [200, 200]
