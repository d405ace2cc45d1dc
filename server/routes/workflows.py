"""LangServe routes for every registered workflow, at `/workflows/{name}`."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langserve import add_routes

from graphs import REGISTRY
from server.auth.identity import ANONYMOUS, Identity
from server.deps import get_identity, resources_of
from server.errors import run_error_message
from server.guards.runs import RunLimits
from server.run_policy import RunRefused, default_context
from server.runs.records import ThreadBusy
from server.runs.service import NotFound, RunsService
from server.served import (
    CLAIMED_KEY,
    CONTEXT_KEY,
    IDENTITY_KEY,
    NEW_THREAD_KEY,
    ServedWorkflow,
)
from server.served_body import RunBodyCheck
from server.settings import Settings


def mount_workflows(app: FastAPI, settings: Settings) -> None:
    """Add `/invoke`, `/batch`, `/stream`, `/stream_events`, schemas and playground per workflow."""
    defaults = default_context(settings)
    for spec in REGISTRY.values():

        def resolve(name: str = spec.name) -> Pregel[Any, Any, Any, Any]:
            return resources_of(app).graphs[name]

        def service() -> RunsService:
            runs = resources_of(app).runs
            assert runs is not None, "the lifespan opens the run service"
            return runs

        add_routes(
            app,
            ServedWorkflow(
                spec=spec,
                resolve=resolve,
                service=service,
                defaults=defaults,
                telemetry=app.state.telemetry,
                limits=RunLimits.from_settings(settings),
            ),
            path=f"/workflows/{spec.name}",
            per_req_config_modifier=partial(assign_run_config, workflow=spec.name),
            dependencies=[
                Depends(get_identity),
                Depends(RunBodyCheck(spec.name, spec.request_type)),
            ],
        )


async def assign_run_config(
    config: dict[str, Any], request: Request, *, workflow: str
) -> RunnableConfig:
    """Give the run a thread and its checked context; refuse settings the caller may not use.

    A caller without `thread_id` starts a new thread (LangGraph refuses to checkpoint
    without one); `tenant` is the caller's identity, whatever the caller sent. The settings
    are checked by the run policy every surface uses; the thread is claimed through the run
    service (404 when another identity owns it; 409 while it has a run).
    """
    configurable = dict(config.get("configurable") or {})
    resources = resources_of(request.app)
    identity: Identity = getattr(request.state, "identity", ANONYMOUS)
    try:
        context = resources.policy.context(configurable, identity, strict=False)
    except RunRefused as refused:
        raise HTTPException(400, str(refused)) from None
    runs = resources.runs
    assert runs is not None, "the lifespan opens the run service"
    if not configurable.get("thread_id"):
        configurable[NEW_THREAD_KEY] = True  # each run (each input of a batch) gets its own
    else:
        thread_id = str(configurable["thread_id"])
        try:  # before a stream begins, so a refusal is a status code, not a stream's error event
            await runs.claim_thread(identity, thread_id, runs.assistant(workflow))
        except NotFound:
            raise HTTPException(404, f"no thread {thread_id!r}") from None
        if request.url.path.rsplit("/", 1)[-1].startswith("stream"):
            if await runs.store.active_runs(thread_id):
                raise HTTPException(409, run_error_message(ThreadBusy(thread_id)))
        configurable[CLAIMED_KEY] = True
    configurable["tenant"] = identity.tenant
    configurable[CONTEXT_KEY] = context
    configurable[IDENTITY_KEY] = identity
    return RunnableConfig(**{**config, "configurable": configurable})  # type: ignore[typeddict-item]
