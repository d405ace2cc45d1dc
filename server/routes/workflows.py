"""LangServe routes for every registered workflow, at `/workflows/{name}`."""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from fastapi import Depends, FastAPI, HTTPException, Request
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langserve import add_routes

from graphs.context import Context
from server.auth.identity import ANONYMOUS, Identity
from server.deps import get_identity, resources_of
from server.errors import run_error_message
from server.guards.runs import RunLimits
from server.projects.workflows import workflows_of
from server.run_policy import RunRefused, default_context
from server.runs.context import with_auth_user
from server.runs.records import ThreadBusy
from server.runs.service import NotFound, RunRejected, RunsService
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
    for spec in workflows_of(app).values():
        if not spec.langserve:  # its schema cannot be published (logged at start)
            continue

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
                # The operator's graphs get their own context schema's defaults, through
                # the run service (`assign_run_config`).
                defaults=defaults if spec.origin == "built-in" else None,
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
    runs = resources.runs
    assert runs is not None, "the lifespan opens the run service"
    graph = resources.graphs[workflow]
    context: Any
    try:
        if graph.context_schema is Context:
            context = resources.policy.context(configurable, identity, strict=False)
        else:  # a graph of the operator's: its own schema, as the runs API builds it
            context = runs.context_for(graph, None, identity, config={"configurable": configurable})
    except RunRefused as refused:
        raise HTTPException(400, str(refused)) from None
    except RunRejected as rejected:
        raise HTTPException(422, str(rejected)) from None
    if not configurable.get("thread_id"):
        configurable[NEW_THREAD_KEY] = True  # each run (each input of a batch) gets its own
    else:
        thread_id = str(configurable["thread_id"])
        try:  # before a stream begins, so a refusal is a status code, not a stream's error event
            assistant = await runs.find_assistant(identity, workflow)
            await runs.claim_thread(identity, thread_id, assistant)
        except NotFound:
            raise HTTPException(404, f"no thread {thread_id!r}") from None
        endpoint = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        # Checked now, before anything runs: a stream's refusal would be an error event, and
        # a batch's would come after its other inputs had run (and written their threads).
        if (endpoint.startswith("stream") or endpoint == "batch") and (
            await runs.store.active_runs(thread_id)
        ):
            raise HTTPException(409, run_error_message(ThreadBusy(thread_id)))
        configurable[CLAIMED_KEY] = True
    configurable["tenant"] = identity.tenant
    configurable[CONTEXT_KEY] = context
    configurable[IDENTITY_KEY] = identity
    # The caller as LangGraph's server hands it to graphs (`langgraph_auth_user`, ...).
    return cast(RunnableConfig, with_auth_user({**config, "configurable": configurable}, identity))
