"""The store's settings in LangGraph's `langgraph.json` shape: `store.index` and `store.ttl`.

`ORCA_STORE_INDEX` and `ORCA_STORE_TTL` hold them as JSON; a `langgraph.json` project sets
the same fields. `embed` names the service's own embedding model, so memories are embedded
by the gateway (its caches, batching and guards) and searched in Qdrant.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from server.store.rules import MAX_TTL_MINUTES, MIN_TTL_MINUTES

EMBED_PROVIDERS = ("openai", "ollama", "local", "huggingface", "fake")
"""Provider prefixes `embed` may carry (`openai:text-embedding-3-small`): the model after
the colon must still be the one this service serves."""


def _json_object(value: Any) -> Any:
    """Read a JSON string (as given in an `ORCA_*` variable or a settings argument)."""
    return json.loads(value) if isinstance(value, str) else value


class StoreIndex(BaseModel):
    """Semantic search over the store's items (LangGraph's `IndexConfig`, without pgvector)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dims: int = Field(ge=1, le=65536)
    """Vector size: the model's native size, or fewer if the model is truncatable."""
    embed: str = Field(min_length=1)
    """The embedding model: an alias of `/v1/embeddings` (`embed-01`), the provider's model
    name, or either after a provider prefix (`ollama:nomic-embed-text`)."""
    fields: tuple[str, ...] = ("$",)
    """JSON paths of the text to embed in each value (`$`: the whole value), e.g.
    `["text", "notes[*].body"]`; one vector per text found."""
    distance_type: str | None = None
    """Accepted from a `langgraph.json` written for pgvector, and ignored: Qdrant scores
    by cosine similarity."""
    ann_index_config: dict[str, Any] | None = None
    """Accepted from a `langgraph.json` written for pgvector, and ignored."""

    _from_json = model_validator(mode="before")(_json_object)

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not path.strip() for path in value):
            raise ValueError("fields must be non-empty JSON paths, e.g. ['$'] or ['text']")
        return value

    def model_name(self) -> str:
        """Return `embed` without its provider prefix."""
        provider, colon, model = self.embed.partition(":")
        return model if colon and provider in EMBED_PROVIDERS else self.embed


class StoreTTL(BaseModel):
    """Item expiry (LangGraph's `TTLConfig`): per-item `ttl` minutes, a default, a sweeper."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_ttl: float | None = Field(
        default=None, ge=MIN_TTL_MINUTES, le=MAX_TTL_MINUTES, strict=True
    )
    """Minutes an item lives when its `put` names no `ttl`; unset: forever. The bounds of a
    put's `ttl` (`check_ttl`): a shorter default would make every such put a refusal."""
    refresh_on_read: bool = True
    """Reading an item (get, search) restarts its TTL, unless the read says `refresh_ttl`."""
    sweep_interval_minutes: int = Field(default=5, ge=1)
    """How often expired items are deleted (they are invisible from the moment they expire)."""

    _from_json = model_validator(mode="before")(_json_object)

    def __str__(self) -> str:
        """Return the JSON `ORCA_STORE_TTL` takes (the configuration reference shows it)."""
        return self.model_dump_json()
