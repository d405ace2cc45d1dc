"""The store's index and TTL settings, and which models `embed` may name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.embeddings.provider import ModelInfo
from server.settings import Settings
from server.store.config import StoreIndex, StoreTTL
from server.store.open import StoreConfigError, check_index, collection_name


class Gateway:
    """What `check_index` reads of the embedding gateway."""

    def __init__(self, *, truncatable: bool = False) -> None:
        self.aliases = ["embed-01", "text-embedding-3-small"]
        self.truncatable = truncatable

    async def describe(self) -> ModelInfo:
        return ModelInfo("ollama", "nomic-embed-text", "1", 768, truncate=False)


def test_settings_read_langgraph_json_shapes() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        store_index='{"dims": 768, "embed": "ollama:nomic-embed-text", "fields": ["text"]}',
        store_ttl={"default_ttl": 10, "refresh_on_read": False, "sweep_interval_minutes": 2},
    )
    assert settings.store_index == StoreIndex(
        dims=768, embed="ollama:nomic-embed-text", fields=("text",)
    )
    assert settings.store_ttl == StoreTTL(
        default_ttl=10, refresh_on_read=False, sweep_interval_minutes=2
    )
    assert Settings(_env_file=None).store_index is None  # type: ignore[call-arg]


@pytest.mark.parametrize("default_ttl", [1e-7, 0, True, "5", 10**9])
def test_a_default_ttl_a_put_could_not_name_is_refused(default_ttl: object) -> None:
    with pytest.raises(ValidationError, match="default_ttl"):
        StoreTTL.model_validate({"default_ttl": default_ttl})


@pytest.mark.parametrize(
    "index",
    [
        {"dims": 0, "embed": "x"},
        {"dims": 8},
        {"dims": 8, "embed": "x", "fields": []},
        {"dims": 8, "embed": "x", "index_type": "hnsw"},
    ],
)
def test_a_bad_index_is_refused(index: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        StoreIndex.model_validate(index)


@pytest.mark.parametrize(
    "embed",
    ["embed-01", "openai:text-embedding-3-small", "nomic-embed-text", "ollama:nomic-embed-text"],
)
async def test_embed_names_this_services_model(embed: str) -> None:
    index = StoreIndex(dims=768, embed=embed)
    assert await check_index(index, Gateway(), "nomic-embed-text") is None  # type: ignore[arg-type]
    assert collection_name(index).startswith("orca.store.")


async def test_another_model_or_size_is_refused_at_start() -> None:
    with pytest.raises(StoreConfigError, match="not this service's"):
        await check_index(StoreIndex(dims=768, embed="openai:ada"), Gateway(), "m")  # type: ignore[arg-type]
    with pytest.raises(StoreConfigError, match="cannot be truncated"):
        await check_index(StoreIndex(dims=256, embed="embed-01"), Gateway(), "m")  # type: ignore[arg-type]
    truncatable = Gateway(truncatable=True)
    assert await check_index(StoreIndex(dims=256, embed="embed-01"), truncatable, "m") == 256  # type: ignore[arg-type]
    with pytest.raises(StoreConfigError):
        await check_index(StoreIndex(dims=1024, embed="embed-01"), truncatable, "m")  # type: ignore[arg-type]
