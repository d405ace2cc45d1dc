"""Open the long-term memory store for the lifespan: items in SQL, vectors in Qdrant.

PostgreSQL configured (the checkpointer's pool): LangGraph's `AsyncPostgresStore`, its
tables (`store`, `store_migrations`) made by its own `setup()` under an advisory lock, so
processes starting together do not race. Embedded default: LangGraph's `AsyncSqliteStore`
in `$ORCA_DATA_DIR/store.sqlite`, a file of its own (its connection runs its own
transactions, which must not interleave with `orca.sqlite`'s shared connection). With
`ORCA_STORE_INDEX`, item vectors go to Qdrant through the service's Qdrant client (local
mode admits one client per folder) and embedding gateway.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
from langgraph.store.base import BaseStore, TTLConfig
from langgraph.store.postgres import AsyncPostgresStore
from langgraph.store.sqlite import AsyncSqliteStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from qdrant_client import AsyncQdrantClient

from checkpoints import CheckpointStore
from checkpoints.locks import advisory_lock
from server.auth.identity import Identity
from server.embeddings.gateway import EmbeddingGateway
from server.settings import Settings
from server.store.authorized import AuthorizedStore
from server.store.config import StoreIndex, StoreTTL
from server.store.expiry import ExpirySweeper
from server.store.indexed import IndexedStore
from server.store.runs import RunStore
from server.store.scoped import ScopedStore
from server.store.vectors import VectorIndex
from tools.knowledge_base import CallGuard

log = logging.getLogger("orca")

SETUP_LOCK = 0x0C1A_0006
"""`pg_advisory_lock` key held while LangGraph's store tables are created or migrated."""


class StoreConfigError(ValueError):
    """`ORCA_STORE_INDEX` names a model or size this service cannot embed with."""


@dataclass
class MemoryStore:
    """The store of every identity: views for the HTTP API, and the graphs' store."""

    items: IndexedStore
    ttl: TTLConfig
    max_value_bytes: int
    index: StoreIndex | None = None
    graphs: RunStore = field(init=False)
    """The `store` every served graph is compiled with (`runtime.store`)."""

    def __post_init__(self) -> None:
        self.graphs = RunStore(self.view, self.ttl)

    def view(self, owner: str) -> ScopedStore:
        """Return `owner`'s namespaces (an identity id)."""
        return ScopedStore(self.items, owner, ttl=self.ttl, max_value_bytes=self.max_value_bytes)

    def api_view(self, identity: Identity) -> BaseStore:
        """Return the store API's view for a caller: its own, under its project's store rules."""
        own = self.view(identity.id)
        return own if identity.user is None else AuthorizedStore(own, identity)


def ttl_config(ttl: StoreTTL) -> TTLConfig:
    """Return LangGraph's TTL config (given even without a default, so reads refresh).

    `omit_expired`: PostgreSQL's reads skip expired rows before the sweeper deletes them.
    """
    return TTLConfig(
        omit_expired=True,
        default_ttl=ttl.default_ttl,
        refresh_on_read=ttl.refresh_on_read,
        sweep_interval_minutes=ttl.sweep_interval_minutes,
    )


def collection_name(index: StoreIndex) -> str:
    """Return the Qdrant collection of an index (one per model and size)."""
    model = re.sub(r"[^A-Za-z0-9_-]+", "-", index.model_name()).strip("-") or "model"
    return f"orca.store.{model}.{index.dims}"


async def check_index(index: StoreIndex, gateway: EmbeddingGateway, model: str) -> int | None:
    """Return the `dimensions` to ask the gateway for (None: native size).

    Raises:
        StoreConfigError: when `embed` is not this service's model, or `dims` does not fit it.
    """
    name = index.model_name()
    if name not in gateway.aliases and name != model:
        raise StoreConfigError(
            f"ORCA_STORE_INDEX: embed {index.embed!r} is not this service's embedding model; "
            f"use one of {[*gateway.aliases, model]} (optionally as 'provider:name')"
        )
    native = (await gateway.describe()).dimensions
    if index.dims == native:
        return None
    if index.dims < native and gateway.truncatable:
        return index.dims
    raise StoreConfigError(
        f"ORCA_STORE_INDEX: dims {index.dims} does not fit the model, which gives "
        f"{native}-d vectors" + ("" if gateway.truncatable else " and cannot be truncated")
    )


@asynccontextmanager
async def open_memory_store(
    settings: Settings,
    *,
    checkpoints: CheckpointStore,
    qdrant: AsyncQdrantClient,
    gateway: EmbeddingGateway,
    guard: CallGuard,
) -> AsyncIterator[MemoryStore]:
    """Yield the memory store over the run store's backend; stop its sweeper on exit."""
    ttl = ttl_config(settings.store_ttl)
    async with AsyncExitStack() as stack:
        items: AsyncPostgresStore | AsyncSqliteStore
        if checkpoints.kind == "postgres":
            await _setup_postgres(str(settings.postgres_url))
            items = AsyncPostgresStore(checkpoints.pool, ttl=ttl)
        else:
            items = AsyncSqliteStore(
                await stack.enter_async_context(_sqlite(settings.data_dir / "store.sqlite")),
                ttl=ttl,
            )
            await items.setup()
        index = await _open_index(settings, qdrant, gateway, guard)
        await items.start_ttl_sweeper()
        stack.push_async_callback(items.stop_ttl_sweeper, 5.0)
        yield MemoryStore(
            IndexedStore(
                items,
                index,
                expiry=ExpirySweeper(items) if isinstance(items, AsyncSqliteStore) else None,
            ),
            ttl=ttl,
            max_value_bytes=settings.store_max_value_bytes,
            index=settings.store_index,
        )


async def _open_index(
    settings: Settings, qdrant: AsyncQdrantClient, gateway: EmbeddingGateway, guard: CallGuard
) -> VectorIndex | None:
    config: StoreIndex | None = settings.store_index
    if config is None:
        return None
    dimensions = await check_index(config, gateway, settings.embedding_model)

    async def embed(texts: list[str]) -> list[list[float]]:
        result = await gateway.embed(texts, dimensions=dimensions)
        return result.vectors.tolist()  # type: ignore[no-any-return]

    index = VectorIndex(
        qdrant,
        collection_name(config),
        embed,
        dims=config.dims,
        fields=config.fields,
        guard=guard,
        index_payload=settings.qdrant_url is not None,
    )
    await index.setup()
    return index


async def _setup_postgres(url: str) -> None:
    """Create or migrate LangGraph's store tables, one process at a time."""
    async with await AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row, prepare_threshold=None
    ) as connection:
        # Polled, not waited for: see checkpoints/locks.py (a deadlock with two processes).
        async with advisory_lock(connection, SETUP_LOCK):
            await AsyncPostgresStore(connection).setup()


@asynccontextmanager
async def _sqlite(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path, isolation_level=None) as connection:
        # WAL: reads do not wait for a write; NORMAL: a commit survives the process dying.
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        yield connection
