"""Assemble the FastAPI application."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from server.deps import get_identity
from server.embeddings.factory import open_embedder
from server.errors import AnsweredErrors, add_error_handlers
from server.guards.admission import Guards, LimitKey
from server.guards.body import BodyLimits
from server.guards.clients import ClientAddress, IdentityOrAddress
from server.guards.cors import add_cors
from server.guards.streams import ReleaseAfterResponse
from server.guards.text import StorableText
from server.lifespan import EmbedderOpener, ModelOpener, make_lifespan
from server.models.factory import open_models
from server.observability.metrics import Metrics
from server.observability.requests import RequestObserver
from server.observability.runs import RunTelemetry
from server.observability.tracing import configure_langsmith, open_tracer_provider
from server.projects.http import load_http_app, mount_http_app, with_app_lifespan
from server.projects.setup import open_project
from server.projects.workflows import workflow_registry
from server.routes import (
    a2a,
    agui,
    assistants,
    chat,
    crons,
    docs,
    embeddings,
    health,
    home,
    mcp,
    orchestrate,
    runs,
    store,
    thread_protocol,
    threads,
)
from server.routes import metrics as metrics_route
from server.routes.workflows import mount_workflows
from server.served_errors import StreamErrors
from server.settings import Settings, load_settings

VERSION = "0.1.0"


def create_app(
    settings: Settings | None = None,
    *,
    models: ModelOpener = open_models,
    embedder: EmbedderOpener = open_embedder,
    metrics: Metrics | None = None,
    limit_key: LimitKey | None = None,
) -> FastAPI:
    """Build the app; the lifespan opens the checkpointer, Qdrant and models.

    `models` opens the chat models and `embedder` the embedding provider; tests pass fakes.
    `metrics` holds the Prometheus registry (a fresh one per app unless given).
    `limit_key` says whom a request counts against for rate limits and stream caps
    (default: its authenticated identity, else its client address, `X-Forwarded-For`
    believed only from `ORCA_TRUSTED_PROXIES`).
    """
    settings = settings or load_settings()
    # A project's env is loaded and its graphs imported here, before any route exists:
    # every surface mounts what the registry holds (ProjectError: one line to fix).
    settings, project = open_project(settings)
    workflows = workflow_registry(
        builtins=settings.builtin_workflows, extra_graphs=settings.graphs, project=project
    )
    custom_app = load_http_app(project) if project and project.http_app else None
    lifespan = make_lifespan(settings, models, embedder)
    if custom_app is not None:
        lifespan = with_app_lifespan(lifespan, custom_app)
    address = ClientAddress(settings.trusted_proxies)
    guards = Guards(settings, limit_key or IdentityOrAddress(get_identity, address))
    app = FastAPI(
        title="Citadel Orca",
        version=VERSION,
        description=(
            "LangGraph workflows over LangServe, with checkpointed threads, and an "
            "OpenAI-compatible embeddings gateway."
        ),
        lifespan=guards.around(lifespan),
        dependencies=[Depends(guards.admit)],
        # FastAPI's own /docs and /redoc load their scripts from a CDN; `docs.router` serves
        # the same pages with every asset from this app (issue 13).
        docs_url=None,
        redoc_url=None,
        # Orca's own spans (ORCA_OTEL_ENDPOINT) and Prometheus metrics observe requests;
        # FastAPI's native OpenTelemetry would add a second span per request whenever a
        # global provider is set, and checks for one on every request (about 2% of a
        # /v1/embeddings request) even when none is.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.workflows = workflows
    app.state.metrics = metrics or Metrics(version=VERSION)
    app.state.telemetry = RunTelemetry(app.state.metrics, enabled=settings.metrics_enabled)
    configure_langsmith(settings)
    app.state.tracer_provider = open_tracer_provider(settings)
    tracer = (
        app.state.tracer_provider.get_tracer("citadel-orca") if app.state.tracer_provider else None
    )
    # Innermost: gives back the stream slots `guards.admit` took, once each response ends.
    app.add_middleware(ReleaseAfterResponse)
    # Inside the size limit, so the body it reads is bounded: text the database cannot store
    # (U+0000, lone surrogates) is refused on every route before a surface reads it.
    app.add_middleware(StorableText)
    # Inside the request observer, so a 413 or 408 is counted and carries its request id.
    app.add_middleware(
        BodyLimits,
        limit=settings.max_body_bytes,
        openai_limit=settings.embedding_max_body_bytes,
        timeout_s=settings.body_timeout_s,
    )
    # Inside `AnsweredErrors`: a LangServe stream that fails because a dependency is down
    # ends here, its error event naming it, instead of going on up as a cut connection.
    app.add_middleware(StreamErrors)
    # Inside the request observer, so the 500 it answers is counted and carries the id.
    app.add_middleware(AnsweredErrors)
    if settings.metrics_enabled or tracer is not None:
        app.add_middleware(
            RequestObserver,
            metrics=app.state.metrics,
            tracer=tracer,
            enabled=settings.metrics_enabled,
        )
    # Routes are matched in order: the busiest first (POST /v1/embeddings served directly,
    # ahead of its documented route; /v1/embeddings' three, then the runs API's fourteen); no
    # other route added earlier matches another's paths (tests/unit/server/test_app_routes.py).
    app.router.routes.insert(0, embeddings.direct_route(guards, app.router.dependencies))
    app.include_router(embeddings.router)
    app.include_router(runs.router)
    app.include_router(home.router)
    app.include_router(chat.router)
    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(metrics_route.router)
    app.include_router(agui.router)
    app.include_router(assistants.router)
    app.include_router(threads.router)
    app.include_router(thread_protocol.router)
    app.include_router(crons.router)
    app.include_router(store.router)
    app.include_router(orchestrate.router)
    app.include_router(mcp.router)
    app.include_router(a2a.router)
    mount_workflows(app, settings)
    if custom_app is not None:  # answers what no route of Orca's does, wherever added
        mount_http_app(app, custom_app)
    add_error_handlers(app)
    add_cors(app, settings)  # outermost, so refusals (413, 429) carry CORS headers too
    app.state.guards = guards
    return app
