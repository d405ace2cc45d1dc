"""Put the lifespan's upstream clients behind their guards."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from server.embeddings.provider import Embedder
from server.health_checks import model_probe_url
from server.observability.metrics import Metrics
from server.resilience.chat import guard_chat_models
from server.resilience.embeddings import GuardedEmbedder
from server.resilience.upstreams import (
    EMBEDDINGS,
    EMBEDDINGS_FALLBACK,
    LLM_UPSTREAMS,
    QDRANT,
    Upstreams,
)
from server.settings import Settings


async def open_upstreams(settings: Settings, metrics: Metrics | None = None) -> Upstreams:
    """Return a guard (closed circuit, bulkhead) for every upstream the settings name.

    The bulkheads are separate, so a flood of embedding calls can take every embedding
    slot and still leave each chat server and Qdrant theirs; health checks take none.
    """
    upstreams = Upstreams.from_settings(settings, metrics)
    for alias in LLM_UPSTREAMS:
        await upstreams.add(alias, max_concurrency=settings.chat_max_concurrency)
    await upstreams.add(EMBEDDINGS, max_concurrency=settings.embedding_max_inflight)
    if settings.embedding_fallback_provider is not None:
        await upstreams.add(EMBEDDINGS_FALLBACK, max_concurrency=settings.embedding_max_inflight)
    await upstreams.add(QDRANT, max_concurrency=settings.qdrant_max_concurrency)
    return upstreams


def guard_chat(chat: dict[str, BaseChatModel], upstreams: Upstreams) -> dict[str, BaseChatModel]:
    """Guard the models that call a server; in-process ones (the local SmolLM2) stay as they are."""
    return guard_chat_models(
        chat, lambda alias: upstreams.get(alias) if model_probe_url(chat[alias]) else None
    )


def guard_embedder(embedder: Embedder, upstreams: Upstreams) -> Embedder:
    """Guard the embedding provider."""
    return GuardedEmbedder(embedder, upstreams[EMBEDDINGS])


def guard_fallback(embedder: Embedder | None, upstreams: Upstreams) -> Embedder | None:
    """Guard the fallback embedding provider, if there is one."""
    return GuardedEmbedder(embedder, upstreams[EMBEDDINGS_FALLBACK]) if embedder else None
