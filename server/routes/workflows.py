"""LangServe routes for every registered workflow, at `/workflows/{name}`."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langserve import add_routes

from graphs import REGISTRY
from graphs.context import Context
from server.auth.identity import ANONYMOUS, Identity
from server.auth.ownership import ThreadNotFound
from server.deps import get_identity, resources_of
from server.guards.runs import RunLimits
from server.run_policy import RunRefused
from server.served import CONTEXT_KEY, ServedWorkflow
from server.served_body import RunBodyCheck
from server.settings import Settings

# Until auth lands every caller shares one tenant; the server, never the caller, sets it.
DEFAULT_TENANT = "public"


def mount_workflows(app: FastAPI, settings: Settings) -> None:
    """Add `/invoke`, `/batch`, `/stream`, `/stream_events`, schemas and playground per workflow."""
    defaults = Context(
        embedding_model=settings.embedding_alias,
        collection=settings.collection,
        top_k=settings.top_k,
        tenant=DEFAULT_TENANT,
    )
    for spec in REGISTRY.values():

        def resolve(name: str = spec.name) -> Pregel[Any, Any, Any, Any]:
            return resources_of(app).graphs[name]

        add_routes(
            app,
            ServedWorkflow(
                spec=spec,
                resolve=resolve,
                defaults=defaults,
                telemetry=app.state.telemetry,
                limits=RunLimits.from_settings(settings),
            ),
            path=f"/workflows/{spec.name}",
            per_req_config_modifier=assign_run_config,
            dependencies=[
                Depends(get_identity),
                Depends(RunBodyCheck(spec.name, spec.request_type)),
            ],
        )


async def assign_run_config(config: dict[str, Any], request: Request) -> RunnableConfig:
    """Give the run a thread and its checked context; refuse settings the caller may not use.

    A caller without `thread_id` starts a new thread (LangGraph refuses to checkpoint
    without one); a thread another identity owns is 404; `tenant` is the caller's identity,
    whatever the caller sent. The settings are checked by the run policy every surface uses.
    """
    configurable = dict(config.get("configurable") or {})
    if not configurable.get("thread_id"):
        configurable["thread_id"] = str(uuid.uuid4())
    resources = resources_of(request.app)
    identity: Identity = getattr(request.state, "identity", ANONYMOUS)
    try:
        context = resources.policy.context(configurable, identity, strict=False)
    except RunRefused as refused:
        raise HTTPException(400, str(refused)) from None
    try:
        await resources.auth.owners.claim(str(configurable["thread_id"]), identity)
    except ThreadNotFound:
        raise HTTPException(404, f"no thread {configurable['thread_id']!r}") from None
    configurable["tenant"] = identity.tenant
    configurable[CONTEXT_KEY] = context
    return RunnableConfig(**{**config, "configurable": configurable})  # type: ignore[typeddict-item]
