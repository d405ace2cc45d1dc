"""The store's semantic index: one vector per indexed text of an item, in Qdrant.

Items themselves live in PostgreSQL or SQLite; Qdrant holds only their vectors, keyed by
namespace and key. A point's id is derived from (namespace, key, text number), so writing
an item again overwrites its points, and the ones a shorter new value no longer has are
deleted by id. The collection's name has a '.', which no collection named by an ingest
caller can have (`ORCA_COLLECTION`'s pattern), so documents and memories never mix.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import get_text_at_path
from qdrant_client import AsyncQdrantClient, models

from tools.knowledge_base import CallGuard

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
"""Embed texts through the service's embedding gateway; row i is `texts[i]`'s vector."""

MAX_TEXTS_PER_ITEM = 64
"""Vectors one item may have (its fields' texts beyond it are not indexed)."""
POINT_NAMESPACE = uuid.UUID("0b6f3f4e-2f0e-4a51-9d0e-7a1c5e2b9d41")


def namespace_text(namespace: Sequence[str]) -> str:
    """Return a namespace as LangGraph writes it: its labels joined by '.'."""
    return ".".join(namespace)


def point_ids(namespace: Sequence[str], key: str, numbers: range) -> list[str]:
    """Return the ids of an item's points `numbers`."""
    base = f"{namespace_text(namespace)}\x1f{key}\x1f"
    return [str(uuid.uuid5(POINT_NAMESPACE, f"{base}{n}")) for n in numbers]


def texts_of(value: Mapping[str, Any], fields: Sequence[str]) -> list[str]:
    """Return the texts to embed of a value, for the given JSON paths (`$`: all of it)."""
    found: list[str] = []
    for path in fields:
        found.extend(get_text_at_path(dict(value), path))
    return [text for text in found if text.strip()][:MAX_TEXTS_PER_ITEM]


@dataclass(frozen=True)
class Hit:
    """An item's best-scoring vector for a query."""

    namespace: tuple[str, ...]
    key: str
    score: float


class VectorIndex:
    """Item vectors in one Qdrant collection, searched within a namespace prefix."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str,
        embed: Embed,
        *,
        dims: int,
        fields: Sequence[str],
        guard: CallGuard,
        index_payload: bool,
    ) -> None:
        """Wrap the service's client; `index_payload=False` in local mode (no payload indexes)."""
        self.client = client
        self.collection = collection
        self.embed = embed
        self.dims = dims
        self.fields = tuple(fields)
        self.guard = guard
        self.index_payload = index_payload

    async def setup(self) -> None:
        """Create the collection, or check an existing one holds vectors of this size.

        Raises:
            ValueError: when it holds vectors of another size.
        """
        await self.guard.call(self._setup)

    async def _setup(self) -> None:
        if await self.client.collection_exists(self.collection):
            info = await self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            size = vectors.size if isinstance(vectors, models.VectorParams) else None
            if size is not None and size != self.dims:
                raise ValueError(
                    f"store collection {self.collection!r} holds {size}-d vectors, not {self.dims}"
                )
            return
        await self.client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(size=self.dims, distance=models.Distance.COSINE),
        )
        if self.index_payload:
            await self.client.create_payload_index(
                self.collection, "prefixes", models.PayloadSchemaType.KEYWORD
            )

    async def write(
        self, items: Sequence[tuple[tuple[str, ...], str, Mapping[str, Any], Sequence[str] | None]]
    ) -> None:
        """Index `(namespace, key, value, fields)` items (`fields=None`: the index's own).

        Embeds every text in one gateway call first, so a failed embedding writes nothing.
        """
        texts: list[str] = []
        spans: list[tuple[tuple[str, ...], str, int, int]] = []
        for namespace, key, value, fields in items:
            found = texts_of(value, fields if fields is not None else self.fields)
            spans.append((namespace, key, len(texts), len(found)))
            texts.extend(found)
        vectors = await self.embed(texts) if texts else []
        points: list[models.PointStruct] = []
        stale: list[str] = []
        for namespace, key, start, count in spans:
            labels = list(namespace)
            payload = {
                "namespace": labels,
                "key": key,
                "prefixes": [namespace_text(labels[: n + 1]) for n in range(len(labels))],
            }
            ids = point_ids(namespace, key, range(count))
            for n, point in enumerate(ids):
                vector = vectors[start + n]
                points.append(models.PointStruct(id=point, vector=vector, payload=payload))
            stale.extend(point_ids(namespace, key, range(count, MAX_TEXTS_PER_ITEM)))
        await self.guard.call(lambda: self._write(points, stale))

    async def _write(self, points: list[models.PointStruct], stale: list[str]) -> None:
        if points:
            await self.client.upsert(self.collection, points=points, wait=True)
        if stale:
            await self._delete(stale)

    async def remove(self, items: Sequence[tuple[tuple[str, ...], str]]) -> None:
        """Delete the vectors of `(namespace, key)` items."""
        ids = [
            point
            for namespace, key in items
            for point in point_ids(namespace, key, range(MAX_TEXTS_PER_ITEM))
        ]
        if ids:
            await self.guard.call(lambda: self._delete(ids))

    async def _delete(self, ids: list[str]) -> None:
        selector = models.PointIdsList(points=list(ids))
        await self.client.delete(self.collection, points_selector=selector, wait=True)

    async def nearest(
        self, vector: Sequence[float], prefix: tuple[str, ...], limit: int
    ) -> tuple[list[Hit], bool]:
        """Return the best-scoring items under `prefix`, best first, one hit per item.

        The flag says whether Qdrant had more points than it returned (`limit` reached).
        """
        query_filter = (
            models.Filter(
                must=[
                    models.FieldCondition(
                        key="prefixes", match=models.MatchValue(value=namespace_text(prefix))
                    )
                ]
            )
            if prefix
            else None
        )

        async def query() -> models.QueryResponse:
            return await self.client.query_points(
                self.collection,
                query=list(vector),
                query_filter=query_filter,
                limit=limit,
                with_payload=["namespace", "key"],
            )

        response = await self.guard.call(query)
        hits: dict[tuple[tuple[str, ...], str], Hit] = {}
        for point in response.points:
            payload = point.payload or {}
            item = (tuple(payload.get("namespace") or ()), str(payload.get("key")))
            if item not in hits:  # points come best first: an item's first is its best
                hits[item] = Hit(item[0], item[1], float(point.score))
        return list(hits.values()), len(response.points) >= limit
