"""Every AG-UI `STATE_SNAPSHOT` is the thread's whole state, mid-run as at the end.

A `STATE_SNAPSHOT` replaces the client's state (CopilotKit's `useCoAgent` renders it as it
is), so a snapshot carrying only what the run has written so far blanks the rest of the
state until the run's last one. Each run here starts on a thread that already has state;
the snapshots are compared with the one the client held before the run (the previous
run's last) and with the checkpoint after it. On the embedded default and on PostgreSQL.
"""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import serving
from tests.support_runs import BACKENDS
from tests.unit.server.agui.support import Streamed, run_input, stream, user

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:forwardedProps.command.resume is deprecated"),
]

SHOWN = {"agent": ("tools", "model", "sources"), "journal": ("heard", "topic")}
"""The keys a snapshot of each workflow shows: its output keys (and the frontend tools),
never `messages`, which travel in `MESSAGES_SNAPSHOT`."""


@pytest.fixture(scope="module", params=BACKENDS)
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = Settings(
        _env_file=None,  # module-scoped: built before the environment is isolated
        data_dir=tmp_path_factory.mktemp("snapshots") / "var",
        postgres_url=postgres,
        graphs={"journal": "tests.doubles.journal_graph:build_graph"},
        rate_limit="",
        rate_limit_runs="",
    )
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        texts = ["The Falcon is the fastest bird of the valley."]
        ingested = await client.post(
            "/workflows/ingest/invoke", json={"input": {"texts": texts, "paths": []}}
        )
        assert ingested.status_code == 200, ingested.text
        yield client


def new_thread() -> str:
    return f"snap-{uuid.uuid4().hex[:12]}"


async def checkpointed(client: httpx.AsyncClient, workflow: str, thread_id: str) -> dict[str, Any]:
    """The thread's state as a snapshot shows it, read from the checkpoint."""
    graph = client._transport.app.state.resources.graphs[workflow]  # type: ignore[attr-defined]
    values = (await graph.aget_state({"configurable": {"thread_id": thread_id}})).values
    shown = {key: values[key] for key in SHOWN[workflow] if key in values}
    as_sent: dict[str, Any] = json.loads(json.dumps(shown))  # as JSON carries it
    return as_sent


def snapshots(result: Streamed) -> list[dict[str, Any]]:
    assert result.status == 200
    assert result.types[-1] == "RUN_FINISHED", result.types
    found = [event["snapshot"] for event in result.of("STATE_SNAPSHOT")]
    assert len(found) >= 2, "expected snapshots as nodes end and one at the end"
    return found


async def test_agent_snapshots_keep_the_sources_of_earlier_turns(
    client: httpx.AsyncClient,
) -> None:
    thread_id = new_thread()
    first = await stream(client, "agent", run_input(thread_id, [user("search for Falcon")]))
    held = snapshots(first)[-1]
    assert held["sources"] and held["model"], held  # the state the client renders
    second = await stream(client, "agent", run_input(thread_id, [user("hello there")]))
    for snapshot in snapshots(second):
        assert held.keys() <= snapshot.keys(), snapshot
        assert snapshot["sources"] == held["sources"]
        assert "messages" not in snapshot
    assert snapshots(second)[-1] == await checkpointed(client, "agent", thread_id)


async def test_a_resumed_run_keeps_the_thread_state(client: httpx.AsyncClient) -> None:
    thread_id = new_thread()
    searched = await stream(client, "agent", run_input(thread_id, [user("search for Falcon")]))
    held = snapshots(searched)[-1]
    asked = await stream(
        client, "agent", run_input(thread_id, [*searched.messages, user("note: falcons nest")])
    )
    pending = asked.events[-1]["outcome"]["interrupts"][0]
    assert snapshots(asked)[-1]["sources"] == held["sources"]
    resume = [{"interruptId": pending["id"], "status": "resolved", "payload": {"approved": True}}]
    resumed = await stream(client, "agent", run_input(thread_id, asked.messages, resume=resume))
    assert resumed.text == "Saved the note."
    for snapshot in snapshots(resumed):
        assert held.keys() <= snapshot.keys(), snapshot
        assert snapshot["sources"] == held["sources"]
    assert snapshots(resumed)[-1] == await checkpointed(client, "agent", thread_id)


async def test_a_reduced_key_is_reduced_in_every_snapshot(client: httpx.AsyncClient) -> None:
    thread_id = new_thread()
    first = await stream(client, "journal", run_input(thread_id, [user("one")]))
    assert snapshots(first)[-1] == {"heard": ["one"], "topic": "one"}
    second = await stream(client, "journal", run_input(thread_id, [user("two")]))
    after_note, after_reply, final = snapshots(second)
    assert after_note == {"heard": ["one", "two"], "topic": "one"}
    assert after_reply == final == {"heard": ["one", "two"], "topic": "two"}
    assert final == await checkpointed(client, "journal", thread_id)


async def test_an_edited_turn_snapshots_the_fork_it_runs_from(client: httpx.AsyncClient) -> None:
    thread_id = new_thread()
    first = await stream(client, "journal", run_input(thread_id, [user("one")]))
    second = await stream(client, "journal", run_input(thread_id, [*first.messages, user("two")]))
    edited = [*second.messages[:2], {**second.messages[2], "content": "deux"}]
    regenerated = snapshots(await stream(client, "journal", run_input(thread_id, edited)))
    final = await checkpointed(client, "journal", thread_id)
    assert "two" not in final["heard"] and final["heard"][-1] == "deux", final
    for snapshot in regenerated:  # `note` runs first: from then on `heard` is final
        assert snapshot["heard"] == final["heard"], snapshot
    assert regenerated[-1] == final
