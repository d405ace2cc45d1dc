"""`/v1/workflows` and `/v1/orchestrate`: the original design's REST names for the runs API.

Thin aliases over the same runs (same store, workers, ownership and events): listing the
workflows is `POST /assistants/search`; `POST /v1/orchestrate` with `mode` `sync`,
`stream` or `background` is `/runs/wait`, `/runs/stream` or `/runs` (on `thread_id` when
given, else a temporary thread); `GET /v1/orchestrate/{run_id}` is the run. Errors use the
OpenAI envelope, like everything under `/v1`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from server.deps import IdentityDep, SettingsDep, get_identity
from server.routes.runs import RunsDep, create_response, stream_response, wait_result_response
from server.runs.schema import RunCreate
from server.runs.wire import json_response

router = APIRouter(prefix="/v1", tags=["orchestrate"], dependencies=[Depends(get_identity)])


class OrchestrateRequest(RunCreate):
    """A run of `workflow`; every field of a runs API body applies."""

    assistant_id: str = ""
    workflow: str
    """The workflow (assistant) to run, e.g. `agent`."""
    thread_id: str | None = Field(default=None, min_length=1)
    """Continue this thread; none: a temporary thread (an empty id is 400, as on AG-UI)."""
    mode: Literal["sync", "stream", "background"] = "sync"
    """`sync` answers the final values, `stream` sends SSE events, `background` answers
    the run at once (poll `GET /v1/orchestrate/{run_id}`)."""


@router.get("/workflows")
async def list_workflows(runs: RunsDep) -> Response:
    """List the workflows that can be run, with their assistant ids."""
    return json_response(
        {
            "object": "list",
            "data": [
                {
                    "name": a.graph_id,
                    "description": a.description,
                    "assistant_id": a.assistant_id,
                }
                for a in runs.assistants.all
            ],
        }
    )


@router.post("/orchestrate")
async def orchestrate(
    body: OrchestrateRequest, runs: RunsDep, identity: IdentityDep, settings: SettingsDep
) -> Response:
    """Run a workflow synchronously, streamed or in the background."""
    body.assistant_id = body.workflow
    if body.thread_id is not None and body.if_not_exists == "reject":
        body.if_not_exists = "create"
    if body.mode == "stream":
        return await stream_response(runs, identity, body.thread_id, body, settings.keepalive_s)
    if body.mode == "background":
        return await create_response(runs, identity, body.thread_id, body)
    return await wait_result_response(runs, identity, body.thread_id, body, settings.keepalive_s)


@router.get("/orchestrate/{run_id}")
async def get_orchestrated_run(run_id: str, runs: RunsDep, identity: IdentityDep) -> Response:
    """Return a run (status, and its result once final)."""
    run = await runs.run_of(identity, None, run_id)
    return json_response({**run.public(), "result": run.result})
