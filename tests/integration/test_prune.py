"""`orca prune`: idle threads go whole, recent ones stay whole, a dry run deletes nothing.

Run against real PostgreSQL (a database of its own on the test server) and SQLite, with
checkpoints written by a compiled graph. "Old" threads are made by rewriting the `ts` of
their stored checkpoints after the run: on PostgreSQL `ts` is a key of the `checkpoint`
JSONB column (`jsonb_set`); on SQLite the checkpoint is a serialised blob, so each row is
loaded with the saver's serde, its `ts` replaced, dumped again and written back. Only `ts`
changes; ids, blobs and writes stay what the graph wrote.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph
from typer.testing import CliRunner

from checkpoints import CheckpointStore, open_checkpointer
from checkpoints.prune import (
    delete_idle_threads,
    find_idle_threads,
    parse_duration,
    prune_idle_threads,
)
from server.commands.prune import prune_command
from tests.doubles.echo_graph import build_graph

pytestmark = pytest.mark.integration

OLD = ("old-a", "old-b", "old-c")
NEW = ("new-a",)
MIXED = "mixed"
"""A thread whose first turn is old and whose second turn is recent: an active thread."""
LONG_AGO = datetime.now(UTC) - timedelta(days=40)


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    """A database of this test's own on the test server, so counts are exact."""
    base, _, _ = postgres_url.rpartition("/")
    name = f"orca_prune_{uuid.uuid4().hex[:10]}"
    admin = f"{base}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def postgres_or_none(backend: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("own_database") if backend == "postgres" else None


@pytest.fixture
async def store(postgres_or_none: str | None, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    async with open_checkpointer(
        postgres_url=postgres_or_none, sqlite_path=tmp_path / "var" / "checkpoints.sqlite"
    ) as opened:
        yield opened


async def talk(graph: CompiledStateGraph[Any, Any, Any, Any], thread: str, text: str) -> None:
    config = {"configurable": {"thread_id": thread}}
    await graph.ainvoke({"messages": [HumanMessage(text)]}, config)  # type: ignore[arg-type]


async def age_checkpoints(store: CheckpointStore, thread: str, ids: list[str] | None) -> None:
    """Rewrite `ts` of the thread's checkpoints (all, or those in `ids`) to 40 days ago."""
    stamp = LONG_AGO.isoformat()
    if store.kind == "postgres":
        async with store.saver.conn.connection() as conn:  # type: ignore[attr-defined]
            await conn.execute(
                "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', to_jsonb(%s::text))"
                " WHERE thread_id = %s AND (%s::text[] IS NULL OR checkpoint_id = ANY(%s))",
                (stamp, thread, ids, ids),
            )
        return
    saver: Any = store.saver
    async with saver.lock:
        cursor = await saver.conn.execute(
            "SELECT checkpoint_ns, checkpoint_id, type, checkpoint FROM checkpoints"
            " WHERE thread_id = ?",
            (thread,),
        )
        for ns, checkpoint_id, kind, blob in await cursor.fetchall():
            if ids is not None and checkpoint_id not in ids:
                continue
            checkpoint = saver.serde.loads_typed((kind, blob))
            checkpoint["ts"] = stamp
            new_kind, new_blob = saver.serde.dumps_typed(checkpoint)
            await saver.conn.execute(
                "UPDATE checkpoints SET type = ?, checkpoint = ?"
                " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                (new_kind, new_blob, thread, ns, checkpoint_id),
            )
        await saver.conn.commit()


async def rows(store: CheckpointStore) -> dict[str, dict[str, int]]:
    """Row counts per table per thread, over every table a thread has rows in."""
    tables = (
        ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
        if store.kind == "postgres"
        else ("checkpoints", "writes")
    )
    counts: dict[str, dict[str, int]] = {}
    for table in tables:
        sql = f"SELECT thread_id, count(*) FROM {table} GROUP BY thread_id"
        if store.kind == "postgres":
            async with store.saver.conn.connection() as conn:  # type: ignore[attr-defined]
                found = [tuple(r.values()) for r in await (await conn.execute(sql)).fetchall()]
        else:
            saver: Any = store.saver
            async with saver.lock:
                found = list(await (await saver.conn.execute(sql)).fetchall())
        for thread, count in found:
            counts.setdefault(thread, {})[table] = count
    return counts


async def seed(store: CheckpointStore) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Old threads (two turns each), a recent one, and one old then recently continued."""
    graph = build_graph(store.saver)
    for thread in (*OLD, *NEW, MIXED):
        await talk(graph, thread, f"hello from {thread}")
    for thread in OLD:
        await talk(graph, thread, "second turn")
        await age_checkpoints(store, thread, None)
    await age_checkpoints(store, MIXED, None)
    await talk(graph, MIXED, "back after a month")  # new checkpoints with today's ts
    return graph


async def test_idle_threads_go_whole_and_active_ones_stay_whole(store: CheckpointStore) -> None:
    graph = await seed(store)
    before = await rows(store)
    assert all(before[t]["checkpoints"] >= 3 for t in (*OLD, *NEW, MIXED))
    writes = "checkpoint_writes" if store.kind == "postgres" else "writes"
    assert all(before[t][writes] > 0 for t in OLD), "the graph left pending writes to prune"
    mixed_state = await graph.aget_state({"configurable": {"thread_id": MIXED}})

    dry = await prune_idle_threads(store, older_than=timedelta(days=30), dry_run=True)
    assert sorted(t.thread_id for t in dry.threads) == sorted(OLD)
    assert all(t.last_checkpoint_at < dry.cutoff for t in dry.threads)
    assert await rows(store) == before, "a dry run deleted something"

    report = await prune_idle_threads(store, older_than=timedelta(days=30), batch_size=2)
    assert sorted(t.thread_id for t in report.threads) == sorted(OLD)
    assert report.skipped == []
    after = await rows(store)
    assert not set(OLD) & set(after), f"rows of pruned threads remain: {after}"
    assert {t: after[t] for t in (*NEW, MIXED)} == {t: before[t] for t in (*NEW, MIXED)}
    assert report.checkpoints_deleted == sum(before[t]["checkpoints"] for t in OLD)
    assert report.writes_deleted == sum(before[t][writes] for t in OLD)
    if store.kind == "postgres":
        assert report.blobs_deleted == sum(before[t]["checkpoint_blobs"] for t in OLD)

    # The kept threads still read back and continue as before.
    assert (await graph.aget_state({"configurable": {"thread_id": MIXED}})).values == (
        mixed_state.values
    )
    for thread in OLD:
        assert (await graph.aget_state({"configurable": {"thread_id": thread}})).values == {}
    await talk(graph, NEW[0], "still here")
    state = await graph.aget_state({"configurable": {"thread_id": NEW[0]}})
    assert [m.content for m in state.values["messages"]][-2:] == ["still here", "echo: still here"]


async def test_a_thread_written_to_after_the_scan_is_kept(store: CheckpointStore) -> None:
    graph = build_graph(store.saver)
    for thread in ("quiet", "woken"):
        await talk(graph, thread, "hello")
        await age_checkpoints(store, thread, None)
    cutoff = datetime.now(UTC) - timedelta(days=30)
    idle = await find_idle_threads(store, cutoff=cutoff)
    assert sorted(t.thread_id for t in idle) == ["quiet", "woken"]

    await talk(graph, "woken", "I'm back")  # between the scan and the delete
    woken_before = (await rows(store))["woken"]
    report = await delete_idle_threads(store, idle, cutoff=cutoff)

    assert [t.thread_id for t in report.threads] == ["quiet"]
    assert report.skipped == ["woken"]
    after = await rows(store)
    assert "quiet" not in after
    assert after["woken"] == woken_before


def test_parse_duration() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration(" 12H ") == timedelta(hours=12)
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("", "30", "d", "-1d", "0d", "1.5d", "30 days"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def cli() -> typer.Typer:
    # `server.cli` registers the command; a group of its own here keeps the test on it.
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("prune")(prune_command)
    return app


def test_prune_command(
    postgres_or_none: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sync test: the command runs its own event loop with asyncio.run, as from a shell.
    monkeypatch.setenv("ORCA_DATA_DIR", str(tmp_path / "var"))
    if postgres_or_none:
        monkeypatch.setenv("ORCA_POSTGRES_URL", postgres_or_none)

    async def prepare() -> dict[str, dict[str, int]]:
        async with open_checkpointer(
            postgres_url=postgres_or_none, sqlite_path=tmp_path / "var" / "checkpoints.sqlite"
        ) as opened:
            await seed(opened)
            return await rows(opened)

    async def count() -> dict[str, dict[str, int]]:
        async with open_checkpointer(
            postgres_url=postgres_or_none, sqlite_path=tmp_path / "var" / "checkpoints.sqlite"
        ) as opened:
            return await rows(opened)

    before = asyncio.run(prepare())
    runner = CliRunner()

    dry = runner.invoke(cli(), ["prune", "--older-than", "30d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert all(thread in dry.output for thread in OLD)
    assert "nothing was deleted" in dry.output
    assert asyncio.run(count()) == before

    bad = runner.invoke(cli(), ["prune", "--older-than", "a month"])
    assert bad.exit_code == 2
    assert "not a duration" in bad.output

    done = runner.invoke(cli(), ["prune", "--older-than", "30d"])
    assert done.exit_code == 0, done.output
    assert "deleted 3 threads" in done.output
    assert sorted(asyncio.run(count())) == sorted((*NEW, MIXED))
