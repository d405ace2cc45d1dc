"""Thread TTLs through `langgraph-sdk` 0.4.14: `threads.create(ttl=)`, `threads.update(ttl=)`,
`threads.get(include=["ttl"])`, and the sweeper that expires them, with runs in SQLite and
in PostgreSQL.

This module's server sweeps every 0.12 s and gives threads created without a `ttl` an
hour: a thread given the shortest TTL (one second) goes within a bounded wait.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.support_runs import runs_settings, served, texts, until, user

pytestmark = pytest.mark.integration

ONE_SECOND = 1 / 60
"""The shortest TTL, in minutes."""


@pytest.fixture(scope="module")
def server(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the app with a quick sweeper and a default TTL of an hour."""
    ttl = {"default_ttl": 60, "sweep_interval_minutes": 0.002}
    settings = runs_settings(tmp_path_factory.mktemp("ttl") / "var", backend, thread_ttl=ttl)
    with served(settings) as url:
        yield url


def minutes_left(ttl: dict[str, object]) -> float:
    expires_at = datetime.fromisoformat(str(ttl["expires_at"]))
    return (expires_at - datetime.now(expires_at.tzinfo)) / timedelta(minutes=1)


async def gone(client: LangGraphClient, thread_id: str) -> bool:
    try:
        await client.threads.get(thread_id)
    except NotFoundError:
        return True
    return False


async def test_create_with_ttl_and_read_it_back(client: LangGraphClient) -> None:
    thread = await client.threads.create(ttl=120)
    assert "ttl" not in thread  # only `get(include=["ttl"])` shows it, as langgraph-api
    assert "ttl" not in await client.threads.get(thread["thread_id"])
    shown = await client.threads.get(thread["thread_id"], include=["ttl"])
    ttl = shown["ttl"]  # type: ignore[typeddict-item]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("delete", 120)
    assert 119 < minutes_left(ttl) <= 120


async def test_update_replaces_the_ttl_from_now(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create(ttl=120, metadata={"a": 1}))["thread_id"]
    await client.threads.update(thread_id, metadata={}, ttl={"ttl": 30, "strategy": "keep_latest"})
    shown = await client.threads.get(thread_id, include=["ttl"])
    ttl = shown["ttl"]  # type: ignore[typeddict-item]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("keep_latest", 30)
    assert 29 < minutes_left(ttl) <= 30
    assert shown["metadata"] == {"a": 1}  # a TTL-only update keeps the metadata


async def test_threads_created_without_ttl_get_the_default(client: LangGraphClient) -> None:
    made = await client.threads.create()
    thread_id = str(uuid.uuid4())  # created by its first run, as every surface creates one
    await client.runs.wait(thread_id, "echo", input=user("hi"), if_not_exists="create")
    for created in (made["thread_id"], thread_id):
        ttl = (await client.threads.get(created, include=["ttl"]))["ttl"]  # type: ignore[typeddict-item]
        assert (ttl["strategy"], ttl["ttl_minutes"]) == ("delete", 60)


async def test_do_nothing_keeps_the_existing_ttl(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create(ttl=120))["thread_id"]
    await client.threads.create(thread_id=thread_id, if_exists="do_nothing", ttl=5)
    ttl = (await client.threads.get(thread_id, include=["ttl"]))["ttl"]  # type: ignore[typeddict-item]
    assert ttl["ttl_minutes"] == 120


@pytest.mark.parametrize(
    "ttl",
    [
        {"ttl": 0},
        {"ttl": -5},
        {"ttl": 10**12},
        {"ttl": "60"},
        {"strategy": "delete"},
        {"ttl": 5, "strategy": "forever"},
    ],
)
async def test_an_invalid_ttl_is_refused(client: LangGraphClient, ttl: dict[str, object]) -> None:
    with pytest.raises(UnprocessableEntityError):
        await client.threads.create(ttl=ttl)
    thread_id = (await client.threads.create())["thread_id"]
    with pytest.raises(UnprocessableEntityError):
        await client.threads.update(thread_id, metadata={}, ttl=ttl)


async def test_an_expired_thread_is_deleted_with_its_checkpoints(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread_id, "echo", input=user("forget me"))
    await client.threads.update(thread_id, metadata={}, ttl=ONE_SECOND)
    await until(lambda: gone(client, thread_id), timeout_s=15)
    # As `DELETE /threads/{id}`: a new thread of the same id starts with no history.
    await client.threads.create(thread_id=thread_id)
    assert await client.threads.get_history(thread_id) == []
    assert await client.runs.list(thread_id) == []  # its runs went too


async def test_keep_latest_prunes_and_keeps_the_thread(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread_id, "echo", input=user("keep me"))
    assert len(await client.threads.get_history(thread_id)) > 1
    await client.threads.update(
        thread_id, metadata={}, ttl={"ttl": ONE_SECOND, "strategy": "keep_latest"}
    )

    async def pruned() -> bool:
        return len(await client.threads.get_history(thread_id)) == 1

    await until(pruned, timeout_s=15)
    state = await client.threads.get_state(thread_id)
    assert texts(state["values"])[0] == "keep me"
    assert "ttl" in await client.threads.get(thread_id, include=["ttl"])  # counted again
