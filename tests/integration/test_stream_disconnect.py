"""A client that leaves an AG-UI or LangServe stream cancels its run (README: AG-UI).

Over real HTTP (uvicorn on loopback), with runs in SQLite and in PostgreSQL: the chat
model waits at a gate the test never opens, so the run is still going when the client
closes its response. The run must end `interrupted` with `cancel_reason: interrupt`, as a
cancel through the runs API does, and leave its thread free. The cancel used to be
awaited in the `finally` of a response body Starlette had already cancelled, so it never
reached the store and the run went on to `success`, its thread busy (409) meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import Field

from server.app import create_app
from tests.doubles.embedder import fake_embedder
from tests.doubles.stalled_chat import StalledChatModel, stalled_models
from tests.support import eventually, live_server
from tests.support_runs import BACKENDS, runs_settings, until

pytestmark = pytest.mark.integration
CHECKPOINTS: dict[str, str] = {}
"""Each server's checkpoint database: a PostgreSQL URL or a SQLite file."""
QUICKLY_S = 3.0
"""How soon the run must be over: well before a worker's next heartbeat (60 s here)."""


class GatedChatModel(StalledChatModel):
    """A stalled model whose gate is a `threading.Event`: the server has its own loop."""

    gate: threading.Event = Field(default_factory=threading.Event)

    async def _stall(self) -> None:
        self.waiting.append(1)
        try:
            while not self.gate.is_set():  # noqa: ASYNC110 - set from the test's thread
                await asyncio.sleep(0.005)
        finally:
            self.waiting.pop()


@pytest.fixture(scope="module")
def model() -> Iterator[GatedChatModel]:
    gated = GatedChatModel()
    yield gated
    gated.gate.set()  # let anything still waiting finish, so the server can stop


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, model: GatedChatModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    backend = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    # Heartbeats too rare to matter: they also pick up a cancel the store holds (one whose
    # notification was missed), which hid a cancel cut short after its first query.
    data_dir = tmp_path_factory.mktemp("disconnect") / "var"
    settings = runs_settings(data_dir, backend, run_heartbeat_s=60.0, run_lease_s=120.0)
    app = create_app(settings, models=stalled_models(model), embedder=fake_embedder())
    with live_server(app) as url:
        CHECKPOINTS[url] = backend or str(data_dir / "checkpoints.sqlite")
        yield url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


def agui_request(http: httpx.AsyncClient, thread_id: str) -> httpx.Request:
    body = {
        "threadId": thread_id,
        "runId": "r1",
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
        "messages": [{"id": "u1", "role": "user", "content": "Write a very long story"}],
    }
    return http.build_request("POST", "/agui/agent", json=body)


def langserve_request(route: str) -> Callable[[httpx.AsyncClient, str], httpx.Request]:
    def build(http: httpx.AsyncClient, thread_id: str) -> httpx.Request:
        body = {
            "input": {"messages": [{"type": "human", "content": "Write a very long story"}]},
            "config": {"configurable": {"thread_id": thread_id}},
        }
        return http.build_request("POST", f"/workflows/agent/{route}", json=body)

    return build


async def the_run(http: httpx.AsyncClient, thread_id: str) -> dict[str, Any]:
    (run,) = (await http.get(f"/threads/{thread_id}/runs")).json()
    return dict(run)


@pytest.mark.parametrize(
    "opened",
    [agui_request, langserve_request("stream"), langserve_request("stream_events")],
    ids=["agui", "langserve stream", "langserve stream_events"],
)
async def test_a_client_that_leaves_the_stream_cancels_its_run(
    http: httpx.AsyncClient, model: GatedChatModel, opened: Any
) -> None:
    thread_id = f"t-{uuid.uuid4().hex[:8]}"
    response = await http.send(opened(http, thread_id), stream=True)
    assert response.status_code == 200
    await eventually(lambda: bool(model.waiting))
    await response.aclose()  # the client goes away, its run waiting for the model

    async def interrupted() -> bool:
        return bool((await the_run(http, thread_id))["status"] == "interrupted")

    await until(interrupted, timeout_s=QUICKLY_S)
    assert (await the_run(http, thread_id))["cancel_reason"] == "interrupt"
    assert (await http.get(f"/threads/{thread_id}")).json()["status"] == "idle"
    await eventually(lambda: not model.waiting, timeout_s=QUICKLY_S)  # the graph stopped too


@pytest.mark.parametrize(
    "opened",
    [agui_request, langserve_request("stream"), langserve_request("invoke")],
    ids=["agui", "langserve stream", "langserve invoke"],
)
async def test_a_rollback_deletes_the_checkpoints_of_a_surfaces_run(
    http: httpx.AsyncClient, model: GatedChatModel, opened: Any
) -> None:
    """A run started from AG-UI or LangServe and cancelled with `rollback` leaves nothing,
    as a runs API run does: its checkpoints carry its `run_id`. They carried none, so
    the run record went and the checkpoints it wrote stayed on the thread."""
    thread_id = f"t-{uuid.uuid4().hex[:8]}"
    sent = asyncio.ensure_future(http.send(opened(http, thread_id), stream=True))
    await eventually(lambda: bool(model.waiting))
    run_id = (await the_run(http, thread_id))["run_id"]
    history = f"/threads/{thread_id}/history"
    written = (await http.post(history, json={"limit": 50})).json()
    assert written
    assert {state["metadata"].get("run_id") for state in written} == {run_id}
    cancel = f"/threads/{thread_id}/runs/{run_id}/cancel"
    response = await http.post(cancel, params={"action": "rollback", "wait": "true"})
    assert response.status_code < 300, response.text
    await (await sent).aclose()

    async def rolled_back() -> bool:  # the run record goes once its last event is written
        runs = (await http.get(f"/threads/{thread_id}/runs")).json()
        return runs == [] and (await http.post(history, json={"limit": 50})).json() == []

    await until(rolled_back)
    assert (await http.get(f"/threads/{thread_id}")).json()["status"] == "idle"


def checkpoint_rows(server: str, thread_id: str) -> int:
    """Count the rows of every checkpoint table that name the thread."""
    where = CHECKPOINTS[server]
    tables = (
        ("checkpoints", "checkpoint_writes")
        if where.startswith("postgres")
        else ("checkpoints", "writes")
    )
    if where.startswith("postgres"):
        with psycopg.connect(where) as connection:
            return sum(
                connection.execute(
                    f"SELECT count(*) FROM {table} WHERE thread_id = %s",
                    (thread_id,),  # noqa: S608
                ).fetchone()[0]
                for table in (*tables, "checkpoint_blobs")
            )
    with sqlite3.connect(where) as connection:
        return sum(
            connection.execute(
                f"SELECT count(*) FROM {table} WHERE thread_id = ?",
                (thread_id,),  # noqa: S608
            ).fetchone()[0]
            for table in tables
        )


async def test_deleting_a_thread_while_its_run_streams_leaves_no_checkpoint_rows(
    server: str, http: httpx.AsyncClient, model: GatedChatModel
) -> None:
    """The cancelled run's last write (LangGraph's `__error__` for its task) landed after
    the deletion had removed the thread's checkpoints: rows of a thread that was gone."""
    thread_id = f"t-{uuid.uuid4().hex[:8]}"
    response = await http.send(agui_request(http, thread_id), stream=True)
    await eventually(lambda: bool(model.waiting))
    assert checkpoint_rows(server, thread_id) > 0
    deleted = await http.delete(f"/threads/{thread_id}")
    assert deleted.status_code < 300, deleted.text
    await response.aclose()
    await eventually(lambda: not model.waiting, timeout_s=QUICKLY_S)
    assert checkpoint_rows(server, thread_id) == 0
    assert (await http.get(f"/threads/{thread_id}")).status_code == 404


async def test_an_agui_run_sent_while_the_last_one_is_cancelled_waits_for_it(
    http: httpx.AsyncClient, model: GatedChatModel
) -> None:
    """ "Stop", then "send" at once (CopilotKit): the thread was busy for the moment the
    cancel took, and the new run was refused with 409."""
    thread_id = f"t-{uuid.uuid4().hex[:8]}"
    first = await http.send(agui_request(http, thread_id), stream=True)
    await eventually(lambda: bool(model.waiting))
    run_id = (await the_run(http, thread_id))["run_id"]
    cancelled = await http.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    second = await http.send(agui_request(http, thread_id), stream=True)
    assert second.status_code == 200, (await second.aread()).decode()
    await first.aclose()
    await second.aclose()

    async def all_stopped() -> bool:
        runs = (await http.get(f"/threads/{thread_id}/runs")).json()
        return len(runs) == 2 and all(run["status"] == "interrupted" for run in runs)

    await until(all_stopped, timeout_s=QUICKLY_S)
