"""Assemble the FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from server.embeddings.factory import open_embedder
from server.errors import add_error_handlers
from server.lifespan import EmbedderOpener, ModelOpener, make_lifespan
from server.models.factory import open_models
from server.routes import agui, chat, embeddings, health, home
from server.routes.workflows import mount_workflows
from server.settings import Settings, load_settings


def create_app(
    settings: Settings | None = None,
    *,
    models: ModelOpener = open_models,
    embedder: EmbedderOpener = open_embedder,
) -> FastAPI:
    """Build the app; the lifespan opens the checkpointer, Qdrant and models.

    `models` opens the chat models and `embedder` the embedding provider; tests pass fakes.
    """
    settings = settings or load_settings()
    app = FastAPI(
        title="Citadel Orca",
        version="0.1.0",
        description=(
            "LangGraph workflows over LangServe, with checkpointed threads, and an "
            "OpenAI-compatible embeddings gateway."
        ),
        lifespan=make_lifespan(settings, models, embedder),
    )
    app.state.settings = settings
    app.include_router(home.router)
    app.include_router(chat.router)
    app.include_router(health.router)
    app.include_router(embeddings.router)
    app.include_router(agui.router)
    mount_workflows(app, settings)
    add_error_handlers(app)
    return app
