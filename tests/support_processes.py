"""Real Orca processes on one PostgreSQL (or the embedded default), running
`tests.doubles.slow_graph`, and their streams.

`Cluster.start` runs `tests.doubles.runs_runner` (the app, or `orca worker`'s loop, on fake
models) with short lease, heartbeat and sweep intervals; `Orca` is one such process.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parents[1]
GUARD_S = 30.0
"""Longest any wait below may take before the test fails (a failure guard only)."""
KNOBS = {
    # A dead worker's run is requeued within lease + sweep (2.5 s), not the default 35 s.
    "ORCA_RUN_LEASE_S": "2",
    "ORCA_RUN_HEARTBEAT_S": "0.3",
    "ORCA_RUN_SWEEP_INTERVAL_S": "0.5",
    "ORCA_RUN_POLL_S": "0.5",
    "ORCA_RUN_DRAIN_S": "0.5",
    "ORCA_KEEPALIVE_S": "1",
    "ORCA_RATE_LIMIT": "",
    "ORCA_RATE_LIMIT_RUNS": "",
    "ORCA_GRAPHS": json.dumps({"slow": "tests.doubles.slow_graph:build_graph"}),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(condition: Any, what: str) -> None:
    """Poll `condition()` (sync or async) until it holds; fail naming `what` after GUARD_S."""
    deadline = time.monotonic() + GUARD_S
    while True:
        held = condition()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.05)


@dataclass
class Orca:
    """One runner process: `serve` (with `url`) or `work`."""

    name: str
    process: subprocess.Popen[bytes]
    ready: Path
    log: Path
    url: str = ""

    def tail(self) -> str:
        return f"{self.name} exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}"

    async def started(self) -> None:
        def up() -> bool:
            assert self.process.poll() is None, self.tail()
            return self.ready.exists()

        await until(up, f"{self.name} starting")
        if self.url:
            async with httpx.AsyncClient(base_url=self.url) as client:

                async def answers() -> bool:
                    try:
                        return (await client.get("/health")).is_success
                    except httpx.TransportError:
                        return False

                await until(answers, f"{self.name} answering")

    async def exited(self) -> int:
        await until(lambda: self.process.poll() is not None, f"{self.name} exiting")
        return self.process.returncode


@dataclass
class Cluster:
    """Starts runner processes on one database and one slow-graph directory."""

    postgres_url: str | None
    """None: the embedded default (SQLite under each process's `ORCA_DATA_DIR`)."""
    workdir: Path
    processes: list[Orca] = field(default_factory=list)

    def start(self, name: str, mode: str, **settings: str) -> Orca:
        ready, log = self.workdir / f"{name}.ready", self.workdir / f"{name}.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            **KNOBS,
            "ORCA_POSTGRES_URL": self.postgres_url or "",
            "ORCA_DATA_DIR": str(self.workdir / name),
            "SLOW_GRAPH_DIR": str(self.workdir),
            **{f"ORCA_{key.upper()}": value for key, value in settings.items()},
        }
        if not self.postgres_url:
            del env["ORCA_POSTGRES_URL"]
        url, args = "", [str(ready)]
        if mode == "serve":
            port = free_port()
            url, args = f"http://127.0.0.1:{port}", [str(port), str(ready)]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.doubles.runs_runner", mode, *args],
                cwd=self.workdir,  # not the checkout: its `.env` must not configure these
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        orca = Orca(name, process, ready, log, url)
        self.processes.append(orca)
        return orca

    def stop_all(self) -> None:
        # SIGKILL: whatever a failed test left blocked need not drain.
        for orca in self.processes:
            if orca.process.poll() is None:
                orca.process.kill()
            orca.process.wait(timeout=30)

    def release(self, thread_id: str) -> None:
        (self.workdir / f"release-{thread_id}").touch()

    def executions(self, thread_id: str) -> list[tuple[str, int]]:
        """Return (node, attempt) for every node execution of the thread, in order."""
        path = self.workdir / "log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [
            (node, int(attempt))
            for thread, node, attempt in (line.split() for line in lines)
            if thread == thread_id
        ]


async def follow(client: httpx.AsyncClient, path: str, into: list[dict[str, Any]]) -> None:
    """Read the SSE stream at `path` into `into` ({event, data, id}) until it closes."""
    async with client.stream("GET", path) as response:
        assert response.status_code == 200
        event: dict[str, Any] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):  # a heartbeat
                continue
            if line:
                name, _, value = line.partition(": ")
                event[name] = json.loads(value) if name == "data" else value
                continue
            if event:
                into.append(event)
                event = {}
