"""Crons of the Agent Server API: recurring runs, as `langgraph-sdk`'s `client.crons` calls.

`POST /threads/{id}/runs/crons` makes a cron whose firings run on that thread;
`POST /runs/crons` one whose firings each get a new thread (`on_run_completed`: `delete`
it after the run, the default, or `keep` it). Both answer the cron (as langgraph-api
does): its first run comes at the schedule's next time. `PATCH`, `GET` and `DELETE
/runs/crons/{id}`, `POST /runs/crons/search` and `/count` act on the caller's crons only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from server.crons.records import CronRecord
from server.crons.schema import CronCount, CronCreate, CronPatch, CronSearch
from server.crons.service import CronsService
from server.deps import IdentityDep, get_identity, resources_of
from server.runs.wire import json_response

router = APIRouter(tags=["crons"], dependencies=[Depends(get_identity)])


async def get_crons(request: Request) -> CronsService:
    """Return the cron service of the app (503 while it starts or stops)."""
    resources_of(request.app)
    crons: CronsService = request.app.state.crons
    return crons


CronsDep = Annotated[CronsService, Depends(get_crons)]


def _answer(cron: CronRecord) -> Response:
    public = cron.public()
    del public["now"]
    return json_response(public)


@router.post("/threads/{thread_id}/runs/crons")
async def create_thread_cron(
    thread_id: str, body: CronCreate, crons: CronsDep, identity: IdentityDep
) -> Response:
    """Create a cron whose runs all go to this thread."""
    return _answer(await crons.create(identity, thread_id, body))


@router.post("/runs/crons")
async def create_cron(body: CronCreate, crons: CronsDep, identity: IdentityDep) -> Response:
    """Create a cron whose every run gets a new thread."""
    return _answer(await crons.create(identity, None, body))


@router.post("/runs/crons/search")
async def search_crons(body: CronSearch, crons: CronsDep, identity: IdentityDep) -> Response:
    """Search your crons (`select`: only those fields); `X-Pagination-Next` when more."""
    found = await crons.search(identity, body)
    clock = await crons.store.clock()
    items = [cron.public(clock) for cron in found]
    if body.select is not None:
        items = [{key: item[key] for key in body.select} for item in items]
    else:
        for item in items:
            del item["now"]
    more = {"X-Pagination-Next": str(body.offset + body.limit)} if len(found) == body.limit else {}
    return json_response(items, headers=more)


@router.post("/runs/crons/count")
async def count_crons(body: CronCount, crons: CronsDep, identity: IdentityDep) -> Response:
    """Count your crons."""
    return json_response(await crons.count(identity, body))


@router.get("/runs/crons/{cron_id}")
async def get_cron(cron_id: str, crons: CronsDep, identity: IdentityDep) -> Response:
    """Return one of your crons."""
    return _answer(await crons.get(identity, cron_id))


@router.patch("/runs/crons/{cron_id}")
async def update_cron(
    cron_id: str, body: CronPatch, crons: CronsDep, identity: IdentityDep
) -> Response:
    """Change the fields sent (`end_time: null` clears the end time); `{}` is 400.

    langgraph-api refuses an empty body with 400 `Request body cannot be empty`.
    """
    if not body.model_fields_set:
        raise HTTPException(400, "Request body cannot be empty: send the fields to change")
    return _answer(await crons.update(identity, cron_id, body))


@router.delete("/runs/crons/{cron_id}", status_code=204)
async def delete_cron(cron_id: str, crons: CronsDep, identity: IdentityDep) -> Response:
    """Delete one of your crons (the runs it started stay)."""
    await crons.delete(identity, cron_id)
    return Response(status_code=204)
