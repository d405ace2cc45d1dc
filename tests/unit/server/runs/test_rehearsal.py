"""Writes a graph cannot apply are refused and leave the thread as it was (`rehearsal.py`).

Served with the runs benchmark's graph: `trace` is a list under `operator.add`, so a string
written to it is a TypeError in the reducer, which LangGraph used to store first and apply
second, breaking the thread for every later read and run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.types import Command

from server.app import create_app
from server.runs.execute import command_from
from server.runs.lookup import NotFound, RunRejected
from server.runs.rehearsal import rehearse_run_start
from server.runs.schema import MAX_SUPERSTEP_UPDATES
from server.runs.state import Graph, thread_config
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

BENCH = {"bench": "evals.bench_graph:build_graph"}
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"


def bench_settings(data_dir: Path) -> Settings:
    """Return settings serving the benchmark graph, with no rate limits in the way."""
    return Settings(
        data_dir=data_dir,
        graphs=BENCH,
        rate_limit="",
        rate_limit_runs="",
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        bench_settings(tmp_path / "var"), models=fake_models(), embedder=fake_embedder()
    )
    async with serving(app) as client:
        yield client


def bench_graph(client: httpx.AsyncClient) -> Graph:
    graph: Graph = client._transport.app.state.resources.graphs["bench"]  # type: ignore[attr-defined]
    return graph


async def ran(client: httpx.AsyncClient, thread: str, **more: Any) -> dict[str, Any]:
    run = {"assistant_id": "bench", "input": {"count": 0}, "if_not_exists": "create", **more}
    response = await client.post(f"/threads/{thread}/runs/wait", json=run)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def snapshot(client: httpx.AsyncClient, thread: str) -> tuple[Any, Any]:
    """Return the thread's state and its whole history: what a refused write must not change."""
    state = await client.get(f"/threads/{thread}/state")
    assert state.status_code == 200, state.text
    history = await client.get(f"/threads/{thread}/history", params={"limit": 100})
    assert history.status_code == 200, history.text
    return state.json(), history.json()


async def pending_writes(client: httpx.AsyncClient, thread: str) -> list[Any]:
    saver = bench_graph(client).checkpointer
    assert saver is not None and not isinstance(saver, bool)
    head = await saver.aget_tuple(thread_config(thread))
    assert head is not None
    return list(head.pending_writes or [])


@pytest.mark.parametrize(
    ("values", "as_node", "says"),
    [
        ({"trace": "notalist"}, "second", "['trace']"),
        ([1, 2], "first", "InvalidUpdateError"),
    ],
)
async def test_a_state_update_the_graph_cannot_apply_is_422_and_writes_nothing(
    client: httpx.AsyncClient, values: Any, as_node: str, says: str
) -> None:
    await ran(client, "t", interrupt_before=["second"])
    before, writes = await snapshot(client, "t"), await pending_writes(client, "t")
    body = {"values": values, "as_node": as_node}
    refused = await client.post("/threads/t/state", json=body)
    assert refused.status_code == 422, refused.text
    assert says in refused.json()["detail"] and "nothing was written" in refused.json()["detail"]
    assert await snapshot(client, "t") == before
    assert await pending_writes(client, "t") == writes
    resumed = await client.post("/threads/t/runs/wait", json={"assistant_id": "bench"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json() == {"count": 2, "trace": ["first", "second"]}


async def test_a_state_update_the_graph_can_apply_is_still_written(
    client: httpx.AsyncClient,
) -> None:
    await ran(client, "t", interrupt_before=["second"])
    body = {"values": {"trace": ["by hand"]}, "as_node": "first"}
    written = await client.post("/threads/t/state", json=body)
    assert written.status_code == 200, written.text
    state = (await client.get("/threads/t/state")).json()
    assert state["values"]["trace"] == ["first", "by hand"]
    assert state["checkpoint"] == written.json()["checkpoint"]


async def test_a_state_update_from_an_unknown_checkpoint_is_404_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await ran(client, "t")
    before = await snapshot(client, "t")
    for body in (
        {"values": {"count": 5}, "checkpoint_id": "nonexist"},
        {"values": {"count": 5}, "checkpoint": {"checkpoint_id": "nonexist"}},
    ):
        refused = await client.post("/threads/t/state", json=body)
        assert refused.status_code == 404, refused.text
        assert "nonexist" in refused.json()["detail"]
    assert await snapshot(client, "t") == before


async def test_reading_an_unknown_checkpoint_stays_the_empty_state(
    client: httpx.AsyncClient,
) -> None:
    """A read answers as langgraph-api does (its `Threads.State.get`): no values, no time."""
    await ran(client, "t")
    for response in (
        await client.get("/threads/t/state/nonexist"),
        await client.post(
            "/threads/t/state/checkpoint", json={"checkpoint": {"checkpoint_id": "x"}}
        ),
    ):
        assert response.status_code == 200, response.text
        assert response.json()["values"] == {} and response.json()["created_at"] is None


@pytest.mark.parametrize(
    ("checkpoint", "where"),
    [
        ("abc", ["body", "checkpoint"]),
        ([1, 2], ["body", "checkpoint"]),
        ({"checkpoint_id": 123}, ["body", "checkpoint", "checkpoint_id"]),
    ],
)
async def test_a_malformed_checkpoint_to_read_is_422_naming_it(
    client: httpx.AsyncClient, checkpoint: Any, where: list[str]
) -> None:
    await ran(client, "t")
    response = await client.post("/threads/t/state/checkpoint", json={"checkpoint": checkpoint})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where


async def test_the_state_at_a_checkpoint_in_the_body_is_read(client: httpx.AsyncClient) -> None:
    await ran(client, "t")
    history = (await client.get("/threads/t/history")).json()
    oldest = history[-1]["checkpoint"]
    response = await client.post("/threads/t/state/checkpoint", json={"checkpoint": oldest})
    assert response.status_code == 200, response.text
    assert response.json()["checkpoint"]["checkpoint_id"] == oldest["checkpoint_id"]
    latest = await client.post("/threads/t/state/checkpoint", json={})
    assert latest.json()["values"] == {"count": 2, "trace": ["first", "second"]}


@pytest.mark.parametrize(
    "update",
    [
        {"as_node": "first", "values": {"trace": "x"}},
        {"as_node": "first", "command": {"goto": {"bogus": 1}}},
        {"as_node": "first", "command": {"update": {"trace": "x"}}},
    ],
)
async def test_supersteps_that_cannot_apply_are_422_and_leave_no_thread(
    client: httpx.AsyncClient, update: dict[str, Any]
) -> None:
    body: dict[str, Any] = {
        "thread_id": "s2",
        "metadata": {"graph_id": "bench"},
        "supersteps": [
            {"updates": [{"as_node": "first", "values": {"count": 1, "trace": ["a"]}}]},
            {"updates": [update]},
        ],
    }
    refused = await client.post("/threads", json=body)
    assert refused.status_code == 422, refused.text
    assert (await client.get("/threads/s2")).status_code == 404
    body["supersteps"] = body["supersteps"][:1]  # the same id is free: nothing was left
    created = await client.post("/threads", json=body)
    assert created.status_code == 200, created.text
    assert (await client.get("/threads/s2/state")).json()["values"] == {"count": 1, "trace": ["a"]}


async def test_supersteps_past_the_limit_are_422_and_leave_no_thread(
    client: httpx.AsyncClient,
) -> None:
    """Each superstep stores the whole state so far: 2,000 of them in a 336 KB body took
    103 s and stored 502 MB."""
    step = {"updates": [{"as_node": "first", "values": {"trace": ["a"]}}]}
    body: dict[str, Any] = {
        "thread_id": "long",
        "metadata": {"graph_id": "bench"},
        "supersteps": [step] * (MAX_SUPERSTEP_UPDATES + 1),
    }
    refused = await client.post("/threads", json=body)
    assert refused.status_code == 422, refused.text
    assert f"at most {MAX_SUPERSTEP_UPDATES}" in refused.text
    assert (await client.get("/threads/long")).status_code == 404
    body["supersteps"] = [step] * MAX_SUPERSTEP_UPDATES
    assert (await client.post("/threads", json=body)).status_code == 200


@pytest.mark.parametrize("goto", [{"bogus": 1}, [{"node": 3}], ["first", {"input": {}}]])
def test_a_goto_that_is_no_send_is_refused_by_name(goto: Any) -> None:
    with pytest.raises(RunRejected, match="command.goto"):
        command_from({"goto": goto})


def test_a_goto_send_or_node_is_still_a_command() -> None:
    command = command_from({"goto": [{"node": "second", "input": {"count": 1}}, "first"]})
    assert [getattr(g, "node", g) for g in command.goto] == ["second", "first"]  # type: ignore[union-attr]


async def test_a_run_s_command_update_is_rehearsed_before_it_starts(
    client: httpx.AsyncClient,
) -> None:
    await ran(client, "t")
    graph, config = bench_graph(client), thread_config("t")
    before, writes = await snapshot(client, "t"), await pending_writes(client, "t")
    with pytest.raises(RunRejected, match=r"command.update of \['trace'\].*TypeError"):
        await rehearse_run_start(graph, config, Command(update={"trace": "x"}))
    with pytest.raises(NotFound, match="nonexist"):
        unknown = thread_config("t", {"checkpoint_id": "nonexist"})
        await rehearse_run_start(graph, unknown, None)
    await rehearse_run_start(graph, config, Command(update={"trace": ["x"]}))
    await rehearse_run_start(graph, config, None)
    assert await snapshot(client, "t") == before
    assert await pending_writes(client, "t") == writes


@pytest.mark.parametrize(
    ("more", "status"),
    [({"command": {"update": {"trace": "x"}}}, 422), ({"checkpoint_id": "nonexist"}, 404)],
)
async def test_a_run_that_cannot_start_as_asked_is_refused_and_the_thread_lives_on(
    client: httpx.AsyncClient, more: dict[str, Any], status: int
) -> None:
    await ran(client, "t")
    before = await snapshot(client, "t")
    refused = await client.post("/threads/t/runs/wait", json={"assistant_id": "bench", **more})
    assert refused.status_code == status, refused.text
    assert await snapshot(client, "t") == before
    await ran(client, "t")


async def test_cancelling_a_queued_run_frees_a_thread_whose_state_cannot_be_read(
    client: httpx.AsyncClient,
) -> None:
    """A thread an earlier version broke (a refused write stored on its head) is freed."""
    await ran(client, "t")
    saver = bench_graph(client).checkpointer
    assert saver is not None and not isinstance(saver, bool)
    head = await saver.aget_tuple(thread_config("t"))
    assert head is not None
    await saver.aput_writes(head.config, [("trace", "x")], NULL_TASK_ID)
    assert (await client.get("/threads/t")).json()["status"] == "idle"
    queued = await client.post(
        "/threads/t/runs",
        json={"assistant_id": "bench", "input": {"count": 0}, "after_seconds": 600},
    )
    assert queued.status_code == 200, queued.text
    assert (await client.get("/threads/t")).json()["status"] == "busy"
    run_id = queued.json()["run_id"]
    cancelled = await client.post(f"/threads/t/runs/{run_id}/cancel")
    assert cancelled.status_code < 300, cancelled.text
    assert (await client.get(f"/threads/t/runs/{run_id}")).json()["status"] == "interrupted"
    assert (await client.get("/threads/t")).json()["status"] == "error"


@pytest.mark.parametrize(
    ("more", "status"),
    [({"command": {"update": {"trace": "x"}}}, 422), ({"checkpoint_id": "nonexist"}, 404)],
)
async def test_a_stateless_run_that_cannot_start_as_asked_is_refused_and_leaves_no_thread(
    client: httpx.AsyncClient, more: dict[str, Any], status: int
) -> None:
    """Rehearsed on the empty state its temporary thread would start from: the update used
    to fail the run as it executed, and the unknown checkpoint was ignored."""
    body = {"assistant_id": "bench", "input": {"count": 0}, **more}
    refused = await client.post("/runs/wait", json=body)
    assert refused.status_code == status, refused.text
    threads = await client.post("/threads/search", json={"limit": 10})
    assert threads.json() == []
    accepted = {"assistant_id": "bench", "command": {"update": {"trace": ["by hand"]}}}
    answered = await client.post("/runs/wait", json=accepted)
    assert answered.status_code == 200, answered.text
    assert answered.json()["trace"][0] == "by hand"


async def test_a_bad_update_on_a_thread_never_run_is_refused_and_leaves_it_runnable(
    client: httpx.AsyncClient,
) -> None:
    """A thread with no checkpoint yet: the update meets the graph's empty channels."""
    assert (await client.post("/threads", json={"thread_id": "t"})).status_code == 200
    bad = {"assistant_id": "bench", "command": {"update": {"trace": "x"}}}
    refused = await client.post("/threads/t/runs/wait", json=bad)
    assert refused.status_code == 422, refused.text
    assert (await client.get("/threads/t/history")).json() == []
    assert (await ran(client, "t"))["trace"] == ["first", "second"]


@pytest.mark.parametrize("route", ["/runs/wait", "/runs", "/runs/stream"])
@pytest.mark.parametrize(
    "named", [{"checkpoint_id": "abc"}, {"checkpoint": {"checkpoint_id": "abc"}}]
)
async def test_a_run_refused_for_its_checkpoint_leaves_no_new_thread_behind(
    client: httpx.AsyncClient, route: str, named: dict[str, Any]
) -> None:
    body = {"assistant_id": "bench", "input": {"count": 0}, "if_not_exists": "create", **named}
    refused = await client.post(f"/threads/fresh/{route.removeprefix('/')}", json=body)
    assert refused.status_code == 404, refused.text
    assert "'abc'" in refused.json()["detail"] and "'fresh'" in refused.json()["detail"]
    assert (await client.get("/threads/fresh")).status_code == 404


async def test_a_stateless_run_s_unknown_checkpoint_names_no_thread_of_the_server(
    client: httpx.AsyncClient,
) -> None:
    body = {"assistant_id": "bench", "input": {"count": 0}, "checkpoint_id": "abc"}
    refused = await client.post("/runs/wait", json=body)
    assert refused.status_code == 404, refused.text
    assert "'abc'" in refused.json()["detail"] and "rehearsal" not in refused.json()["detail"]
    assert (await client.post("/threads/search", json={})).json() == []


async def test_a_thread_made_by_a_concurrent_run_is_the_run_s_own(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `if_not_exists="create"` runs at once: the second found the thread made meanwhile.

    It read the thread as missing, then as existing, took it for one the project's rule
    hides, and answered 404 for the caller's own thread. Made deterministic here: the
    thread is created between the two reads, as the other run did.
    """
    from server.runs import authorized

    seen = authorized.visible_thread

    async def made_meanwhile(store: Any, identity: Any, thread_id: str, filters: Any) -> Any:
        await store.create_thread(thread_id, identity.id, {}, if_exists="do_nothing", ttl=None)
        monkeypatch.setattr(authorized, "visible_thread", seen)
        return None

    monkeypatch.setattr(authorized, "visible_thread", made_meanwhile)
    body = {"assistant_id": "bench", "input": {"count": 0}, "if_not_exists": "create"}
    ran_too = await client.post("/threads/both/runs/wait", json=body)
    assert ran_too.status_code == 200, ran_too.text
    assert ran_too.json() == {"count": 2, "trace": ["first", "second"]}
