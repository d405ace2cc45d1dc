"""The runs API against real LangGraph clients: controlling runs that are still going.

Cancelling, multitask strategies, reconnecting with `Last-Event-ID`, ownership between
two API keys, webhooks and keepalives, with runs in memory and in PostgreSQL. Runs of the
`gated` double wait at a gate the test opens (`tests/doubles/gated_graph.py`), so "still
running" is a state the test controls, not a race.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from tests.doubles.gated_graph import held, release, waiting
from tests.support import eventually
from tests.support_runs import (
    GATED_UPDATES_AND_CUSTOM,
    SseEvent,
    api_keys,
    runs_settings,
    served,
    sse_lines,
    texts,
    until,
    user,
    webhook_receiver,
)

pytestmark = pytest.mark.integration
Item = TypeVar("Item")


async def new_thread(client: LangGraphClient) -> str:
    return str((await client.threads.create())["thread_id"])


async def start_held(client: LangGraphClient, thread_id: str, label: str) -> dict[str, Any]:
    """Start a background `gated` run and return it once it waits at its gate."""
    run = await client.runs.create(thread_id, "gated", input={"label": label})
    await eventually(lambda: waiting(label))
    return dict(run)


async def take(count: int, items: AsyncIterator[Item]) -> list[Item]:
    """Return the next `count` items (the stream stays open)."""
    return [await anext(items) for _ in range(count)]


async def is_gone(client: LangGraphClient, thread_id: str, run_id: str) -> bool:
    try:
        await client.runs.get(thread_id, run_id)
    except NotFoundError:
        return True
    return False


# Cancelling -----------------------------------------------------------------------
async def test_a_cancelled_run_is_interrupted_and_keeps_what_it_checkpointed(
    client: LangGraphClient,
) -> None:
    thread_id = await new_thread(client)
    with held() as label:
        run = await start_held(client, thread_id, label)
        await client.runs.cancel(thread_id, run["run_id"], wait=True)
        cancelled = await client.runs.get(thread_id, run["run_id"])
        # `interrupted`, the SDK's `RunStatus` for it; the reason says it was a cancel.
        assert (cancelled["status"], cancelled["cancel_reason"]) == ("interrupted", "interrupt")
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "idle"
    assert (await client.threads.get_state(thread_id))["values"]["log"] == [f"{label}:begin"]
    # The thread object agrees with its state (its values were the previous run's, or null).
    assert thread["values"]["log"] == [f"{label}:begin"]


async def test_a_rolled_back_run_is_deleted_with_its_checkpoints(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "gated", input={"label": "kept"})
    with held() as label:
        run = await start_held(client, thread_id, label)
        history = await client.threads.get_history(thread_id, limit=100)
        assert any(s["metadata"].get("run_id") == run["run_id"] for s in history)
        await client.runs.cancel(thread_id, run["run_id"], wait=True, action="rollback")
        await until(lambda: is_gone(client, thread_id, run["run_id"]))
    history = await client.threads.get_history(thread_id, limit=100)
    assert all(s["metadata"].get("run_id") != run["run_id"] for s in history)
    assert (await client.threads.get_state(thread_id))["values"]["log"] == [
        "kept:begin",
        "kept:done",
    ]


async def test_cancelling_every_pending_run_leaves_the_running_one(
    client: LangGraphClient,
) -> None:
    thread_id = await new_thread(client)
    with held() as label:
        running = await start_held(client, thread_id, label)
        queued = await client.runs.create(thread_id, "gated", input={"label": "queued"})
        assert queued["status"] == "pending"
        await client.runs.cancel_many(status="pending")
        assert (await client.runs.get(thread_id, queued["run_id"]))["status"] == "interrupted"
        assert (await client.runs.get(thread_id, running["run_id"]))["status"] == "running"
    final = await client.runs.join(thread_id, running["run_id"])
    assert final["log"] == [f"{label}:begin", f"{label}:done"]
    assert (await client.runs.get(thread_id, queued["run_id"]))["status"] == "interrupted"


async def has_status(client: LangGraphClient, thread_id: str, run_id: str, status: str) -> bool:
    return bool((await client.runs.get(thread_id, run_id))["status"] == status)


@pytest.mark.parametrize("route", ["stream", "wait", "join stream"])
async def test_a_client_that_leaves_cancels_its_run_when_it_asked_to(
    server: str, client: LangGraphClient, route: str
) -> None:
    """`on_disconnect: "cancel"` (and `cancel_on_disconnect` on a joined stream): the run
    stops once its client has gone. The cancel used to be awaited inside the cancelled
    response, so its first query was cancelled and the run went on."""
    thread_id = await new_thread(client)
    with held() as label:
        body = {"assistant_id": "gated", "input": {"label": label}, "on_disconnect": "cancel"}
        async with httpx.AsyncClient(base_url=server, timeout=30) as http:
            if route == "join stream":
                run = await start_held(client, thread_id, label)
                path = f"/threads/{thread_id}/runs/{run['run_id']}/stream"
                request = http.build_request("GET", path, params={"cancel_on_disconnect": "1"})
            else:
                path = f"/threads/{thread_id}/runs/{route}"
                request = http.build_request("POST", path, json=body)
            response = await http.send(request, stream=True)
            assert response.status_code == 200
            await eventually(lambda: waiting(label))
            (run,) = await client.runs.list(thread_id)
            await response.aclose()  # the client goes away, the run still at its gate
        await until(lambda: has_status(client, thread_id, run["run_id"], "interrupted"))
    assert (await client.runs.get(thread_id, run["run_id"]))["cancel_reason"] == "interrupt"
    assert (await client.threads.get(thread_id))["status"] == "idle"


# Multitask strategies on a busy thread ---------------------------------------------
async def test_reject_refuses_a_second_run_with_409(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    with held() as label:
        first = await start_held(client, thread_id, label)
        with pytest.raises(ConflictError):
            await client.runs.create(
                thread_id, "gated", input={"label": "second"}, multitask_strategy="reject"
            )
    assert (await client.runs.join(thread_id, first["run_id"]))["log"][-1] == f"{label}:done"
    assert len(await client.runs.list(thread_id)) == 1


async def test_enqueue_runs_the_second_run_after_the_first(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    with held() as label:
        first = await start_held(client, thread_id, label)
        second = await client.runs.create(
            thread_id, "gated", input={"label": "second"}, multitask_strategy="enqueue"
        )
        assert second["status"] == "pending"
    final = await client.runs.join(thread_id, second["run_id"])
    assert final["log"] == [f"{label}:begin", f"{label}:done", "second:begin", "second:done"]
    assert (await client.runs.get(thread_id, first["run_id"]))["status"] == "success"


async def second_run_over_a_held_one(
    client: LangGraphClient, strategy: str
) -> tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Start a held run, then a second one with `strategy`; return the thread, the held
    run's label, both runs and the second run's final values."""
    thread_id = await new_thread(client)
    with held() as label:
        first = await start_held(client, thread_id, label)
        second = await client.runs.create(
            thread_id, "gated", input={"label": "second"}, multitask_strategy=strategy
        )
        final = await client.runs.join(thread_id, second["run_id"])
    return thread_id, label, first, second, final


async def test_interrupt_cancels_the_first_run_and_completes_the_second(
    client: LangGraphClient,
) -> None:
    thread_id, label, first, _, final = await second_run_over_a_held_one(client, "interrupt")
    assert final["log"] == [f"{label}:begin", "second:begin", "second:done"]
    cancelled = await client.runs.get(thread_id, first["run_id"])
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("interrupted", "interrupt")


async def test_rollback_deletes_the_first_run_and_completes_the_second(
    client: LangGraphClient,
) -> None:
    thread_id, _, first, second, final = await second_run_over_a_held_one(client, "rollback")
    assert final["log"] == ["second:begin", "second:done"]
    await until(lambda: is_gone(client, thread_id, first["run_id"]))
    assert [r["run_id"] for r in await client.runs.list(thread_id)] == [second["run_id"]]


@pytest.mark.parametrize("strategy", ["interrupt", "rollback"])
async def test_of_runs_sent_together_only_the_latest_runs(
    client: LangGraphClient, strategy: str
) -> None:
    """A burst of runs (a bot forwarding messages, latest wins): one survives, none waits.

    Checked before storing, two runs sent together could each miss the other and both
    run; a run cancelled before its attempt began kept its thread busy until its lease.
    """
    for _ in range(3):
        thread_id = await new_thread(client)
        with held() as label:
            await start_held(client, thread_id, label)
            sent = await asyncio.gather(
                *(
                    client.runs.create(
                        thread_id, "gated", input={"label": f"r{i}"}, multitask_strategy=strategy
                    )
                    for i in range(4)
                )
            )
        ids = {run["run_id"] for run in sent}

        async def settled(thread_id: str = thread_id) -> bool:
            runs = await client.runs.list(thread_id)
            return all(run["status"] not in ("pending", "running") for run in runs)

        await until(settled)
        assert (await client.threads.get(thread_id))["status"] == "idle"
        left = [r for r in await client.runs.list(thread_id) if r["run_id"] in ids]
        statuses = sorted(run["status"] for run in left)
        expected = ["success"] if strategy == "rollback" else ["interrupted"] * 3 + ["success"]
        assert statuses == expected
        log = (await client.threads.get_state(thread_id))["values"]["log"]
        assert len([entry for entry in log if entry.endswith(":done")]) == 1


# Reconnecting ------------------------------------------------------------------------
async def test_the_sdk_rejoins_a_stream_after_its_last_event_without_gaps(
    client: LangGraphClient,
) -> None:
    thread_id = await new_thread(client)
    with held() as label:
        stream = client.runs.stream(
            thread_id, "gated", input={"label": label}, stream_mode=["updates", "custom"]
        )
        async with aclosing(stream):
            before = await take(3, stream)
        run_id = before[0].data["run_id"]
        after = []
        rejoin = client.runs.join_stream(thread_id, run_id, last_event_id=before[-1].id)
        async for part in rejoin:
            after.append(part)
            if len(after) == 1:
                release(label)  # the rest is streamed live, not replayed
    ids = [int(str(part.id)) for part in before + after if part.id]
    assert ids == list(range(1, len(ids) + 1))
    assert [p.event for p in before + after] == GATED_UPDATES_AND_CUSTOM


async def test_a_raw_client_resumes_at_the_location_with_last_event_id(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        body = {"assistant_id": "gated", "stream_mode": ["custom"]}
        with held() as label:
            url = f"/threads/{thread_id}/runs/stream"
            async with (
                http.stream("POST", url, json={**body, "input": {"label": label}}) as first,
                aclosing(sse_lines(first)) as lines,
            ):
                location = first.headers["location"]
                seen = await take(2, lines)
            refused = await http.get(location, headers={"Last-Event-ID": "not-an-id"})
            assert refused.status_code == 400 and "Last-Event-ID" in refused.json()["detail"]
            release(label)
            headers = {"Last-Event-ID": str(seen[-1].id)}  # type: ignore[union-attr]
            async with http.stream("GET", location, headers=headers) as rest:
                seen += [e async for e in sse_lines(rest)]
    events = [e for e in seen if isinstance(e, SseEvent)]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert [e.event for e in events] == ["metadata", "custom", "custom", "custom"]


# Ownership -------------------------------------------------------------------------
async def test_another_identity_gets_404_for_every_part_of_a_thread(
    backend: str | None, tmp_path: Path
) -> None:
    settings = runs_settings(tmp_path / "var", backend, auth_mode="api_key")
    with served(settings) as url:
        alice_key, bob_key = await api_keys(settings, "alice", "bob")
        async with (
            get_client(url=url, api_key=alice_key) as alice,
            get_client(url=url, api_key=bob_key) as bob,
        ):
            mine = {"tag": uuid.uuid4().hex}  # the PostgreSQL database is the session's
            thread_id = (await alice.threads.create(metadata=mine))["thread_id"]
            run = await alice.runs.create(thread_id, "echo", input=user("mine"))
            await alice.runs.join(thread_id, run["run_id"])
            run_id = run["run_id"]
            refused = [
                bob.threads.get(thread_id),
                bob.threads.get_state(thread_id),
                bob.threads.get_history(thread_id),
                bob.threads.update(thread_id, metadata={"tag": "bob's"}),
                bob.threads.copy(thread_id),
                bob.runs.list(thread_id),
                bob.runs.get(thread_id, run_id),
                bob.runs.join(thread_id, run_id),
                bob.runs.cancel(thread_id, run_id),
                bob.runs.create(thread_id, "echo", input=user("theirs")),
                bob.runs.wait(thread_id, "echo", input=user("theirs"), if_not_exists="create"),
                bob.threads.delete(thread_id),
            ]
            for call in refused:
                # `join` raises httpx's own error; the rest the SDK's NotFoundError (a subclass)
                with pytest.raises(httpx.HTTPStatusError) as refusal:
                    await call
                assert refusal.value.response.status_code == 404, refusal.value.request.url
            with pytest.raises(NotFoundError):
                async for _ in bob.runs.join_stream(thread_id, run_id):
                    pass
            with pytest.raises(NotFoundError):
                async for _ in await bob.threads.join_stream(thread_id):
                    pass
            assert await bob.threads.search(metadata=mine) == []
            assert await bob.threads.count(metadata=mine) == 0
            assert await alice.threads.count(metadata=mine) == 1
            state = await alice.threads.get_state(thread_id)
            assert texts(state["values"]) == ["mine", "echo: mine"]


# Webhooks ------------------------------------------------------------------------------
async def test_a_webhook_receives_the_finished_run(backend: str | None, tmp_path: Path) -> None:
    settings = runs_settings(tmp_path / "var", backend, webhook_allow_private=True)
    with webhook_receiver() as receiver, served(settings) as url:
        async with get_client(url=url) as client:
            thread_id = await new_thread(client)
            run = await client.runs.create(
                thread_id, "echo", input=user("call me"), webhook=receiver.url
            )
            await client.runs.join(thread_id, run["run_id"])
            await eventually(lambda: bool(receiver.received))
    [posted] = receiver.received
    assert (posted["run_id"], posted["thread_id"]) == (run["run_id"], thread_id)
    assert posted["status"] == "success"
    assert texts(posted["values"]) == ["call me", "echo: call me"]


async def test_a_slow_webhook_holds_up_neither_the_wait_nor_the_next_run(
    backend: str | None, tmp_path: Path
) -> None:
    settings = runs_settings(tmp_path / "var", backend, webhook_allow_private=True, run_workers=1)
    answer = threading.Event()
    with webhook_receiver(hold=answer) as receiver, served(settings) as url:
        try:
            async with get_client(url=url) as client:
                thread_id = await new_thread(client)
                hooked = {"webhook": receiver.url}
                first = await client.runs.wait(thread_id, "echo", input=user("one"), **hooked)
                # The one worker slot is free while the receiver still holds the POST.
                second = await client.runs.wait(thread_id, "echo", input=user("two"))
                await eventually(lambda: receiver.arrived == 1)
                assert receiver.received == []  # still held: neither wait waited for it
                answer.set()
                await eventually(lambda: len(receiver.received) == 1)
        finally:
            answer.set()
    assert texts(first) == ["one", "echo: one"]
    assert texts(second)[-1] == "echo: two"
    assert receiver.received[0]["status"] == "success"


async def test_a_loopback_webhook_is_refused_unless_allowed(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    with pytest.raises(UnprocessableEntityError):
        await client.runs.create(
            thread_id, "echo", input=user("x"), webhook="http://127.0.0.1:9/hook"
        )
    assert await client.runs.list(thread_id) == []


# Keepalives ------------------------------------------------------------------------------
@pytest.fixture
def keepalive_server(backend: str | None, tmp_path: Path) -> Iterator[str]:
    with served(runs_settings(tmp_path / "var", backend, keepalive_s=0.05)) as url:
        yield url


async def test_a_slow_wait_sends_newlines_and_still_parses_as_json(keepalive_server: str) -> None:
    async with httpx.AsyncClient(base_url=keepalive_server, timeout=30) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        with held() as label:
            body = {"assistant_id": "gated", "input": {"label": label}}
            async with http.stream("POST", f"/threads/{thread_id}/runs/wait", json=body) as wait:
                chunks = wait.aiter_bytes()
                first = await anext(chunks)  # the run is held: this can only be keepalive
                release(label)
                raw = first + b"".join([chunk async for chunk in chunks])
    assert raw.startswith(b"\n") and first.strip() == b""
    assert json.loads(raw) == {"label": label, "log": [f"{label}:begin", f"{label}:done"]}


async def test_a_slow_stream_sends_heartbeat_comments(keepalive_server: str) -> None:
    seen: list[SseEvent | str] = []
    async with httpx.AsyncClient(base_url=keepalive_server, timeout=30) as http:
        with held() as label:
            body = {"assistant_id": "gated", "input": {"label": label}, "stream_mode": "custom"}
            async with http.stream("POST", "/runs/stream", json=body) as stream:
                async for line in sse_lines(stream):
                    seen.append(line)
                    if line == ": heartbeat":
                        release(label)
    events = [e.event for e in seen if isinstance(e, SseEvent)]
    assert ": heartbeat" in seen
    assert events == ["metadata", "custom", "custom", "custom"]
