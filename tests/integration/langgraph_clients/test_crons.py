"""Crons against the real `langgraph-sdk` client, with runs in SQLite and in PostgreSQL.

A cron's next firing is moved into the past in the database (`make_due`), as if its time
had come: what fires it is the real scheduler of the served app, polling every 50 ms. The
firing is a normal run, on the cron's thread or a new one; it runs once however many
schedulers race for it, and once after a downtime that missed several firings.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import BadRequestError, NotFoundError, UnprocessableEntityError

from server.crons.schedule import firing_run_id
from server.runs.sqlite_sql import parse_time, stamp
from server.settings import Settings
from tests.support_runs import api_keys, runs_settings, served, texts, until, user

pytestmark = pytest.mark.integration

EVERY_MINUTE = "* * * * *"
YEARLY = "0 0 1 1 *"
"""For tests that must see no firing but the one they make due."""


# The served app and direct access to its database ----------------------------------
@pytest.fixture(scope="module")
def settings(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Return settings with API keys (two identities) and a scheduler polling every 50 ms."""
    data_dir = tmp_path_factory.mktemp("crons") / "var"
    return runs_settings(data_dir, backend, auth_mode="api_key", cron_poll_s=0.05)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[str]:
    """Serve the app; yield its URL."""
    with served(settings) as url:
        yield url


@pytest.fixture(scope="module")
async def keys(settings: Settings, server: str) -> list[str]:
    """Return the API keys of `alice` and `bob`."""
    return await api_keys(settings, f"alice-{uuid.uuid4().hex[:6]}", "bob")


@pytest.fixture
async def client(server: str, keys: list[str]) -> AsyncIterator[LangGraphClient]:
    """Return alice's client."""
    async with get_client(url=server, api_key=keys[0]) as client:
        yield client


@pytest.fixture
async def bob(server: str, keys: list[str]) -> AsyncIterator[LangGraphClient]:
    """Return bob's client."""
    async with get_client(url=server, api_key=keys[1]) as client:
        yield client


def sql(settings: Settings, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the served app's database (`%s` placeholders); return its rows."""
    if settings.postgres_url is not None:
        with psycopg.connect(str(settings.postgres_url), autocommit=True) as connection:
            cursor = connection.execute(query, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []
    with sqlite3.connect(settings.data_dir / "orca.sqlite", timeout=30) as connection:
        sqlite_params = tuple(stamp(p) if isinstance(p, datetime) else p for p in params)
        return connection.execute(query.replace("%s", "?"), sqlite_params).fetchall()


def as_time(value: Any) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) else parse_time(value)  # type: ignore[return-value]


def make_due(settings: Settings, cron_id: str, ago: timedelta = timedelta(seconds=1)) -> datetime:
    """Move the cron's next firing `ago` into the past (no claim on it); return that time."""
    due = (datetime.now(UTC) - ago).replace(microsecond=0)
    sql(
        settings,
        "UPDATE orca_crons SET next_run_date = %s, claimed_by = NULL, claimed_until = NULL"
        " WHERE cron_id = %s",
        (due, cron_id),
    )
    return due


def next_run_date(settings: Settings, cron_id: str) -> datetime | None:
    rows = sql(settings, "SELECT next_run_date FROM orca_crons WHERE cron_id = %s", (cron_id,))
    return as_time(rows[0][0]) if rows and rows[0][0] is not None else None


def stored_run(settings: Settings, run_id: str) -> tuple[str, str, datetime] | None:
    """Return a run's thread, status and creation time, wherever its thread went."""
    rows = sql(
        settings, "SELECT thread_id, status, created_at FROM orca_runs WHERE run_id = %s", (run_id,)
    )
    return (rows[0][0], rows[0][1], as_time(rows[0][2])) if rows else None


async def moved_on(settings: Settings, cron_id: str, due: datetime) -> None:
    """Wait until the scheduler recorded the firing of `due` (its next firing is later)."""

    async def later() -> bool:
        found = next_run_date(settings, cron_id)
        return found is not None and found > due

    await until(later)


async def thread_with_cron(
    client: LangGraphClient, text: str, schedule: str = YEARLY
) -> tuple[str, dict[str, Any]]:
    thread_id = str((await client.threads.create())["thread_id"])
    cron = await client.crons.create_for_thread(
        thread_id, "echo", schedule=schedule, input=user(text)
    )
    return thread_id, dict(cron)


def minutes_between(start: datetime, end: datetime) -> list[datetime]:
    """Return the minute boundaries in (start, end]."""
    first = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [
        first + timedelta(minutes=n) for n in range(int((end - first) / timedelta(minutes=1)) + 1)
    ]


# Firing ---------------------------------------------------------------------------------
async def test_a_thread_cron_fires_a_normal_run_that_updates_the_thread(
    client: LangGraphClient, settings: Settings
) -> None:
    created = datetime.now(UTC)
    thread_id, cron = await thread_with_cron(client, "tick", EVERY_MINUTE)
    assert (cron["thread_id"], cron["schedule"], cron["enabled"]) == (thread_id, EVERY_MINUTE, True)
    assert "run_id" not in cron  # the answer is the cron; its first run comes at its time
    first = datetime.fromisoformat(cron["next_run_date"])
    assert timedelta(0) < first - created <= timedelta(minutes=1) and first.second == 0

    # Down for ten minutes: ten firings missed, one run.
    due = make_due(settings, cron["cron_id"], ago=timedelta(minutes=10))
    fired = firing_run_id(cron["cron_id"], due)
    await until(lambda: has_runs(client, thread_id, 1))
    run = await client.runs.get(thread_id, fired)
    assert run["metadata"]["cron_id"] == cron["cron_id"]
    assert (await client.runs.join(thread_id, fired))["messages"][-1]["content"] == "echo: tick"
    assert texts((await client.threads.get_state(thread_id))["values"])[:2] == [
        "tick",
        "echo: tick",
    ]
    await moved_on(settings, cron["cron_id"], due)
    after = next_run_date(settings, cron["cron_id"])
    assert after is not None and timedelta(0) < after - datetime.now(UTC) <= timedelta(minutes=1)
    await client.crons.delete(cron["cron_id"])
    # Beside it, only firings of minutes that began during the test: none of the missed ones.
    legit = {firing_run_id(cron["cron_id"], m) for m in minutes_between(created, datetime.now(UTC))}
    others = [r["run_id"] for r in await client.runs.list(thread_id) if r["run_id"] != fired]
    assert set(others) <= legit


async def has_runs(client: LangGraphClient, thread_id: str, count: int) -> bool:
    return len(await client.runs.list(thread_id)) >= count


async def test_a_firing_taken_over_after_a_crash_does_not_run_again(
    client: LangGraphClient, settings: Settings
) -> None:
    thread_id, cron = await thread_with_cron(client, "once")
    due = make_due(settings, cron["cron_id"])
    await until(lambda: has_runs(client, thread_id, 1))
    await moved_on(settings, cron["cron_id"], due)
    # As if the process died after inserting the run and before recording the firing:
    # the same firing is due again, unclaimed; the scheduler finds its run and moves on.
    make_due(settings, cron["cron_id"], ago=datetime.now(UTC) - due)
    await moved_on(settings, cron["cron_id"], due)
    assert len(await client.runs.list(thread_id)) == 1


async def test_a_stateless_cron_runs_each_firing_on_a_new_thread(
    client: LangGraphClient, settings: Settings
) -> None:
    kept = await client.crons.create(
        "echo", schedule=YEARLY, input=user("keep me"), on_run_completed="keep"
    )
    dropped = await client.crons.create("echo", schedule=YEARLY, input=user("drop me"))
    assert (kept["thread_id"], kept["on_run_completed"]) == (None, "keep")
    assert dropped["on_run_completed"] == "delete"
    firings = {}
    for cron in (kept, dropped):
        due = make_due(settings, cron["cron_id"])
        firings[cron["cron_id"]] = firing_run_id(cron["cron_id"], due)

    def finished(run_id: str) -> bool:
        found = stored_run(settings, run_id)
        return found is not None and found[1] == "success"

    async def both_finished() -> bool:
        return all(finished(run_id) for run_id in firings.values())

    await until(both_finished)
    kept_thread, _, _ = stored_run(settings, firings[kept["cron_id"]])  # type: ignore[misc]
    state = await client.threads.get_state(kept_thread)
    assert texts(state["values"]) == ["keep me", "echo: keep me"]
    dropped_thread, _, _ = stored_run(settings, firings[dropped["cron_id"]])  # type: ignore[misc]

    async def deleted() -> bool:
        try:
            await client.threads.get(dropped_thread)
        except NotFoundError:
            return True
        return False

    await until(deleted)


# Managing crons ---------------------------------------------------------------------
async def test_search_count_update_and_delete(client: LangGraphClient, server: str) -> None:
    tag = {"suite": uuid.uuid4().hex}
    thread_id = str((await client.threads.create())["thread_id"])
    made = [
        await client.crons.create_for_thread(
            thread_id, "echo", schedule=f"{minute} * * * *", metadata=tag, input=user("hi")
        )
        for minute in (30, 10, 20)
    ]
    ids = [cron["cron_id"] for cron in made]
    assert await client.crons.count(thread_id=thread_id) == 3
    assert await client.crons.count(metadata=tag) == 3
    assert await client.crons.count(assistant_id="echo", metadata=tag) == 3
    by_next = await client.crons.search(
        thread_id=thread_id, sort_by="next_run_date", sort_order="asc"
    )
    # Which minute comes next depends on the clock: check the order against the dates.
    next_dates = [datetime.fromisoformat(cron["next_run_date"]) for cron in by_next]
    assert next_dates == sorted(next_dates) and len(set(next_dates)) == 3
    assert {cron["schedule"] for cron in by_next} == {"10 * * * *", "20 * * * *", "30 * * * *"}
    page = await client.crons.search(metadata=tag, limit=2, offset=2, sort_order="asc")
    assert [cron["cron_id"] for cron in page] == ids[2:]
    picked = await client.crons.search(thread_id=thread_id, select=["cron_id", "enabled"])
    assert {tuple(cron) for cron in picked} == {("cron_id", "enabled")}

    updated = await client.crons.update(
        ids[0], schedule="45 * * * *", enabled=False, metadata={**tag, "v": 2}
    )
    assert (updated["schedule"], updated["enabled"], updated["metadata"]["v"]) == (
        "45 * * * *", False, 2,
    )  # fmt: skip
    assert datetime.fromisoformat(updated["next_run_date"]).minute == 45
    assert updated["payload"]["input"] == user("hi")
    assert [c["cron_id"] for c in await client.crons.search(metadata=tag, enabled=False)] == [
        ids[0]
    ]
    end = datetime.now(UTC) + timedelta(days=1)
    assert (await client.crons.update(ids[1], end_time=end))["end_time"] is not None
    assert (await client.crons.update(ids[1], end_time=None))["end_time"] is None
    async with httpx.AsyncClient(base_url=server, headers=client.http.client.headers) as http:
        got = (await http.get(f"/runs/crons/{ids[1]}")).json()
    assert (got["cron_id"], got["end_time"]) == (ids[1], None)

    await client.crons.delete(ids[0])
    assert await client.crons.count(metadata=tag) == 2
    with pytest.raises(NotFoundError):
        await client.crons.delete(ids[0])
    with pytest.raises(NotFoundError):
        await client.crons.update(ids[0], enabled=True)


async def test_an_update_merges_metadata_and_an_empty_one_is_400(
    client: LangGraphClient, server: str
) -> None:
    """As langgraph-api: `metadata` merges key by key (Orca replaced it), `{}` is 400, and a
    thread cron ignores `on_run_completed` when created but keeps it when patched."""
    thread_id = str((await client.threads.create())["thread_id"])
    body = {"assistant_id": "echo", "schedule": YEARLY, "metadata": {"a": 1}}
    async with httpx.AsyncClient(base_url=server, headers=client.http.client.headers) as http:
        made = await http.post(
            f"/threads/{thread_id}/runs/crons", json={**body, "on_run_completed": "keep"}
        )
    cron_id, created = made.json()["cron_id"], made.json()
    assert (created["metadata"], created["on_run_completed"]) == ({"a": 1}, None)
    merged = await client.crons.update(cron_id, metadata={"b": 2})
    assert merged["metadata"] == {"a": 1, "b": 2}
    [stored] = await client.crons.search(thread_id=thread_id)
    assert stored["metadata"] == {"a": 1, "b": 2}
    with pytest.raises(BadRequestError):
        await client.crons.update(cron_id)
    assert (await client.crons.update(cron_id, on_run_completed="keep"))["on_run_completed"] == (
        "keep"
    )


async def test_bad_schedules_timezones_and_end_times_are_422(client: LangGraphClient) -> None:
    thread_id = str((await client.threads.create())["thread_id"])
    for bad in (
        {"schedule": "every minute"},
        {"schedule": EVERY_MINUTE, "timezone": "Mars/Olympus"},
        {"schedule": EVERY_MINUTE, "end_time": datetime.now(UTC) - timedelta(hours=1)},
    ):
        with pytest.raises(UnprocessableEntityError):
            await client.crons.create_for_thread(thread_id, "echo", **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        await client.crons.create("no-such-graph", schedule=EVERY_MINUTE)
    with pytest.raises(NotFoundError):
        await client.crons.create_for_thread(str(uuid.uuid4()), "echo", schedule=EVERY_MINUTE)


async def test_a_timezone_sets_the_local_time_of_firings(client: LangGraphClient) -> None:
    cron = await client.crons.create(
        "echo", schedule="0 9 * * *", timezone="Asia/Kolkata", enabled=False
    )
    fires = datetime.fromisoformat(cron["next_run_date"])
    assert (fires.astimezone(UTC).hour, fires.astimezone(UTC).minute) == (3, 30)  # 09:00 IST
    assert cron["timezone"] == "Asia/Kolkata"


async def test_another_identity_never_sees_a_cron(
    client: LangGraphClient, bob: LangGraphClient
) -> None:
    thread_id, cron = await thread_with_cron(client, "mine")
    assert await bob.crons.search(thread_id=thread_id) == []
    assert await bob.crons.count(thread_id=thread_id) == 0
    with pytest.raises(NotFoundError):
        await bob.crons.update(cron["cron_id"], enabled=False)
    with pytest.raises(NotFoundError):
        await bob.crons.delete(cron["cron_id"])
    with pytest.raises(NotFoundError):  # nor bind a cron to alice's thread
        await bob.crons.create_for_thread(thread_id, "echo", schedule=EVERY_MINUTE)
    assert await client.crons.count(thread_id=thread_id) == 1


async def test_deleting_a_thread_deletes_its_crons_at_once(
    client: LangGraphClient, settings: Settings
) -> None:
    thread_id, cron = await thread_with_cron(client, "bound")
    other_id, other = await thread_with_cron(client, "kept")
    await client.crons.create_for_thread(thread_id, "echo", schedule=EVERY_MINUTE, enabled=False)
    assert await client.crons.count(thread_id=thread_id) == 2

    await client.threads.delete(thread_id)
    # Gone from the table itself, not only from searches, long before any next firing.
    assert await client.crons.count(thread_id=thread_id) == 0
    assert sql(settings, "SELECT cron_id FROM orca_crons WHERE thread_id = %s", (thread_id,)) == []
    with pytest.raises(NotFoundError):
        await client.crons.update(cron["cron_id"], enabled=False)
    assert await client.crons.count(thread_id=other_id) == 1  # another thread's stays
    assert next_run_date(settings, other["cron_id"]) is not None


# Exactly once across schedulers ---------------------------------------------------------
async def test_racing_schedulers_fire_each_cron_once(
    client: LangGraphClient, settings: Settings, tmp_path: Path
) -> None:
    if settings.postgres_url is None:
        pytest.skip("the embedded default is one process: no other scheduler shares its file")
    made = [await thread_with_cron(client, f"race {n}") for n in range(12)]
    with ExitStack() as stack:
        # Two more servers on the same database: three schedulers polling every 20 ms.
        for n in range(2):
            other = settings.model_copy(update={"data_dir": tmp_path / str(n), "cron_poll_s": 0.02})
            stack.enter_context(served(other))
        ids = [cron["cron_id"] for _, cron in made]
        sql(
            settings,
            "UPDATE orca_crons SET next_run_date = date_trunc('second', now()) - interval '1 s'"
            " WHERE cron_id = ANY(%s)",
            (ids,),
        )

        async def all_fired() -> bool:
            return all([await has_runs(client, thread_id, 1) for thread_id, _ in made])

        await until(all_fired, timeout_s=30)
        for cron_id in ids:
            await until(lambda cron_id=cron_id: later_than_now(settings, cron_id))
    for thread_id, _ in made:
        assert len(await client.runs.list(thread_id)) == 1


async def later_than_now(settings: Settings, cron_id: str) -> bool:
    found = next_run_date(settings, cron_id)
    return found is not None and found > datetime.now(UTC)


# A project's own rules (`@auth.on.crons`) -------------------------------------------------
async def test_a_project_s_cron_rules_stamp_filter_and_refuse(tmp_path: Path) -> None:
    settings = runs_settings(
        tmp_path / "var",
        None,
        auth_path="./auth.py:auth",
        auth_base_dir=Path(__file__).parents[2] / "data" / "cron_auth",
    )
    with served(settings) as url:
        people = {
            name: get_client(url=url, api_key=None, headers={"Authorization": f"Bearer {name}"})
            for name in ("alice", "bob", "mallory")
        }
        alice, bob, mallory = people.values()
        made = await alice.crons.create("echo", schedule=YEARLY, metadata={"k": 1})
        assert made["metadata"] == {"k": 1, "person": "alice"}
        # Bob is the same Orca identity (`acme`): only the project's filter hides it.
        assert await bob.crons.search() == [] and await bob.crons.count() == 0
        with pytest.raises(NotFoundError):
            await bob.crons.update(made["cron_id"], enabled=False)
        with pytest.raises(NotFoundError):
            await bob.crons.delete(made["cron_id"])
        assert [c["cron_id"] for c in await alice.crons.search()] == [made["cron_id"]]
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await mallory.crons.create("echo", schedule=YEARLY)
        assert refused.value.response.status_code == 403
        for client in people.values():
            await client.aclose()
