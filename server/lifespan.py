"""Open the process's resources at start and close them at shutdown."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from langgraph.graph.state import CompiledStateGraph
from psycopg import AsyncConnection
from qdrant_client import AsyncQdrantClient

from checkpoints import CheckpointStore, open_checkpointer
from checkpoints.open import PoolLimits
from graphs import WorkflowSpec, build_all
from graphs.deps import GraphDeps
from nodes.catalog import ModelCatalog
from server.auth.db import Database
from server.auth.langgraph_auth import AuthPathError
from server.auth.setup import AuthServices, build_auth, open_database
from server.crons.setup import open_crons
from server.doors.mcp_server import open_mcp
from server.embeddings.chunk_budget import chunk_budget
from server.embeddings.factory import open_fallback_embedder, open_gateway
from server.embeddings.gateway import EmbeddingGateway
from server.embeddings.langchain import GatewayEmbeddings
from server.embeddings.provider import Embedder
from server.migrations import migrate
from server.observability.metrics import Metrics
from server.observability.wiring import EmbeddingMetrics, label_chat_models, watch_resources
from server.projects.workflows import workflows_of
from server.resilience.upstreams import QDRANT, Upstreams
from server.resilience.wiring import guard_chat, guard_embedder, guard_fallback, open_upstreams
from server.resources import Resources
from server.run_policy import RunPolicy, default_context
from server.runs.service import RunsService
from server.runs.setup import open_runs
from server.settings import Settings
from server.store.open import open_memory_store
from server.store.runs import give_store
from tools.knowledge_base import KnowledgeBase
from tools.qdrant import open_qdrant

log = logging.getLogger("orca")

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}

Graphs = dict[str, CompiledStateGraph[Any, Any, Any, Any]]

ModelOpener = Callable[[Settings], AbstractAsyncContextManager[ModelCatalog]]
"""Opens the chat models; the lifespan adds the embedding aliases to the catalog."""
EmbedderOpener = Callable[[Settings], AbstractAsyncContextManager[Embedder]]


def run_policy(
    settings: Settings, models: ModelCatalog, registry: dict[str, WorkflowSpec]
) -> RunPolicy:
    """Return what callers may set and send for a run, over the defaults, models, workflows."""
    return RunPolicy(
        defaults=default_context(settings),
        chat_models=tuple(models.chat),
        embedding_models=tuple(models.embeddings),
        ingest_roots=tuple(settings.ingest_roots),
        input_types={
            name: spec.run_input_type for name, spec in registry.items() if spec.run_input_type
        },
    )


def make_lifespan(
    settings: Settings, open_models: ModelOpener, open_embedder: EmbedderOpener
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Return the lifespan for `create_app`, with the model openers injected (tests pass fakes)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        metrics: Metrics = app.state.metrics
        # The steps, in this order; the exit stack closes what they opened in reverse:
        # 1. stores: the checkpointer (then the service's own migrations) → Qdrant;
        # 2. the upstream guards, then the service database and auth over the checkpointer
        #    (the project's own `Auth` of ORCA_AUTH_PATH is imported here);
        # 3. models: embedding provider → its fallback → embedding gateway → chat models;
        # 4. the memory store (its TTL sweeper) over the stores and the gateway, then the
        #    graphs, built over all of them, each given the store;
        # 5. runs: the workers start last and, at shutdown, drain first, before the graphs'
        #    clients close; then crons: their scheduler, over the runs (stopped before the
        #    workers drain, so no firing starts a run they would have to abandon);
        # 6. doors: the MCP session manager's task group, over the runs (closed first: its
        #    requests stop, the runs they started finish in the draining workers).
        async with AsyncExitStack() as stack:
            checkpoints, qdrant = await open_stores(stack, settings)
            # Every call to a chat, embedding or Qdrant server goes through its guard:
            # one retry loop, a circuit breaker and a bulkhead per upstream.
            upstreams = await open_upstreams(settings, metrics)
            database, auth = await open_auth(stack, settings, checkpoints)
            models, gateway = await open_catalog(
                stack, settings, upstreams, metrics, open_models, open_embedder
            )
            knowledge_base = KnowledgeBase(
                qdrant, index_payload=settings.qdrant_url is not None, guard=upstreams[QDRANT]
            )
            memory = await stack.enter_async_context(
                open_memory_store(
                    settings,
                    checkpoints=checkpoints,
                    qdrant=qdrant,
                    gateway=gateway,
                    guard=upstreams[QDRANT],
                )
            )
            graphs = build_graphs(
                settings, models, knowledge_base, checkpoints, registry=workflows_of(app)
            )
            give_store(graphs, memory.graphs)
            policy = run_policy(settings, models, workflows_of(app))
            runs = await open_run_workers(
                stack, app, settings, checkpoints, database, graphs, policy, metrics
            )
            app.state.crons = await stack.enter_async_context(
                open_crons(settings, runs=runs, checkpoints=checkpoints, database=database)
            )
            app.state.mcp = await stack.enter_async_context(open_mcp(app.version))
            app.state.resources = Resources(
                settings=settings,
                checkpoints=checkpoints,
                qdrant=qdrant,
                knowledge_base=knowledge_base,
                models=models,
                embeddings=gateway,
                auth=auth,
                policy=policy,
                graphs=graphs,
                upstreams=upstreams,
                runs=runs,
                store=memory,
            )
            watch_resources(
                metrics,
                gateway=gateway,
                checkpoint_pool=checkpoints.pool,
                graphs=graphs,
                providers=models.providers,
            )
            log.info(
                "ready in %.1fs: checkpoints=%s qdrant=%s models=%s",
                time.perf_counter() - started,
                checkpoints.kind,
                settings.qdrant_url or settings.qdrant_path,
                models.providers,
            )
            # Everything loaded so far (libraries, models, graphs) lives as long as the
            # process: move it out of the collector's sight, so full collections walk only
            # what requests create (p99 at 32 concurrent requests: ~200 ms before, see
            # evals/bench_embeddings.py).
            gc.collect()
            gc.freeze()
            yield
            del app.state.resources

    return lifespan


async def open_stores(
    stack: AsyncExitStack, settings: Settings
) -> tuple[CheckpointStore, AsyncQdrantClient]:
    """Open the checkpointer and Qdrant, and migrate the service's own PostgreSQL tables."""
    checkpoints = await stack.enter_async_context(
        open_checkpointer(
            postgres_url=str(settings.postgres_url) if settings.postgres_url else None,
            sqlite_path=settings.sqlite_path,
            allowed_types=settings.checkpoint_allowed_types,
            limits=PoolLimits(
                max_size=settings.postgres_pool_max,
                timeout_s=settings.postgres_pool_timeout_s,
                max_waiting=settings.postgres_pool_max_waiting,
                prepared_statements=settings.postgres_prepared_statements,
            ),
        )
    )
    qdrant = await stack.enter_async_context(
        open_qdrant(
            url=str(settings.qdrant_url) if settings.qdrant_url else None,
            api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            path=settings.qdrant_path,
        )
    )
    if settings.postgres_url:
        async with await AsyncConnection.connect(
            str(settings.postgres_url), autocommit=True
        ) as connection:
            await migrate(connection)
    return checkpoints, qdrant


async def open_auth(
    stack: AsyncExitStack, settings: Settings, checkpoints: CheckpointStore
) -> tuple[Database, AuthServices]:
    """Open the service database (on the checkpointer's pool, when it has one) and its auth."""
    database = await stack.enter_async_context(open_database(settings, checkpoints.pool))
    try:  # the project's auth (ORCA_AUTH_PATH), imported once, here
        auth = build_auth(settings, database)
    except AuthPathError as error:
        log.error("cannot start: %s", error)
        raise
    if settings.auth_path:
        log.info(
            "auth: ORCA_AUTH_PATH=%s decides who calls (not ORCA_AUTH_MODE)", settings.auth_path
        )
    elif settings.auth_mode == "none" and settings.host not in LOOPBACK_HOSTS:
        log.warning(
            "ORCA_AUTH_MODE=none on %s: anyone who can reach this port can use every "
            "thread and document; set ORCA_AUTH_MODE=api_key or clerk",
            settings.host,
        )
    return database, auth


async def open_catalog(
    stack: AsyncExitStack,
    settings: Settings,
    upstreams: Upstreams,
    metrics: Metrics,
    open_models: ModelOpener,
    open_embedder: EmbedderOpener,
) -> tuple[ModelCatalog, EmbeddingGateway]:
    """Open the embedding providers, the gateway over them and the chat models, all guarded."""
    embedder = guard_embedder(await stack.enter_async_context(open_embedder(settings)), upstreams)
    fallback = guard_fallback(
        await stack.enter_async_context(open_fallback_embedder(settings)), upstreams
    )
    gateway = await stack.enter_async_context(
        open_gateway(
            settings,
            embedder,
            EmbeddingMetrics(metrics, settings.embedding_alias)
            if settings.metrics_enabled
            else None,
            fallback=fallback,
        )
    )
    chat = await stack.enter_async_context(open_models(settings))
    models = ModelCatalog(
        chat=label_chat_models(guard_chat(chat.chat, upstreams), chat.providers),
        embeddings=dict.fromkeys(gateway.aliases, GatewayEmbeddings(gateway)),
        providers={**chat.providers, **dict.fromkeys(gateway.aliases, embedder.label)},
    )
    return models, gateway


def build_graphs(
    settings: Settings,
    models: ModelCatalog,
    knowledge_base: KnowledgeBase,
    checkpoints: CheckpointStore,
    registry: dict[str, WorkflowSpec] | None = None,
) -> Graphs:
    """Compile every workflow of the app's registry over the models, knowledge base, checkpointer.

    The registry holds the built-ins, `ORCA_GRAPHS` and the project's graphs (default: the
    built-ins only).
    """
    deps = GraphDeps(
        models=models,
        knowledge_base=knowledge_base,
        chunk_budget=chunk_budget(settings),
        embedding_batch_size=settings.embedding_batch_size,
        ingest_roots=tuple(settings.ingest_roots),
    )
    return build_all(deps, checkpoints.saver, registry)


async def open_run_workers(
    stack: AsyncExitStack,
    app: FastAPI,
    settings: Settings,
    checkpoints: CheckpointStore,
    database: Database,
    graphs: Graphs,
    policy: RunPolicy,
    metrics: Metrics,
) -> RunsService:
    """Open the runs API over every workflow of the app's registry, its workers started.

    At shutdown the workers drain before anything opened earlier closes.
    """
    return await stack.enter_async_context(
        open_runs(
            settings,
            checkpoints=checkpoints,
            database=database,
            graphs=graphs,
            descriptions={name: spec.description for name, spec in workflows_of(app).items()},
            policy=policy,
            telemetry=getattr(app.state, "telemetry", None),
            metrics=metrics if settings.metrics_enabled else None,
        )
    )
