"""`/v1/embeddings` on the real local MiniLM, over real HTTP, with the stock clients."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from fastapi import FastAPI
from langchain_openai import OpenAIEmbeddings

from server.app import create_app
from server.embeddings.local_provider import LocalEmbedder, load_minilm
from server.settings import Settings
from tests.support import fake_models, live_server

pytestmark = pytest.mark.integration


@dataclass
class Served:
    app: FastAPI
    url: str
    client: openai.OpenAI


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir: Path = tmp_path_factory.mktemp("embeddings") / "var"
    app = create_app(Settings(data_dir=data_dir), models=fake_models())
    with live_server(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        yield Served(app, url, client)
        client.close()


def cosine(a: list[float], b: list[float]) -> float:
    x, y = np.array(a), np.array(b)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def test_base64_and_float_give_the_same_unit_vectors(served: Served) -> None:
    texts = ["Green tea is served in the kitchen.", "The crane retrofit was led by Ingrid."]
    default = served.client.embeddings.create(model="embed-01", input=texts)  # asks for base64
    floats = served.client.embeddings.create(model="embed-01", input=texts, encoding_format="float")
    for a, b in zip(default.data, floats.data, strict=True):
        assert len(a.embedding) == 384
        assert np.allclose(a.embedding, b.embedding, atol=1e-6)
        assert abs(np.linalg.norm(a.embedding) - 1) < 1e-3
    assert default.usage.prompt_tokens > len(texts)  # MiniLM's own token count


def test_a_hundred_mixed_inputs_match_single_calls(served: Served) -> None:
    topics = ["green tea in the kitchen", "Project Falcon's crane", "ünïcode ✓ text", "ops on-call"]
    texts = [f"{topics[i % 4]} number {i % 23}. " * (1 + i % 6) for i in range(100)]
    batch = served.client.embeddings.create(
        model="embed-01", input=texts, extra_headers={"Cache-Control": "no-cache"}
    )
    assert [item.index for item in batch.data] == list(range(100))
    for text, item in zip(texts, batch.data, strict=True):
        single = served.client.embeddings.create(
            model="embed-01", input=text, extra_headers={"Cache-Control": "no-cache"}
        )
        assert cosine(item.embedding, single.data[0].embedding) >= 0.999


def test_langchain_and_openai_clients_agree_and_the_vectors_mean_something(served: Served) -> None:
    embeddings = OpenAIEmbeddings(
        model="embed-01",
        base_url=f"{served.url}/v1",
        api_key="unused",
        check_embedding_ctx_length=False,
    )
    tea, crane = embeddings.embed_documents(
        ["Green tea is served in the kitchen.", "The crane retrofit."]
    )
    query = embeddings.embed_query("When is tea served?")
    assert cosine(query, tea) > cosine(query, crane)
    direct = served.client.embeddings.create(model="embed-01", input="When is tea served?")
    assert cosine(query, direct.data[0].embedding) >= 0.999


def test_over_long_inputs_and_unsupported_dimensions_are_refused(served: Served) -> None:
    with pytest.raises(openai.BadRequestError) as too_long:
        served.client.embeddings.create(model="embed-01", input=["short", "word " * 400])
    assert too_long.value.code == "context_length_exceeded"
    assert too_long.value.body["message"].startswith("input[1]:")  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as dimensions:
        served.client.embeddings.create(model="embed-01", input="x", dimensions=128)
    assert dimensions.value.param == "dimensions"
    same = served.client.embeddings.create(model="embed-01", input="x", dimensions=384)
    assert len(same.data[0].embedding) == 384


async def test_a_batch_is_split_over_the_cores_and_comes_back_in_order() -> None:
    model = load_minilm()
    embedder = LocalEmbedder(model, workers=2)
    texts = [f"{'word ' * (1 + (i * 7) % 11)}number {i}" for i in range(10)]
    chunks: list[list[int]] = []
    forward = embedder._forward

    def recorded(chunk: list[str]) -> np.ndarray:
        chunks.append([texts.index(text) for text in chunk])
        return forward(chunk)

    embedder._forward = recorded  # type: ignore[method-assign]
    try:
        embedded = await embedder.embed(texts)
    finally:
        await embedder.aclose()
    assert sorted(len(chunk) for chunk in chunks) == [5, 5]  # one pass per core
    assert sorted(i for chunk in chunks for i in chunk) == list(range(10))
    alone = model.encode(texts, normalize_embeddings=True)
    assert np.allclose(embedded.vectors, alone, atol=1e-5)  # row i is still texts[i]
    assert embedded.tokens == [len(model.tokenizer(text)["input_ids"]) for text in texts]


def test_a_question_longer_than_minilm_reads_is_searched_by_its_beginning(
    served: Served,
) -> None:
    """A 1,300-character question is past MiniLM's 256 tokens: its search failed the run
    with the gateway's `context_length_exceeded` on every surface."""
    question = "Who led the Project Falcon crane retrofit, and when was it done? " * 20
    response = httpx.post(
        f"{served.url}/workflows/rag/invoke", json={"input": {"question": question}}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["output"]["answer"]
    too_long = served.client.embeddings.create  # the gateway itself still refuses it
    with pytest.raises(openai.BadRequestError, match="context length"):
        too_long(model="embed-01", input=[question])
