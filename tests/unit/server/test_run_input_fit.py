"""A run's input must fit its workflow's input type on every surface (`RunPolicy.check_fit`).

Found from outside: `{"texts": "xyz"}` was ingested one character at a time (three
one-letter documents that later answered questions) through the runs API, A2A and
`/v1/orchestrate`, while LangServe refused it; `{"question": 5}` failed the run with a
TypeError. Each surface now refuses such input in its own envelope, and stores nothing.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

UNFIT = [
    ("ingest", {"texts": "xyz"}, "input.texts: Input should be a valid list"),
    ("ingest", {"texts": [1, 2]}, "input.texts[0]: Input should be a valid string"),
    ("ingest", {"files": [{"text": "hi"}]}, "input.files[0].source: Field required"),
    ("ingest", {}, "send at least one of 'files', 'texts' or 'paths'"),
    ("rag", {"question": 5}, "input.question: Input should be a valid string"),
    ("rag", {}, "input.question: Field required"),
    ("rag", "a question", "input: Input should be a valid dictionary"),
]


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


async def nothing_stored(client: httpx.AsyncClient) -> None:
    """No thread, run or cron was made."""
    assert (await client.post("/threads/search", json={})).json() == []
    assert (await client.post("/runs/crons/search", json={})).json() == []


@pytest.mark.parametrize(("workflow", "given", "says"), UNFIT)
async def test_the_runs_api_refuses_input_its_workflow_does_not_take(
    client: httpx.AsyncClient, workflow: str, given: Any, says: str
) -> None:
    run = {"assistant_id": workflow, "input": given}
    for route, body in (
        ("/runs/wait", run),
        ("/runs", run),
        ("/runs/stream", run),
        ("/threads/t-new/runs/wait", {**run, "if_not_exists": "create"}),
        ("/runs/batch", [run]),
        ("/runs/crons", {**run, "schedule": "0 0 1 1 *"}),
    ):
        refused = await client.post(route, json=body)
        assert refused.status_code == 422, (route, refused.text)
        assert f"input does not fit {workflow!r}" in refused.json()["detail"], route
        assert says in refused.json()["detail"], (route, refused.text)
    await nothing_stored(client)


@pytest.mark.parametrize(("workflow", "given", "says"), UNFIT)
async def test_orchestrate_refuses_it_in_openai_s_envelope(
    client: httpx.AsyncClient, workflow: str, given: Any, says: str
) -> None:
    body = {"workflow": workflow, "input": given, "mode": "sync"}
    refused = await client.post("/v1/orchestrate", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert says in refused.json()["error"]["message"]
    await nothing_stored(client)


@pytest.mark.parametrize(
    ("workflow", "given", "says"), [case for case in UNFIT if isinstance(case[1], dict) and case[1]]
)
async def test_the_a2a_door_refuses_it_as_invalid_params_and_opens_no_context(
    client: httpx.AsyncClient, workflow: str, given: Any, says: str
) -> None:
    message = {
        "role": "user",
        "messageId": "m-1",
        "contextId": "ctx-1",
        "parts": [{"kind": "data", "data": given}],
    }
    request = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    answer = (await client.post(f"/a2a/{workflow}", json=request)).json()
    assert answer["error"]["code"] == -32602, answer
    assert says in answer["error"]["message"]
    await nothing_stored(client)


async def test_input_that_fits_still_runs_everywhere(client: httpx.AsyncClient) -> None:
    ingest = {"assistant_id": "ingest", "input": {"texts": ["Falcon was led by Ingrid."]}}
    ran = await client.post("/runs/wait", json=ingest)
    assert ran.status_code == 200, ran.text
    assert ran.json()["chunk_count"] == 1
    asked = await client.post(
        "/v1/orchestrate", json={"workflow": "rag", "input": {"question": "Who led Falcon?"}}
    )
    assert asked.status_code == 200, asked.text


async def test_a_state_update_is_a_part_of_the_state_not_a_run_s_input(
    client: httpx.AsyncClient,
) -> None:
    """The fit is a run's: a state update writes a few keys of the state, whatever they are."""
    asked = {"question": "Who led Falcon?"}
    run = {"assistant_id": "rag", "input": asked, "if_not_exists": "create"}
    assert (await client.post("/threads/t/runs/wait", json=run)).status_code == 200
    updated = await client.post("/threads/t/state", json={"values": {"answer": "by hand"}})
    assert updated.status_code == 200, updated.text
    resumed = await client.post("/threads/t/runs/wait", json={"assistant_id": "rag"})
    assert resumed.status_code == 200, resumed.text
