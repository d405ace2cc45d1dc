"""The embedded default across a restart: threads, runs and streams are still there after it.

Without PostgreSQL, threads, their metadata, runs and stream buffers live in
`$ORCA_DATA_DIR/orca.sqlite` (`server/runs/sqlite_store.py`), checkpoints beside them. A
server stopped (drained) or killed and started again on the same data dir answers for
them as before; a run that was running resumes from its last checkpoint, and a pending
one runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.doubles.gated_graph import hold, release, waiting
from tests.support import eventually
from tests.support_processes import GUARD_S, Cluster, until
from tests.support_runs import runs_settings, served, texts, user

pytestmark = pytest.mark.integration


async def test_threads_and_runs_outlive_a_restart_and_a_drained_run_resumes(
    tmp_path: Path,
) -> None:
    # No drain: the held run goes back to the queue at the stop, and must run after it.
    settings = runs_settings(tmp_path / "var", None, run_drain_s=0)
    tag, label = uuid.uuid4().hex, f"held-{uuid.uuid4().hex[:8]}"
    hold(label)
    with served(settings) as url:
        async with get_client(url=url) as client:
            chat = (await client.threads.create(metadata={"tag": tag, "kind": "chat"}))["thread_id"]
            done = await client.runs.create(chat, "echo", input=user("one"))
            await client.runs.join(chat, done["run_id"])
            gated = (await client.threads.create(metadata={"tag": tag}))["thread_id"]
            drained = await client.runs.create(gated, "gated", input={"label": label})
            await eventually(lambda: waiting(label))
            queued = await client.runs.create(gated, "gated", input={"label": "next"})
    # Leaving `served` stopped the server, which handed the held run back to the queue.
    release(label)

    with served(settings) as url:
        async with get_client(url=url) as client:
            thread = await client.threads.get(chat)
            metadata = thread["metadata"]
            assert (metadata["tag"], metadata["kind"], metadata["graph_id"]) == (
                tag,
                "chat",
                "echo",
            )
            assert thread["status"] == "idle"
            assert texts(thread["values"]) == ["one", "echo: one"]
            state = await client.threads.get_state(chat)
            assert texts(state["values"]) == ["one", "echo: one"]
            assert len(await client.threads.get_history(chat)) >= 2
            found = await client.threads.search(metadata={"tag": tag})
            assert {t["thread_id"] for t in found} == {chat, gated}
            assert await client.threads.count(metadata={"tag": tag, "kind": "chat"}) == 1
            runs = await client.runs.list(chat)
            assert [(r["run_id"], r["status"]) for r in runs] == [(done["run_id"], "success")]
            # Its stream buffer too: a late reader replays the whole run.
            replayed = [part.event async for part in client.runs.join_stream(chat, done["run_id"])]
            assert replayed == ["metadata", "values", "values"]

            await client.runs.join(gated, drained["run_id"])
            assert (await client.runs.get(gated, drained["run_id"]))["attempt"] == 2
            await client.runs.join(gated, queued["run_id"])
            final = await client.runs.get(gated, queued["run_id"])
            assert final["status"] == "success"
            values = (await client.threads.get_state(gated))["values"]
            # `begin` of the drained run completed before the stop: it did not run again.
            assert values["log"] == [f"{label}:begin", f"{label}:done", "next:begin", "next:done"]
            statuses = [r["status"] for r in await client.runs.list(gated)]
            assert statuses == ["success", "success"]


def stored_events(data_dir: Path, run_id: str) -> int:
    """Count the run's events in the SQLite file (the server is still writing it)."""
    path = data_dir / "orca.sqlite"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path, timeout=GUARD_S)) as db:
        row = db.execute("SELECT count(*) FROM orca_run_events WHERE run_id = ?", (run_id,))
        return int(row.fetchone()[0])


async def test_a_run_in_flight_at_a_kill_resumes_after_the_restart(tmp_path: Path) -> None:
    cluster = Cluster(None, tmp_path)
    data_dir = tmp_path / "var"
    thread_id = f"embedded-{uuid.uuid4().hex[:8]}"
    try:
        first = cluster.start("first", "serve", data_dir=str(data_dir))
        await first.started()
        async with get_client(url=first.url, timeout=GUARD_S) as client:
            await client.threads.create(thread_id=thread_id, metadata={"tag": thread_id})
            run = await client.runs.create(thread_id, "slow", input={"topic": "falcons"})
            queued = await client.runs.create(thread_id, "slow", input={"topic": "owls"})
        # `slow` is waiting in the first process, and `first`'s events are in the file.
        await until(lambda: ("slow", 1) in cluster.executions(thread_id), "slow starting")
        await until(lambda: stored_events(data_dir, run["run_id"]) >= 2, "events stored")

        os.kill(first.process.pid, signal.SIGKILL)
        assert await first.exited() == -signal.SIGKILL
        second = cluster.start("second", "serve", data_dir=str(data_dir))
        await second.started()
        cluster.release(thread_id)
        async with get_client(url=second.url, timeout=GUARD_S) as client:
            seen: list[dict[str, Any]] = []
            async for part in client.runs.join_stream(thread_id, run["run_id"]):
                seen.append({"event": part.event, "data": part.data})
            await client.runs.join(thread_id, queued["run_id"])
            first_run = await client.runs.get(thread_id, run["run_id"])
            second_run = await client.runs.get(thread_id, queued["run_id"])
            assert (first_run["status"], first_run["attempt"]) == ("success", 2)
            assert (second_run["status"], second_run["attempt"]) == ("success", 1)
            # `first` completed before the kill and its checkpoint survived: not run again.
            assert cluster.executions(thread_id) == [
                ("first", 1),
                ("slow", 1),
                ("slow", 2),
                ("last", 2),
                ("first", 1),
                ("slow", 1),
                ("last", 1),
            ]
            # One stream across the kill: attempt 1's stored events, then attempt 2's.
            attempts = [e["data"]["attempt"] for e in seen if e["event"] == "metadata"]
            assert attempts == [1, 2]
            state = await client.threads.get_state(thread_id)
            assert state["values"]["steps"] == ["first", "slow", "last"] * 2
            found = await client.threads.search(metadata={"tag": thread_id})
            assert [t["thread_id"] for t in found] == [thread_id]
            assert found[0]["status"] == "idle"
            listed = await client.runs.list(thread_id)
            assert [r["run_id"] for r in listed] == [queued["run_id"], run["run_id"]]
    finally:
        cluster.stop_all()
