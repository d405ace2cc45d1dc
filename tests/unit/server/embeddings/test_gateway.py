"""The gateway: dedupe, cache layers, every vector at its own index, usage, dimensions."""

import numpy as np
import pytest

from server.embeddings.cache import CachedVector, MemoryCache, cache_key
from server.embeddings.errors import ApiError, InputsRefused
from server.embeddings.gateway import EmbeddingGateway
from tests.doubles.embedder import CountingEmbedder, bag_of_words
from tests.doubles.ollama import DIMENSIONS


def gateway(embedder: CountingEmbedder | None = None, **options: object) -> EmbeddingGateway:
    options = {"aliases": ["embed-01"], "memory": MemoryCache(2**20)} | options
    return EmbeddingGateway(embedder or CountingEmbedder(), **options)  # type: ignore[arg-type]


async def test_duplicate_texts_in_a_request_are_embedded_once() -> None:
    embedder = CountingEmbedder()
    result = await gateway(embedder).embed(["a b", "c", "a b", "a b"])
    assert embedder.batches == [["a b", "c"]]
    assert np.array_equal(result.vectors[0], result.vectors[2])
    assert np.array_equal(result.vectors, bag_of_words(["a b", "c", "a b", "a b"]))
    assert result.prompt_tokens == 4 + 3 + 4 + 4  # every input counts, duplicates too
    assert (result.hits, result.misses, result.cache_status) == (0, 2, "miss")


async def test_a_partial_hit_puts_every_vector_back_at_its_own_index() -> None:
    # LiteLLM #29284: 128 inputs with hits at 16 and 17 drifted the indices.
    embedder = CountingEmbedder()
    subject = gateway(embedder)
    texts = [f"document number {i} about topic {i % 7}" for i in range(128)]
    cached = [texts[16], texts[17], texts[90]]
    await subject.embed(cached)
    result = await subject.embed(texts)
    assert result.cache_status == "partial"
    assert (result.hits, result.misses) == (3, 125)
    assert np.allclose(result.vectors, bag_of_words(texts), atol=1e-6)
    assert sorted(embedder.texts[3:]) == sorted(set(texts) - set(cached))


async def test_a_full_hit_reports_the_same_usage_as_the_miss() -> None:
    embedder = CountingEmbedder()
    subject = gateway(embedder)
    first = await subject.embed(["alpha beta", "gamma"])
    second = await subject.embed(["alpha beta", "gamma"])
    assert (first.cache_status, second.cache_status) == ("miss", "hit")
    assert first.prompt_tokens == second.prompt_tokens == 7
    assert np.array_equal(first.vectors, second.vectors)
    assert len(embedder.batches) == 1
    assert subject.stats.l1_hits == 2


async def test_bypassing_the_cache_recomputes() -> None:
    embedder = CountingEmbedder()
    subject = gateway(embedder)
    await subject.embed(["alpha"])
    result = await subject.embed(["alpha"], use_cache=False)
    assert result.cache_status == "miss"
    assert len(embedder.batches) == 2


async def test_a_new_model_version_misses_the_old_entries() -> None:
    memory = MemoryCache(2**20)
    await gateway(CountingEmbedder(version="1"), memory=memory).embed(["alpha"])
    upgraded = CountingEmbedder(version="2")
    result = await gateway(upgraded, memory=memory).embed(["alpha"])
    assert result.cache_status == "miss"
    assert upgraded.batches == [["alpha"]]


async def test_errors_are_never_cached() -> None:
    embedder = CountingEmbedder()
    embedder.fail = lambda texts: ApiError(503, "down", retry_after=5)
    subject = gateway(embedder)
    with pytest.raises(ApiError):
        await subject.embed(["alpha"])
    embedder.fail = None
    assert (await subject.embed(["alpha"])).cache_status == "miss"
    assert subject.memory.get_many([cache_key((await embedder.describe()).identity, "alpha")])


async def test_a_refused_input_is_named_by_its_index_in_the_request() -> None:
    embedder = CountingEmbedder()
    embedder.fail = lambda texts: (
        InputsRefused("too long", [texts.index("x y z")]) if "x y z" in texts else None
    )
    with pytest.raises(ApiError) as refused:
        await gateway(embedder).embed(["fine", "also fine", "x y z"])
    assert refused.value.status == 400
    assert refused.value.message == "input[2]: too long"


async def test_dimensions_shorten_and_renormalise_only_when_the_model_allows_it() -> None:
    texts = [" ".join(f"word{i}" for i in range(40)), "epsilon zeta eta theta iota kappa lambda"]
    plain = gateway()
    assert (await plain.embed(texts, dimensions=DIMENSIONS)).vectors.shape == (2, DIMENSIONS)
    for dimensions, words in [(8, "does not support"), (DIMENSIONS + 1, "between 1 and")]:
        with pytest.raises(ApiError) as refused:
            await plain.embed(texts, dimensions=dimensions)
        assert refused.value.param == "dimensions" and words in refused.value.message
    result = await gateway(truncatable=True).embed(texts, dimensions=48)
    assert result.vectors.shape == (2, 48)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1, atol=1e-6)
    prefix = bag_of_words(texts)[:, :48]
    expected = prefix / np.linalg.norm(prefix, axis=1, keepdims=True)
    assert np.allclose(result.vectors, expected, atol=1e-6)


async def test_an_unknown_alias_is_openais_404() -> None:
    with pytest.raises(ApiError) as refused:
        gateway(aliases=["embed-01", "text-embedding-3-small"]).check_model("ada")
    assert refused.value.status == 404
    assert refused.value.code == "model_not_found"
    assert "embed-01, text-embedding-3-small" in refused.value.message


def test_the_memory_cache_stays_under_its_byte_bound() -> None:
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    entry_size = vector.nbytes + 64
    memory = MemoryCache(entry_size * 3)
    memory.put_many({bytes([i]): CachedVector(vector.copy(), 1) for i in range(10)})
    assert memory.size_bytes <= entry_size * 3
    assert set(memory.get_many([bytes([i]) for i in range(10)])) == {
        bytes([7]),
        bytes([8]),
        bytes([9]),
    }
    assert MemoryCache(0).get_many([b"x"]) == {}
