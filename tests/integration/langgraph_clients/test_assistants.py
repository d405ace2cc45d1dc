"""Saved assistants through `langgraph-sdk`'s `client.assistants.*`, on SQLite and PostgreSQL.

Runs use `tests.doubles.context_graph` (`context_echo`): its state says which context and
which `configurable["style"]` the run had, so a test sees what an assistant contributed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from server.runs.assistants import NAMESPACE_GRAPH
from server.settings import Settings
from tests.support_runs import GRAPHS, api_keys, served

ECHO = "context_echo"
DEFAULTS = {"model": "small", "temperature": 0.0, "user": "anonymous"}
"""`EchoContext()`: what a run with no context values gets."""


@pytest.fixture(scope="module")
async def keyed(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str, str]]:
    """Serve the app with API keys and the context echo graph; yield its URL and two keys."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("assistants") / "var",
        postgres_url=backend,
        graphs={**GRAPHS, ECHO: "tests.doubles.context_graph:build_graph"},
        auth_mode="api_key",
        rate_limit="",
        rate_limit_runs="",
    )
    with served(settings) as url:
        alice_key, bob_key = await api_keys(settings, "alice", "bob")
        yield url, alice_key, bob_key


@pytest.fixture
async def alice(keyed: tuple[str, str, str]) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=keyed[0], api_key=keyed[1]) as client:
        yield client


@pytest.fixture
async def bob(keyed: tuple[str, str, str]) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=keyed[0], api_key=keyed[2]) as client:
        yield client


@pytest.fixture
def tag() -> dict[str, str]:
    """Metadata no other test's assistants have (the PostgreSQL database is the session's)."""
    return {"tag": uuid.uuid4().hex}


async def status_of(call: Awaitable[Any]) -> int:
    """Return the HTTP status the call was refused with."""
    with pytest.raises(httpx.HTTPStatusError) as refusal:
        await call
    return refusal.value.response.status_code


# Versions ------------------------------------------------------------------------------
async def test_an_update_adds_a_version_and_set_latest_goes_back(
    alice: LangGraphClient, tag: dict[str, str]
) -> None:
    created = await alice.assistants.create(
        ECHO,
        config={"configurable": {"style": "terse"}},
        context={"model": "large"},
        metadata=tag,
        name="Echo",
        description="says what it got",
    )
    assistant_id = created["assistant_id"]
    assert uuid.UUID(assistant_id)
    assert created["version"] == 1
    assert created["context"] == {"model": "large"}
    assert created["config"] == {"configurable": {"style": "terse"}}
    assert (created["name"], created["description"]) == ("Echo", "says what it got")
    assert await alice.assistants.get(assistant_id) == created

    updated = await alice.assistants.update(
        assistant_id, context={"model": "huge", "user": "ann"}, metadata={"stage": "two"}
    )
    assert updated["version"] == 2
    assert updated["context"] == {"model": "huge", "user": "ann"}  # replaced
    assert updated["metadata"] == {**tag, "stage": "two"}  # merged
    assert updated["config"] == created["config"]  # not given: kept
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]

    versions = await alice.assistants.get_versions(assistant_id)
    assert [v["version"] for v in versions] == [2, 1]
    assert [v["context"] for v in versions] == [updated["context"], created["context"]]
    staged = await alice.assistants.get_versions(assistant_id, metadata={"stage": "two"})
    assert [v["version"] for v in staged] == [2]
    assert [v["version"] for v in await alice.assistants.get_versions(assistant_id, offset=1)] == [
        1
    ]

    back = await alice.assistants.set_latest(assistant_id, 1)
    assert back["version"] == 1
    assert (back["context"], back["metadata"]) == (created["context"], created["metadata"])
    assert (await alice.assistants.get(assistant_id))["version"] == 1
    # What a run uses is the latest version: version 1's context again.
    result = await alice.runs.wait(None, assistant_id, input={"question": "?"})
    assert result["context"]["model"] == "large"
    assert await status_of(alice.assistants.set_latest(assistant_id, 9)) == 404
    # A patch after going back numbers on from the highest version, and is the latest.
    third = await alice.assistants.update(assistant_id, name="Echo 3")
    assert (third["version"], third["context"]) == (3, created["context"])


# Search --------------------------------------------------------------------------------
async def test_search_and_count_by_metadata_graph_and_name(
    alice: LangGraphClient, tag: dict[str, str]
) -> None:
    first = await alice.assistants.create(ECHO, metadata=tag, name="Alpha Echo")
    second = await alice.assistants.create("echo", metadata=tag, name="Beta")
    found = await alice.assistants.search(metadata=tag)
    assert {a["assistant_id"] for a in found} == {first["assistant_id"], second["assistant_id"]}
    assert [a["assistant_id"] for a in found] == [second["assistant_id"], first["assistant_id"]]
    assert await alice.assistants.count(metadata=tag) == 2

    by_graph = await alice.assistants.search(metadata=tag, graph_id=ECHO)
    assert [a["assistant_id"] for a in by_graph] == [first["assistant_id"]]
    assert await alice.assistants.count(metadata=tag, graph_id=ECHO) == 1
    named = await alice.assistants.search(metadata=tag, name="alpha e")  # case-insensitive
    assert [a["name"] for a in named] == ["Alpha Echo"]

    # The system assistant of `echo` is everyone's, and found beside the saved ones.
    echo_graph = await alice.assistants.search(graph_id="echo", limit=1000)
    system_id = str(uuid.uuid5(NAMESPACE_GRAPH, "echo"))
    assert {system_id, second["assistant_id"]} <= {a["assistant_id"] for a in echo_graph}
    assert await alice.assistants.count(metadata={"created_by": "system"}, graph_id="echo") == 1

    by_name = await alice.assistants.search(metadata=tag, sort_by="name", sort_order="asc")
    assert [a["name"] for a in by_name] == ["Alpha Echo", "Beta"]
    page = await alice.assistants.search(
        metadata=tag, sort_by="name", sort_order="asc", limit=1, offset=1, response_format="object"
    )
    assert [a["name"] for a in page["assistants"]] == ["Beta"]
    assert page["next"] == "2"
    selected = await alice.assistants.search(metadata=tag, select=["assistant_id", "version"])
    assert all(set(a) == {"assistant_id", "version"} for a in selected)


# Deleting -----------------------------------------------------------------------------
async def test_delete_removes_it_and_optionally_its_threads(
    alice: LangGraphClient, tag: dict[str, str]
) -> None:
    kept = await alice.assistants.create(ECHO, metadata=tag)
    thread = await alice.threads.create()
    await alice.runs.wait(thread["thread_id"], kept["assistant_id"], input={"question": "?"})
    await alice.assistants.delete(kept["assistant_id"])
    assert await status_of(alice.assistants.get(kept["assistant_id"])) == 404
    assert await status_of(alice.assistants.get_versions(kept["assistant_id"])) == 404
    assert (await alice.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]

    gone = await alice.assistants.create(ECHO, metadata=tag)
    thread = await alice.threads.create()
    await alice.runs.wait(thread["thread_id"], gone["assistant_id"], input={"question": "?"})
    await alice.assistants.delete(gone["assistant_id"], delete_threads=True)
    assert await status_of(alice.threads.get(thread["thread_id"])) == 404
    assert await alice.assistants.count(metadata=tag) == 0


# Ownership ----------------------------------------------------------------------------
async def test_another_identity_can_neither_see_nor_change_it(
    alice: LangGraphClient, bob: LangGraphClient, tag: dict[str, str]
) -> None:
    mine = await alice.assistants.create(ECHO, context={"model": "alice's"}, metadata=tag)
    assistant_id = mine["assistant_id"]
    refused = [
        bob.assistants.get(assistant_id),
        bob.assistants.update(assistant_id, name="bob's"),
        bob.assistants.get_versions(assistant_id),
        bob.assistants.set_latest(assistant_id, 1),
        bob.assistants.get_schemas(assistant_id),
        bob.assistants.get_graph(assistant_id),
        bob.assistants.delete(assistant_id),
        bob.runs.wait(None, assistant_id, input={"question": "?"}),
    ]
    for call in refused:
        assert await status_of(call) == 404
    assert await bob.assistants.search(metadata=tag) == []
    assert await bob.assistants.count(metadata=tag) == 0
    # The same id cannot be taken over either, whatever `if_exists` says.
    taken = bob.assistants.create(ECHO, assistant_id=assistant_id, if_exists="do_nothing")
    assert await status_of(taken) == 409
    assert (await alice.assistants.get(assistant_id)) == mine

    # System assistants are everyone's, and nobody's to change.
    system_id = str(uuid.uuid5(NAMESPACE_GRAPH, ECHO))
    assert (await bob.assistants.get(system_id))["graph_id"] == ECHO
    for call in (
        bob.assistants.update(system_id, name="mine now"),
        bob.assistants.delete(system_id),
        bob.assistants.set_latest(system_id, 1),
        alice.assistants.create(ECHO, assistant_id=system_id),
    ):
        assert await status_of(call) == 409
    versions = await bob.assistants.get_versions(system_id)
    assert [v["version"] for v in versions] == [1]


# Runs by assistant ---------------------------------------------------------------------
async def test_a_run_by_a_saved_assistant_gets_its_context_and_config(
    alice: LangGraphClient,
) -> None:
    saved = await alice.assistants.create(
        ECHO,
        config={"configurable": {"style": "terse", "user": "from-config"}},
        context={"model": "large"},
    )
    thread = await alice.threads.create()
    values = await alice.runs.wait(
        thread["thread_id"],
        saved["assistant_id"],
        input={"question": "?"},
        context={"temperature": 0.5},
    )
    # Defaults, under the assistant's configurable, its context, then the run's context.
    assert values["context"] == {"model": "large", "temperature": 0.5, "user": "from-config"}
    assert values["style"] == "terse"
    overridden = await alice.runs.wait(
        thread["thread_id"],
        saved["assistant_id"],
        input={"question": "?"},
        config={"configurable": {"style": "loud", "model": "from-run"}},
    )
    assert overridden["style"] == "loud"
    assert overridden["context"]["model"] == "from-run"  # the run's configurable over the saved
    marked = await alice.threads.get(thread["thread_id"])
    assert marked["metadata"]["assistant_id"] == saved["assistant_id"]
    assert marked["metadata"]["graph_id"] == ECHO
    runs = await alice.runs.list(thread["thread_id"])
    assert {run["assistant_id"] for run in runs} == {saved["assistant_id"]}

    schemas = await alice.assistants.get_schemas(saved["assistant_id"])
    assert set(schemas["context_schema"]["properties"]) == set(DEFAULTS)
    drawn = await alice.assistants.get_graph(saved["assistant_id"])
    assert "echo" in {node["id"] for node in drawn["nodes"]}
    assert await alice.assistants.get_subgraphs(saved["assistant_id"]) == {}


@pytest.mark.parametrize(
    ("context", "config", "expected"),
    [
        (None, None, DEFAULTS),
        ({}, None, DEFAULTS),
        (
            None,
            {"configurable": {"model": "from-config", "thread_id": "ignored"}},
            {**DEFAULTS, "model": "from-config"},
        ),
        ({"user": "ann"}, {"configurable": {"user": "config-user"}}, {**DEFAULTS, "user": "ann"}),
    ],
)
async def test_a_dataclass_context_gets_its_defaults(
    alice: LangGraphClient,
    context: dict[str, Any] | None,
    config: dict[str, Any] | None,
    expected: dict[str, Any],
) -> None:
    values = await alice.runs.wait(
        None,
        ECHO,
        input={"question": "?"},
        context=context,
        config=config,  # type: ignore[arg-type]
    )
    assert values["context"] == expected
    assert values["model"] == expected["model"]


# Bad input -----------------------------------------------------------------------------
async def test_bad_input_is_a_4xx_that_says_what_to_change(
    alice: LangGraphClient, keyed: tuple[str, str, str], tag: dict[str, str]
) -> None:
    assert await status_of(alice.assistants.create("no-such-graph")) == 404
    assert await status_of(alice.assistants.create(ECHO, context={"colour": "red"})) == 422
    assert await status_of(alice.assistants.create(ECHO, assistant_id="not-a-uuid")) == 422
    made = await alice.assistants.create(ECHO, metadata=tag)
    again = alice.assistants.create(ECHO, assistant_id=made["assistant_id"])
    assert await status_of(again) == 409
    same = await alice.assistants.create(
        ECHO, assistant_id=made["assistant_id"], if_exists="do_nothing"
    )
    assert same == made
    assert await status_of(alice.assistants.update(made["assistant_id"], graph_id="nope")) == 404
    bad_context = alice.assistants.update(made["assistant_id"], context={"colour": "red"})
    assert await status_of(bad_context) == 422
    assert (await alice.assistants.get(made["assistant_id"]))["version"] == 1  # nothing added
    run = alice.runs.wait(None, made["assistant_id"], input={}, context={"colour": "red"})
    assert await status_of(run) == 422

    url, key, _ = keyed
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=60) as raw:
        for body in (
            {"graph_id": ECHO, "config": "fast"},
            {"graph_id": ECHO, "config": {"configurable": [1]}},
            {"graph_id": ECHO, "config": {"recursion_limit": "many"}},
            {"graph_id": ECHO, "context": ["model"]},
            {"graph_id": ECHO, "metadata": 7},
            {"graph_id": ECHO, "if_exists": "replace"},
            {"config": {}},
        ):
            response = await raw.post("/assistants", json=body)
            assert response.status_code == 422, body
            assert response.json()["detail"]
        search = await raw.post("/assistants/search", json={"sort_by": "secret"})
        assert search.status_code == 422
        latest = await raw.post(f"/assistants/{made['assistant_id']}/latest", json={"version": 0})
        assert latest.status_code == 422
        nul = await raw.post("/assistants", json={"graph_id": ECHO, "name": "a\u0000b"})
        assert nul.status_code == 422
    assert await status_line_for_declared_body(url, key, 7 * 2**20) == "HTTP/1.1 413"
    assert await alice.assistants.count(metadata=tag) == 1


async def status_line_for_declared_body(url: str, key: str, length: int) -> str:
    """Declare a `POST /assistants` body of `length` bytes; return the answer's status line.

    The body is never sent: the server answers from the declared length (a client still
    writing 7 MB when the 413 arrives sees a reset instead, whatever the server said).
    """
    host, port = httpx.URL(url).host, httpx.URL(url).port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (
                f"POST /assistants HTTP/1.1\r\nHost: {host}\r\nx-api-key: {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        writer.close()
    return " ".join(line.decode().split()[:2])
