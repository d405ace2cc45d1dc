"""The Qdrant-backed knowledge base: idempotent chunk upserts and tenant-filtered search."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from qdrant_client import AsyncQdrantClient, models

T = TypeVar("T")

# Point ids are uuid5 in this namespace, so the same chunk of the same source always
# lands on the same point and re-ingesting creates no duplicates.
POINT_NAMESPACE = uuid.UUID("6f1c7a52-8c1e-4f5e-9a55-0e3b5d6f7a10")


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, ready to embed."""

    source: str
    index: int
    text: str

    @property
    def content_hash(self) -> str:
        """Return the SHA-256 of the chunk text."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its similarity score."""

    source: str
    text: str
    score: float


class CallGuard(Protocol):
    """Runs one logical call with retries, a circuit and a bulkhead (`server.resilience`)."""

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Return `fn()`'s result, retried as the upstream's policy allows."""
        ...


class _Unguarded:
    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await fn()


def point_id(tenant: str, chunk: Chunk) -> str:
    """Return the deterministic point id of a chunk for a tenant."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{tenant}\x1f{chunk.source}\x1f{chunk.index}"))


class KnowledgeBase:
    """Chunks and their vectors in Qdrant collections, always scoped to a tenant."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        *,
        index_payload: bool = True,
        guard: CallGuard | None = None,
    ) -> None:
        """Wrap a client; `index_payload=False` for local mode, which ignores payload indexes.

        `guard` runs each method as one logical call (retried whole: every write here is
        idempotent, by point id or by filter). `ping` bypasses it, for health checks.
        """
        self._client = client
        self._index_payload = index_payload
        self._guard: CallGuard = guard or _Unguarded()

    async def ensure_collection(self, name: str, vector_size: int) -> None:
        """Create the collection with cosine distance if it does not exist.

        Raises:
            ValueError: when it exists with another vector size (another embedding model).
        """
        await self._guard.call(lambda: self._ensure_collection(name, vector_size))

    async def _ensure_collection(self, name: str, vector_size: int) -> None:
        if await self._client.collection_exists(name):
            info = await self._client.get_collection(name)
            vectors = info.config.params.vectors
            size = vectors.size if isinstance(vectors, models.VectorParams) else None
            if size is not None and size != vector_size:
                raise ValueError(
                    f"collection {name!r} holds {size}-d vectors but the embedding model "
                    f"gives {vector_size}-d; use another collection"
                )
            return
        await self._client.create_collection(
            name,
            vectors_config=models.VectorParams(size=vector_size, distance=models.Distance.COSINE),
        )
        if self._index_payload:
            for key in ("tenant", "source"):
                await self._client.create_payload_index(name, key, models.PayloadSchemaType.KEYWORD)

    async def upsert(
        self,
        collection: str,
        tenant: str,
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
    ) -> list[str]:
        """Write chunks with their vectors; the same chunk always overwrites its own point."""
        points = [
            models.PointStruct(
                id=point_id(tenant, chunk),
                vector=list(vector),
                payload={
                    "tenant": tenant,
                    "source": chunk.source,
                    "chunk_index": chunk.index,
                    "text": chunk.text,
                    "content_hash": chunk.content_hash,
                },
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        await self._guard.call(lambda: self._client.upsert(collection, points=points, wait=True))
        return [str(point.id) for point in points]

    async def prune_source(self, collection: str, tenant: str, source: str, keep: int) -> None:
        """Delete chunks of `source` past index `keep`, left over from a longer old version."""
        await self._guard.call(lambda: self._delete_from(collection, tenant, source, keep))

    async def _delete_from(self, collection: str, tenant: str, source: str, keep: int) -> None:
        await self._client.delete(
            collection,
            points_selector=models.Filter(
                must=[
                    models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant)),
                    models.FieldCondition(key="source", match=models.MatchValue(value=source)),
                    models.FieldCondition(key="chunk_index", range=models.Range(gte=keep)),
                ]
            ),
            wait=True,
        )

    async def search(
        self, collection: str, tenant: str, vector: Sequence[float], top_k: int
    ) -> list[Passage]:
        """Return the tenant's `top_k` nearest chunks; an absent collection has none."""
        return await self._guard.call(lambda: self._search(collection, tenant, vector, top_k))

    async def _search(
        self, collection: str, tenant: str, vector: Sequence[float], top_k: int
    ) -> list[Passage]:
        if not await self._client.collection_exists(collection):
            return []
        response = await self._client.query_points(
            collection,
            query=list(vector),
            limit=top_k,
            with_payload=True,
            query_filter=models.Filter(
                must=[models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))]
            ),
        )
        return [
            Passage(
                source=str(point.payload["source"]),
                text=str(point.payload["text"]),
                score=float(point.score),
            )
            for point in response.points
            if point.payload is not None
        ]

    async def count(self, collection: str, tenant: str) -> int:
        """Return how many chunks the tenant has in the collection."""
        return await self._guard.call(lambda: self._count(collection, tenant))

    async def _count(self, collection: str, tenant: str) -> int:
        if not await self._client.collection_exists(collection):
            return 0
        result = await self._client.count(
            collection,
            count_filter=models.Filter(
                must=[models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))]
            ),
            exact=True,
        )
        return result.count

    async def ping(self) -> None:
        """Raise if Qdrant cannot answer a trivial request."""
        await self._client.get_collections()
