"""`orca serve --workers N`: refused on the embedded default, N processes on shared state.

Real `orca` processes: the CLI as users run it, PostgreSQL, Redis for the rate limits, and
the `langgraph-sdk` client for the runs. The Qdrant URL names a closed loopback port: no
start-up step calls Qdrant, and these runs never do.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client

from checkpoints import open_checkpointer
from server.store.open import _setup_postgres
from tests.integration.conftest import ADMIN_URL
from tests.support_processes import free_port

ROOT = Path(__file__).parents[2]
ORCA = str(Path(sys.executable).with_name("orca"))
START_GUARD_S = 240.0
"""Longest two processes may take to start on a busy machine (a failure guard only)."""


async def until(condition: Callable[[], Awaitable[bool]], what: str, log: Path) -> None:
    """Await `condition()` until it holds; fail with the server's log after the guard."""
    deadline = time.monotonic() + START_GUARD_S
    while not await condition():
        if time.monotonic() > deadline:
            tail = await asyncio.to_thread(log.read_text, errors="replace")
            raise AssertionError(f"{what} never happened:\n{tail[-3000:]}")
        await asyncio.sleep(0.1)


def clean_env(**more: str) -> dict[str, str]:
    """Return the environment without any ORCA_* variable of the caller, plus `more`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORCA_")}
    return {**env, "PYTHONPATH": str(ROOT), **more}


def test_workers_are_refused_on_the_embedded_default(tmp_path: Path) -> None:
    result = subprocess.run(
        [ORCA, "serve", "--workers", "2", "--port", str(free_port())],
        cwd=tmp_path,  # not the checkout: its `.env` must not configure this server
        env=clean_env(ORCA_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert message.startswith("error: --workers 2 needs state every process shares")
    assert "ORCA_POSTGRES_URL" in message
    assert "ORCA_QDRANT_URL" in message
    assert "ORCA_REDIS_URL" in message  # the default rate limits are on
    assert not (tmp_path / "data").exists()  # refused before opening anything


def test_rate_limits_without_redis_are_refused(tmp_path: Path) -> None:
    env = clean_env(
        ORCA_DATA_DIR=str(tmp_path),
        ORCA_POSTGRES_URL="postgresql://postgres@127.0.0.1:5432/unused",
        ORCA_QDRANT_URL="http://127.0.0.1:6333",
    )
    result = subprocess.run(
        [ORCA, "serve", "--workers", "3"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "ORCA_REDIS_URL" in message
    assert "ORCA_POSTGRES_URL" not in message and "ORCA_QDRANT_URL" not in message


@pytest.fixture
def two_workers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Start `orca serve --workers 2` on PostgreSQL and Redis; yield its URL and log."""
    port, log = free_port(), tmp_path / "serve.log"
    env = clean_env(
        ORCA_DATA_DIR=str(tmp_path / "data"),
        ORCA_POSTGRES_URL=postgres_url,
        ORCA_QDRANT_URL=f"http://127.0.0.1:{free_port()}",
        ORCA_REDIS_URL="redis://127.0.0.1:6379/0",
        ORCA_CHAT_PROVIDER="openai",
        ORCA_LLM01_URL=f"http://127.0.0.1:{free_port()}/v1",
        ORCA_EMBEDDING_PROVIDER="ollama",
        ORCA_OLLAMA_URL=f"http://127.0.0.1:{free_port()}",
        ORCA_GRAPHS=json.dumps({"bench": "evals.bench_graph:build_graph"}),
        ORCA_LOG_FORMAT="text",
        ORCA_LOG_LEVEL="INFO",
        ORCA_HEADER_TIMEOUT_S="1",
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [ORCA, "serve", "--workers", "2", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.mark.integration
async def test_two_workers_serve_runs_on_one_port(two_workers: tuple[str, Path]) -> None:
    url, log = two_workers

    async def both_ready() -> bool:
        # Each process logs once its lifespan has opened everything.
        text = await asyncio.to_thread(log.read_text, errors="replace")
        return text.count("ready in") == 2

    await until(both_ready, "both workers starting", log)
    async with httpx.AsyncClient(base_url=url) as http:

        async def answers() -> bool:
            try:
                return (await http.get("/health")).is_success
            except httpx.TransportError:
                return False

        await until(answers, "the port answering", log)
    async with get_client(url=url) as client:
        for _ in range(6):
            thread = await client.threads.create()
            result = await client.runs.wait(thread["thread_id"], "bench", input={"count": 0})
            assert result == {"count": 2, "trace": ["first", "second"]}
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as silent:
        assert silent.recv(1) == b""  # closed for sending no request head
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """Create an empty database (no LangGraph tables yet); yield its URL; drop it."""
    name = f"orca_setup_{os.getpid()}_{free_port()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.integration
async def test_processes_starting_together_set_up_the_tables_once(
    fresh_database: str, tmp_path: Path
) -> None:
    # Two processes' start-up steps at once on an empty database: LangGraph's migrations
    # build indexes CONCURRENTLY, which deadlocked against a process waiting for the lock.
    async def start() -> None:
        async with open_checkpointer(postgres_url=fresh_database, sqlite_path=tmp_path / "x"):
            await _setup_postgres(fresh_database)

    await asyncio.wait_for(asyncio.gather(*(start() for _ in range(3))), timeout=START_GUARD_S)
    with psycopg.connect(fresh_database) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    assert {"checkpoints", "checkpoint_writes", "store"} <= tables
