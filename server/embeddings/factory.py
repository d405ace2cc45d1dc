"""Open the configured embedding provider and the gateway in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from checkpoints.open import prepare_threshold
from server.embeddings.cache import MemoryCache, PostgresCache
from server.embeddings.gateway import BatchLimits, EmbeddingGateway, GatewayObserver
from server.embeddings.provider import Embedder
from server.settings import Settings

L2_POOL_MAX = 4
"""The cache has its own small pool, so a burst of lookups cannot starve the checkpointer."""


@asynccontextmanager
async def open_embedder(settings: Settings) -> AsyncIterator[Embedder]:
    """Yield the provider the settings name, with one pooled client; close it on exit."""
    embedder = await build_embedder(
        settings,
        provider=settings.embedding_provider,
        model=settings.embedding_model,
        url=str(
            settings.ollama_url
            if settings.embedding_provider == "ollama"
            else settings.embedding_url
        ),
        version=settings.embedding_version,
    )
    try:
        yield embedder
    finally:
        await embedder.aclose()


@asynccontextmanager
async def open_fallback_embedder(settings: Settings) -> AsyncIterator[Embedder | None]:
    """Yield the fallback provider the settings name, or None when there is none."""
    if settings.embedding_fallback_provider is None:
        yield None
        return
    embedder = await build_embedder(
        settings,
        provider=settings.embedding_fallback_provider,
        model=settings.embedding_fallback_model or settings.embedding_model,
        url=str(settings.embedding_fallback_url),
        version=settings.embedding_fallback_version,
    )
    try:
        yield embedder
    finally:
        await embedder.aclose()


async def build_embedder(
    settings: Settings, *, provider: str, model: str, url: str, version: str
) -> Embedder:
    """Return one provider with its own pooled client (the caller closes it)."""
    if provider == "local":
        from server.embeddings.local_provider import LocalEmbedder, load_minilm

        return LocalEmbedder(
            await asyncio.to_thread(load_minilm),
            truncate=settings.embedding_truncate,
            max_input_tokens=settings.embedding_max_input_tokens,
        )
    if provider == "ollama":
        import ollama

        from server.embeddings.ollama_provider import OllamaEmbedder

        url = url.rstrip("/")
        return OllamaEmbedder(
            ollama.AsyncClient(host=url, timeout=settings.upstream_timeout_s),
            model,
            url=url,
            timeout_s=settings.upstream_timeout_s,
            truncate=settings.embedding_truncate,
            max_input_tokens=settings.embedding_max_input_tokens,
            max_concurrency=settings.embedding_max_inflight,
        )
    import aiohttp

    from server.embeddings.openai_provider import OpenAIEmbedder

    connector = aiohttp.TCPConnector(limit=settings.embedding_max_inflight * 2)
    return OpenAIEmbedder(
        aiohttp.ClientSession(connector=connector),
        model,
        url=url,
        api_key=settings.llm_api_key.get_secret_value(),
        timeout_s=settings.upstream_timeout_s,
        version=version,
        truncate=settings.embedding_truncate,
        max_input_tokens=settings.embedding_max_input_tokens,
        max_concurrency=settings.embedding_max_inflight,
    )


@asynccontextmanager
async def open_gateway(
    settings: Settings,
    embedder: Embedder,
    observer: GatewayObserver | None = None,
    fallback: Embedder | None = None,
) -> AsyncIterator[EmbeddingGateway]:
    """Yield the gateway with L1, and L2 when PostgreSQL is configured (migrated already)."""
    async with AsyncExitStack() as stack:
        shared = None
        if settings.postgres_url and settings.embedding_cache_postgres:
            from psycopg_pool import AsyncConnectionPool

            pool = AsyncConnectionPool(
                str(settings.postgres_url),
                min_size=1,
                max_size=L2_POOL_MAX,
                kwargs={
                    "autocommit": True,
                    "options": "-c statement_timeout=2000",
                    "prepare_threshold": prepare_threshold(settings.postgres_prepared_statements),
                },
                check=AsyncConnectionPool.check_connection,
                max_lifetime=30 * 60,
                open=False,
            )
            await pool.open(wait=True, timeout=10)
            stack.push_async_callback(pool.close)
            shared = PostgresCache(pool)
        gateway = EmbeddingGateway(
            embedder,
            aliases=[settings.embedding_alias, *settings.embedding_aliases],
            truncatable=settings.embedding_truncatable,
            memory=MemoryCache(settings.embedding_cache_bytes),
            shared=shared,
            limits=BatchLimits(
                max_batch=settings.embedding_batch_size,
                max_concurrency=settings.embedding_max_inflight,
                max_wait_s=settings.embedding_max_wait_ms / 1000,
                max_queue=settings.embedding_max_queue,
                queue_timeout_s=settings.embedding_queue_timeout_s,
            ),
            observer=observer,
            fallback=fallback,
        )
        stack.push_async_callback(gateway.aclose)
        yield gateway
