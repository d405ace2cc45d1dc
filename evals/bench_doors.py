"""Benchmark the doors into one run engine: what each protocol adds to the same run.

Every door starts the same run (the one-node `echo` test graph, on a new thread) and reads
its events to the last one; the figure is the time from sending the request to that last
event, one run at a time, `--runs` runs per door after `--warmup` unmeasured ones. The
runs API's own stream (`POST /threads/{id}/runs/stream`) is the baseline; each other door
is compared to it. Prints median and p90 per door; asserts nothing. Only 127.0.0.1 is
contacted (an in-process server on SQLite, or `--postgres-url`).

    .venv/bin/python -m evals.bench_doors [--runs 50] [--postgres-url URL] [--door NAME ...]

A door is an `async def door(http, thread_id) -> None` that starts the run and returns
when its last event arrived; add one to `DOORS` to compare it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support_runs import runs_settings, served, user

Door = Callable[[httpx.AsyncClient, str], Awaitable[None]]
GRAPH = "echo"


async def runs_api(http: httpx.AsyncClient, thread_id: str) -> None:
    """Stream the run with the runs API (values and messages-tuple, as clients ask)."""
    body = {
        "assistant_id": GRAPH,
        "input": user("ping"),
        "stream_mode": ["values", "messages-tuple"],
        "if_not_exists": "create",
    }
    async with http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as response:
        response.raise_for_status()
        async for _ in response.aiter_lines():
            pass  # the server closes the stream after the run's last event


async def stream_protocol(http: httpx.AsyncClient, thread_id: str) -> None:
    """Start the run with `run.start`, read `stream/events` to the root's terminal event."""
    command = {
        "id": 1,
        "method": "run.start",
        "params": {"assistant_id": GRAPH, "input": user("ping")},
    }
    started = await http.post(f"/threads/{thread_id}/commands", json=command)
    started.raise_for_status()
    body = {"channels": ["values", "messages", "lifecycle"]}
    async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and _root_end(json.loads(line[6:])):
                return


def _root_end(event: dict[str, Any]) -> bool:
    params = event.get("params") or {}
    return (
        event.get("method") == "lifecycle"
        and not params.get("namespace")
        and (params.get("data") or {}).get("event") in ("completed", "failed", "interrupted")
    )


async def mcp(http: httpx.AsyncClient, thread_id: str) -> None:
    """Call the graph's MCP tool (`tools/call` on the stateless `/mcp`) to its result.

    MCP runs are stateless (a temporary thread), so `thread_id` is not used.
    """
    del thread_id
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": GRAPH, "arguments": user("ping")},
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with http.stream("POST", "/mcp", json=call, headers=accept) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"result"' in line:
                return


async def a2a(http: httpx.AsyncClient, thread_id: str) -> None:
    """Send `SendStreamingMessage` (A2A 1.0) on the context `thread_id`; read to its end."""
    message = {
        "messageId": str(uuid.uuid4()),
        "role": "ROLE_USER",
        "contextId": thread_id,
        "parts": [{"text": "ping"}],
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendStreamingMessage",
        "params": {"message": message},
    }
    headers = {"A2A-Version": "1.0", "Accept": "text/event-stream"}
    async with http.stream("POST", f"/a2a/{GRAPH}", json=body, headers=headers) as response:
        response.raise_for_status()
        async for _ in response.aiter_lines():
            pass  # the stream ends after the task's final status


DOORS: dict[str, Door] = {
    "runs-api": runs_api,
    "stream-protocol": stream_protocol,
    "mcp": mcp,
    "a2a": a2a,
}
"""Every door measured, by name; the first is the baseline."""


async def measure(url: str, door: Door, runs: int, warmup: int) -> list[float]:
    """Return the seconds to the last event of `runs` runs through `door`."""
    times: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for index in range(warmup + runs):
            thread_id = str(uuid.uuid4())
            started = time.perf_counter()
            await door(http, thread_id)
            if index >= warmup:
                times.append(time.perf_counter() - started)
    return times


def report(results: dict[str, list[float]]) -> None:
    """Print median and p90 per door, and the median added over the baseline."""
    baseline = statistics.median(next(iter(results.values())))
    print(f"{'door':<18}{'runs':>6}{'median ms':>12}{'p90 ms':>10}{'added ms':>10}")
    for name, times in results.items():
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        added = (median - baseline) * 1000
        print(f"{name:<18}{len(times):>6}{median * 1000:>12.1f}{p90 * 1000:>10.1f}{added:>+10.1f}")


def main() -> None:
    """Serve the app in this process and measure each door in turn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--door", action="append", choices=sorted(DOORS), default=None)
    args = parser.parse_args()
    chosen = {name: DOORS[name] for name in args.door or DOORS}
    data_dir = Path(tempfile.mkdtemp(prefix="bench-doors-")) / "var"
    with served(runs_settings(data_dir, args.postgres_url)) as url:
        results = {
            name: asyncio.run(measure(url, door, args.runs, args.warmup))
            for name, door in chosen.items()
        }
    report(results)


if __name__ == "__main__":
    main()
