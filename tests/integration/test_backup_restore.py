"""deploy/scripts/backup.sh and restore.sh: back up, wipe, restore, and everything is back.

Checkpoints are real (a compiled graph over the service's own `open_checkpointer`, on
PostgreSQL in a database of the test's own, and on SQLite); Qdrant is local mode (the only
Qdrant here) end to end, and the snapshot API of a Qdrant server is the loopback double in
tests/doubles/qdrant_snapshots.py. The scripts run as an operator would run them, with the
settings in ORCA_* variables.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from langchain_core.messages import HumanMessage
from qdrant_client import QdrantClient, models

from checkpoints import CheckpointStore, open_checkpointer
from server.migrations import migrate
from tests.doubles.echo_graph import build_graph
from tests.doubles.qdrant_snapshots import create_qdrant_double, pack
from tests.support import live_server

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).parents[2] / "deploy" / "scripts"
THREADS = {"alpha": ["first question", "second question"], "beta": ["only question"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    script: str, *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run a script as an operator would: bash, the ORCA_* variables in the environment."""
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        env={**os.environ, "ORCA_PYTHON": sys.executable, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def arun(
    script: str, *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, script, *args, env=env, cwd=cwd)


async def write_threads(store: CheckpointStore) -> None:
    graph = build_graph(store.saver)
    for thread, questions in THREADS.items():
        for question in questions:
            config = {"configurable": {"thread_id": thread}}
            await graph.ainvoke({"messages": [HumanMessage(question)]}, config)  # type: ignore[arg-type]


async def read_threads(store: CheckpointStore) -> dict[str, Any]:
    """Each thread's latest checkpoint (messages) and how many checkpoints it has."""
    graph = build_graph(store.saver)
    seen: dict[str, Any] = {}
    for thread in THREADS:
        config = {"configurable": {"thread_id": thread}}
        state = await graph.aget_state(config)  # type: ignore[arg-type]
        history = [c async for c in store.saver.alist(config)]  # type: ignore[arg-type]
        seen[thread] = {
            "messages": [(type(m).__name__, m.content, m.id) for m in state.values["messages"]],
            "checkpoints": len(history),
            "latest": history[0].checkpoint["id"],
        }
    return seen


POINTS = [
    models.PointStruct(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"doc-{n}")),
        vector=[float(n), 1.0, 0.5, -1.0],
        payload={"source": f"doc-{n}.md", "tenant": "default", "text": f"chunk {n}"},
    )
    for n in range(6)
]


def seed_qdrant(client: QdrantClient, collections: dict[str, int]) -> None:
    for name, count in collections.items():
        client.create_collection(
            name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
        )
        client.upsert(name, POINTS[:count], wait=True)


def read_qdrant(client: QdrantClient) -> dict[str, Any]:
    """Every collection's points: id → (payload, vector)."""
    found: dict[str, Any] = {}
    for collection in client.get_collections().collections:
        points, _ = client.scroll(collection.name, limit=1000, with_payload=True, with_vectors=True)
        found[collection.name] = {str(p.id): (p.payload, p.vector) for p in points}
    return found


def read_local_qdrant(path: Path) -> dict[str, Any]:
    client = QdrantClient(path=str(path))
    try:
        return read_qdrant(client)
    finally:
        client.close()


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    """A database of this test's own on the test server (it is dropped mid-test)."""
    base, _, _ = postgres_url.rpartition("/")
    name = f"orca_backup_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def recreate_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def service_tables(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        return {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]
            for name in names
        }


async def test_postgres_and_local_qdrant_round_trip(own_database: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {
        "ORCA_POSTGRES_URL": own_database,
        "ORCA_DATA_DIR": str(data_dir),
        "ORCA_PORT": str(free_port()),
    }
    async with open_checkpointer(
        postgres_url=own_database, sqlite_path=data_dir / "checkpoints.sqlite"
    ) as store:
        await write_threads(store)
        threads = await read_threads(store)
    async with await psycopg.AsyncConnection.connect(own_database, autocommit=True) as conn:
        await migrate(conn)  # the service's own tables, as at start-up
    tables = service_tables(own_database)
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "orca_migrations"} <= set(
        tables
    )
    client = QdrantClient(path=str(data_dir / "qdrant"))
    seed_qdrant(client, {"documents": 6, "notes": 2})
    client.close()
    points = read_local_qdrant(data_dir / "qdrant")

    backup = tmp_path / "backups" / "one"
    made = await arun("backup.sh", str(backup), env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(backup)
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["checkpoints"]["kind"] == "postgres"
    assert manifest["checkpoints"]["threads"] == 2
    assert manifest["checkpoints"]["tables"]["public.checkpoints"] == tables["checkpoints"]
    assert manifest["qdrant"]["mode"] == "local"
    assert manifest["qdrant"]["collections"] == [
        {"name": "documents", "points": 6},
        {"name": "notes", "points": 2},
    ]
    assert not backup.with_name("one.partial").exists()

    # Wipe: a new, empty database and no Qdrant directory.
    recreate_database(own_database)
    shutil.rmtree(data_dir / "qdrant")
    assert service_tables(own_database) == {}

    refused = await arun("restore.sh", str(backup), env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    assert service_tables(own_database) == {}

    restored = await arun("restore.sh", "--yes", str(backup), env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "warning" not in restored.stderr

    assert service_tables(own_database) == tables
    assert read_local_qdrant(data_dir / "qdrant") == points
    async with open_checkpointer(
        postgres_url=own_database, sqlite_path=data_dir / "checkpoints.sqlite"
    ) as store:
        assert await read_threads(store) == threads
        # The restored thread continues where it was.
        graph = build_graph(store.saver)
        config = {"configurable": {"thread_id": "beta"}}
        await graph.ainvoke({"messages": [HumanMessage("after restore")]}, config)  # type: ignore[arg-type]
        state = await graph.aget_state(config)  # type: ignore[arg-type]
        assert [m.content for m in state.values["messages"]] == [
            "only question",
            "echo: only question",
            "after restore",
            "echo: after restore",
        ]

    # Restoring over live tables (the usual case) replaces what was written since.
    again = await arun("restore.sh", "--yes", str(backup), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert service_tables(own_database) == tables
    async with open_checkpointer(
        postgres_url=own_database, sqlite_path=data_dir / "checkpoints.sqlite"
    ) as store:
        assert await read_threads(store) == threads


async def test_sqlite_and_local_qdrant_round_trip(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {"ORCA_DATA_DIR": str(data_dir), "ORCA_BACKUP_DIR": str(tmp_path / "backups")}
    env["ORCA_PORT"] = str(free_port())
    sqlite_path = data_dir / "checkpoints.sqlite"
    async with open_checkpointer(postgres_url=None, sqlite_path=sqlite_path) as store:
        await write_threads(store)
        threads = await read_threads(store)
    client = QdrantClient(path=str(data_dir / "qdrant"))
    seed_qdrant(client, {"documents": 4})

    # The server holds local Qdrant's lock while it runs: refused, and nothing is left.
    held = await arun("backup.sh", env=env, cwd=tmp_path)
    assert held.returncode == 1
    assert "locked by a running process" in held.stderr
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
    forced = await arun("backup.sh", "--force", str(tmp_path / "forced"), env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert json.loads((tmp_path / "forced" / "manifest.json").read_text())["qdrant"][
        "server_was_running"
    ]
    client.close()
    points = read_local_qdrant(data_dir / "qdrant")

    made = await arun("backup.sh", env=env, cwd=tmp_path)  # into $ORCA_BACKUP_DIR/<timestamp>
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip())
    assert backup.parent == tmp_path / "backups"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["checkpoints"]["kind"] == "sqlite"
    assert manifest["checkpoints"]["threads"] == 2

    sqlite_path.unlink()
    shutil.rmtree(data_dir / "qdrant")

    # A server answering on ORCA_PORT: restore refuses to write under it.
    probe = FastAPI()
    probe.get("/health")(lambda: {"status": "ok"})
    with live_server(probe) as url:
        busy = await arun(
            "restore.sh",
            "--yes",
            str(backup),
            env={**env, "ORCA_PORT": url.rsplit(":", 1)[1]},
            cwd=tmp_path,
        )
    assert busy.returncode == 1
    assert "stop it first" in busy.stderr
    assert not sqlite_path.exists()

    restored = await arun("restore.sh", "--yes", str(backup), env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert read_local_qdrant(data_dir / "qdrant") == points
    async with open_checkpointer(postgres_url=None, sqlite_path=sqlite_path) as store:
        assert await read_threads(store) == threads


@pytest.fixture
def qdrant_server() -> Iterator[tuple[FastAPI, str]]:
    double = create_qdrant_double(api_key="s3cret")
    with live_server(double) as url:
        yield double, url


def remote_client(url: str) -> QdrantClient:
    with warnings.catch_warnings():
        # "Api key is used with an insecure connection": loopback in a test.
        warnings.simplefilter("ignore", UserWarning)
        return QdrantClient(url=url, api_key="s3cret", check_compatibility=False)


def remote_env(tmp_path: Path, url: str, *, api_key: str) -> dict[str, str]:
    """Return the scripts' settings for a remote Qdrant at `url`."""
    return {
        "ORCA_DATA_DIR": str(tmp_path / "var"),
        "ORCA_QDRANT_URL": url,
        "ORCA_QDRANT_API_KEY": api_key,
        "ORCA_PORT": str(free_port()),
    }


async def test_remote_qdrant_goes_through_the_snapshot_api(
    qdrant_server: tuple[FastAPI, str], tmp_path: Path
) -> None:
    double, url = qdrant_server
    env = remote_env(tmp_path, url, api_key="s3cret")
    client = remote_client(url)
    seed_qdrant(client, {"documents": 5, "notes": 3})
    before = read_qdrant(client)
    snapshots_now = {name: pack(c) for name, c in double.state.collections.items()}
    double.state.calls.clear()

    backup = tmp_path / "backup"
    made = await arun("backup.sh", str(backup), env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    calls = [(method, path) for method, path, _, _ in double.state.calls]
    for name in ("documents", "notes"):
        assert ("POST", f"/collections/{name}/snapshots") in calls
        downloads = [
            p for m, p in calls if m == "GET" and p.startswith(f"/collections/{name}/snapshots/")
        ]
        deletes = [
            p for m, p in calls if m == "DELETE" and p.startswith(f"/collections/{name}/snapshots/")
        ]
        assert len(downloads) == 1
        assert deletes == downloads, "the snapshot is deleted from the server once downloaded"
    assert all(key == "s3cret" for _, _, _, key in double.state.calls)
    assert double.state.snapshots == {"documents": {}, "notes": {}}
    qdrant = json.loads((backup / "manifest.json").read_text())["qdrant"]
    assert qdrant["mode"] == "remote"
    assert [(c["name"], c["points"]) for c in qdrant["collections"]] == [
        ("documents", 5),
        ("notes", 3),
    ]
    files = {c["name"]: (backup / c["file"]).read_bytes() for c in qdrant["collections"]}
    assert files == snapshots_now, "the backup holds the bytes the server's snapshots had"

    # The server loses "notes" and gets a different "documents".
    double.state.collections.clear()
    seed_qdrant(client, {"documents": 1})
    client.upsert(
        "documents", [models.PointStruct(id=99, vector=[0.0, 0.0, 0.0, 1.0], payload={"x": 1})]
    )
    double.state.calls.clear()

    restored = await arun("restore.sh", "--yes", str(backup), env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    uploads = [(p, q) for m, p, q, _ in double.state.calls if m == "POST" and p.endswith("/upload")]
    assert [p for p, _ in uploads] == [
        "/collections/documents/snapshots/upload",
        "/collections/notes/snapshots/upload",
    ]
    for (_, query), name in zip(uploads, ("documents", "notes"), strict=True):
        assert query["priority"] == "snapshot"
        assert (
            query["checksum"]
            == [c["sha256"] for c in qdrant["collections"] if c["name"] == name][0]
        )
    assert all(key == "s3cret" for _, _, _, key in double.state.calls)
    assert double.state.uploads == files, "restore uploads the downloaded bytes as they are"
    assert read_qdrant(client) == before
    client.close()


async def test_remote_qdrant_failures_leave_nothing_behind(
    qdrant_server: tuple[FastAPI, str], tmp_path: Path
) -> None:
    double, url = qdrant_server
    env = remote_env(tmp_path, url, api_key="wrong")
    client = remote_client(url)
    seed_qdrant(client, {"documents": 2})

    denied = await arun("backup.sh", str(tmp_path / "b"), env=env, cwd=tmp_path)
    assert denied.returncode == 1
    assert "Qdrant answered 401" in denied.stderr
    assert "wrong" not in denied.stderr, "the API key is never printed"
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()

    env["ORCA_QDRANT_API_KEY"] = "s3cret"
    made = await arun("backup.sh", str(tmp_path / "b"), env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    # A damaged snapshot: refused before anything is uploaded.
    snapshot = next((tmp_path / "b" / "qdrant" / "snapshots").iterdir())
    data = snapshot.read_bytes()
    snapshot.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])
    double.state.calls.clear()
    damaged = await arun("restore.sh", "--yes", str(tmp_path / "b"), env=env, cwd=tmp_path)
    assert damaged.returncode == 1
    assert "does not match its sha256" in damaged.stderr
    assert double.state.calls == []
    # A backup of the other kind than the settings: refused, naming the variable.
    local = {k: v for k, v in env.items() if not k.startswith("ORCA_QDRANT")}
    mismatch = await arun("restore.sh", "--yes", str(tmp_path / "b"), env=local, cwd=tmp_path)
    assert mismatch.returncode == 1
    assert "ORCA_QDRANT_URL is not set" in mismatch.stderr
    client.close()
