"""Benchmark the threads/runs API: Orca against `langgraph dev`, Aegra and in-process LangGraph.

One run measures, one server at a time (the servers and this load generator share the
machine's cores), the trivial two-node graph of `evals/bench_graph.py`:

- `langgraph dev` (LangGraph's in-memory Agent Server, from its own venv under `var/`);
- Aegra (aegra-api 0.11, PostgreSQL, its in-process executor; `--aegra` names the uvicorn of
  its own venv, `var/aegra` by default), on its own throw-away database;
- Citadel Orca (`orca serve`, started here on a throw-away PostgreSQL database, unless
  `--orca-url` names a running one), with `durability` sync, async and exit in the run body;
- the ceiling: the graph on Orca's own checkpointer (`open_checkpointer`: AsyncPostgresSaver
  on the server's pool settings) invoked in this process, per durability.

Both servers get the paths and bodies `langgraph-sdk` sends, and the same client: wrk
(`evals/wrk_runs.py`; `--no-wrk` for httpx) on `POST /threads/{id}/runs/wait`, one run per
thread created beforehand, for `--duration` seconds at concurrency 1 and 16, after a
warm-up whose answers are checked; then time to the first event of
`POST /threads/{id}/runs/stream` (stream_mode "values", one run at a time, httpx): TTFE is
the first `values` event, "1st event" whatever comes first (`metadata`).
`langgraph dev`'s in-memory queue polls for pending runs every 0.5 s (langgraph-runtime-inmem
`Runs.next`), so its runs wait about 1 s whatever the load: its c=1 rows take most of the time.
Prints a table and ratios; asserts nothing. Only 127.0.0.1 is contacted. `make bench-runs`
builds the `langgraph dev` venv and runs:

    .venv/bin/python -m evals.bench_runs --langgraph-dev var/langgraph-dev/bin/langgraph
        [--orca-url URL] [--postgres-url URL] [--json out.json] [--skip orca] [--runs-c1 N]
        [--aegra PATH] [--orca-workers N] [--concurrency 1,16,64] [--durability sync,exit]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from evals.bench_aegra import aegra_rows
from evals.bench_embeddings import free_port, process
from evals.wrk_runs import server_sums, where_the_time_goes, wrk_waits

ROOT = Path(__file__).resolve().parents[1]
INPUT = {"count": 0}
DURABILITIES = ("sync", "async", "exit")
LANGGRAPH_DEV_DURABILITIES = (None, "sync", "exit")
"""`langgraph dev` without `durability` runs "async" (langgraph-api's models/run.py)."""
LANGGRAPH_DEV_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # the CLI's usage report (langgraph_cli/analytics.py)
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # langgraph-api's PyPI version check at start
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_API_KEY": "",
    "LANGGRAPH_CLOUD_LICENSE_KEY": "",  # no key: no license metadata loop
    "LOG_LEVEL": "WARNING",
}


@dataclass
class Row:
    """The figures of one server, durability and concurrency."""

    server: str
    durability: str
    concurrency: int
    runs_per_s: float
    p50_ms: float
    p99_ms: float
    ttfe_ms: float | None = None
    first_event_ms: float | None = None
    errors: int = 0


def percentile(values: list[float], q: float) -> float:
    """Return the `q` quantile (0..1) of `values` in milliseconds, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def timed(
    call: Callable[[str], Awaitable[bool]], items: list[str], concurrency: int
) -> tuple[list[float], float, int]:
    """Run `call` once per item, `concurrency` at a time; return latencies, wall s, errors."""
    pending, latencies, errors = list(items), [], 0

    async def worker() -> None:
        nonlocal errors
        while pending:
            item, started = pending.pop(), time.perf_counter()
            if await call(item):
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, errors


async def first_events(
    events: Callable[[str], AsyncIterator[str]], items: list[str]
) -> tuple[float, float]:
    """Read each run's events to the end, one run at a time; p50 ms to `values` and to any."""
    firsts, anys = [], []
    for item in items:
        started, first, any_ = time.perf_counter(), None, None
        async for event in events(item):
            now = time.perf_counter() - started
            any_ = now if any_ is None else any_
            if first is None and event == "values":
                first = now
        if first is not None and any_ is not None:
            firsts.append(first)
            anys.append(any_)
    return percentile(firsts, 0.5), percentile(anys, 0.5)


async def with_first_events(
    rows: list[Row],
    events: Callable[[str], AsyncIterator[str]],
    make_items: Callable[[int], Awaitable[list[str]]],
    args: argparse.Namespace,
) -> list[Row]:
    """Add the time to first event to the c=1 row, print the rows, return them."""
    items = await make_items(args.ttfe_runs)
    rows[0].ttfe_ms, rows[0].first_event_ms = await first_events(events, items)
    for r in rows:
        figures = f"{r.runs_per_s:7.1f} runs/s  p50 {r.p50_ms:8.2f} ms  p99 {r.p99_ms:8.2f} ms"
        print(
            f"  {r.server:<14} {r.durability:<8} c={r.concurrency:<3} {figures}  errors {r.errors}"
        )
    return rows


async def measure(
    server: str,
    durability: str,
    call: Callable[[str], Awaitable[bool]],
    events: Callable[[str], AsyncIterator[str]],
    make_items: Callable[[int], Awaitable[list[str]]],
    args: argparse.Namespace,
) -> list[Row]:
    """Warm up, time runs at concurrency 1 and 16, then time to first stream event."""
    await timed(call, await make_items(args.warmup), 16)
    rows = []
    for concurrency, runs in ((1, args.runs_c1), (16, args.runs_c16)):
        latencies, wall, errors = await timed(call, await make_items(runs), concurrency)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        rows.append(Row(server, durability, concurrency, len(latencies) / wall, p50, p99))
        rows[-1].errors = errors
    return await with_first_events(rows, events, make_items, args)


async def measure_wrk(
    server: str,
    durability: str,
    base: str,
    body: dict[str, Any],
    call: Callable[[str], Awaitable[bool]],
    events: Callable[[str], AsyncIterator[str]],
    make_items: Callable[[int], Awaitable[list[str]]],
    args: argparse.Namespace,
) -> list[Row]:
    """As `measure`, with wrk as the client of the timed runs (warm-up answers checked)."""
    latencies, _, errors = await timed(call, await make_items(args.warmup), 16)
    if errors:  # the warm-up's answers are checked: a server that fails them is not timed
        print(f"  {server} {durability}: {errors} of {args.warmup} warm-up runs failed")
    rows = []
    for concurrency in args.concurrency:
        threads = await make_items(args.wrk_threads)
        before = await asyncio.to_thread(server_sums, base)
        rps, p50, p99, failed = await asyncio.to_thread(
            wrk_waits, base, threads, body, concurrency=concurrency, duration_s=args.duration
        )
        rows.append(Row(server, durability, concurrency, rps, p50, p99, errors=failed + errors))
        after = await asyncio.to_thread(server_sums, base)
        if concurrency == 1 and before and after:
            split = where_the_time_goes(before, after, 1000 / rps)
            print(f"  {server} {durability} c=1, mean per run: {split}")
    return await with_first_events(rows, events, make_items, args)


async def http_rows(
    server: str, base: str, durabilities: tuple[str | None, ...], args: argparse.Namespace
) -> list[Row]:
    """Measure one server's threads/runs API; none when it has no `POST /threads`."""
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        probe = await client.post("/threads", json={})
        if probe.status_code == 404:
            print(f"  ({server} skipped: POST /threads answered 404, no runs API yet)")
            return []
        probe.raise_for_status()
        gate = asyncio.Semaphore(16)
        first_error: list[str] = []

        async def new_thread(_: int) -> str:
            async with gate:
                response = await client.post("/threads", json={})
                response.raise_for_status()
                return str(response.json()["thread_id"])

        async def make_items(count: int) -> list[str]:
            return list(await asyncio.gather(*map(new_thread, range(count))))

        rows: list[Row] = []
        for durability in durabilities:
            body: dict[str, Any] = {"assistant_id": "bench", "input": INPUT}
            if durability:
                body["durability"] = durability

            async def call(thread_id: str, body: dict[str, Any] = body) -> bool:
                response = await client.post(f"/threads/{thread_id}/runs/wait", json=body)
                ok = response.status_code == 200 and response.json().get("count") == 2
                if not ok and not first_error:
                    first_error.append(f"{response.status_code} {response.text[:300]}")
                    print(f"  first failed run on {server}: {first_error[0]}")
                return ok

            async def events(thread_id: str, body: dict[str, Any] = body) -> AsyncIterator[str]:
                stream_body = {**body, "stream_mode": "values"}
                url = f"/threads/{thread_id}/runs/stream"
                async with client.stream("POST", url, json=stream_body) as response:
                    response.raise_for_status()
                    event = "message"
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            yield event

            label = durability or "default"
            if args.wrk:
                rows += await measure_wrk(server, label, base, body, call, events, make_items, args)
            else:
                rows += await measure(server, label, call, events, make_items, args)
        return rows


async def inprocess_rows(dsn: str, args: argparse.Namespace) -> list[Row]:
    """Measure the ceiling: the graph on Orca's checkpointer, invoked in this process.

    The same `open_checkpointer` as the server (AsyncPostgresSaver on the same pool
    settings), so the difference is what the server adds: HTTP, the run rows, the events.
    """
    from checkpoints import open_checkpointer
    from evals.bench_graph import build_graph

    async with open_checkpointer(postgres_url=dsn, sqlite_path=Path("unused")) as store:
        graph = build_graph(checkpointer=store.saver)

        async def make_items(count: int) -> list[str]:
            return [uuid.uuid4().hex for _ in range(count)]

        rows: list[Row] = []
        for durability in args.durability:

            async def call(thread_id: str, durability: Any = durability) -> bool:
                config = {"configurable": {"thread_id": thread_id}}
                result = await graph.ainvoke(INPUT, config, durability=durability)
                return bool(result["count"] == 2)

            async def events(thread_id: str, durability: Any = durability) -> AsyncIterator[str]:
                config = {"configurable": {"thread_id": thread_id}}
                async for _ in graph.astream(
                    INPUT, config, stream_mode="values", durability=durability
                ):
                    yield "values"

            rows += await measure("in-process", durability, call, events, make_items, args)
        return rows


@contextmanager
def scratch_database(admin_url: str, suffix: str) -> Iterator[str]:
    """Create a throw-away database next to `admin_url`'s; yield its URL; drop it."""
    name = f"orca_bench_{os.getpid()}_{suffix}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def langgraph_dev_rows(args: argparse.Namespace, work: Path) -> list[Row]:
    """Start `langgraph dev` on the bench graph, measure it, stop it."""
    if not args.langgraph_dev or not Path(args.langgraph_dev).exists():
        print("  (langgraph dev skipped: pass --langgraph-dev PATH, `make bench-runs` builds it)")
        return []
    config = work / "langgraph.json"
    graph = f"{ROOT / 'evals' / 'bench_graph.py'}:graph"
    config.write_text(json.dumps({"dependencies": ["."], "graphs": {"bench": graph}}))
    port = free_port()
    command = [args.langgraph_dev, *"dev --no-browser --no-reload --host 127.0.0.1".split()]
    command += ["--port", str(port), "--config", str(config)]
    # Its dev default is 1 run at a time: as many as Orca's ORCA_RUN_WORKERS default (32).
    command += ["--n-jobs-per-worker", str(args.jobs)]
    base = f"http://127.0.0.1:{port}"
    with process(command, f"{base}/ok", LANGGRAPH_DEV_ENV):
        return asyncio.run(http_rows("langgraph dev", base, LANGGRAPH_DEV_DURABILITIES, args))


def orca_rows(args: argparse.Namespace, work: Path) -> list[Row]:
    """Measure Orca at `--orca-url`, or start `orca serve` on a scratch database."""
    if args.orca_url:
        return asyncio.run(http_rows("orca", args.orca_url.rstrip("/"), args.durability, args))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("orca")), "serve", "--host", "127.0.0.1"]
    command += ["--workers", str(args.orca_workers)]
    with scratch_database(args.postgres_url, "orca") as dsn:
        env = {
            "ORCA_DATA_DIR": str(work / "orca"),
            "ORCA_POSTGRES_URL": dsn,
            "ORCA_GRAPHS": json.dumps({"bench": "evals.bench_graph:build_graph"}),
            "ORCA_RATE_LIMIT": "",
            "ORCA_RATE_LIMIT_RUNS": "",
            "ORCA_LOG_LEVEL": "WARNING",
            # Remote models on closed loopback ports: the bench graph calls none, and no
            # process spends memory and start-up time loading the in-process ones.
            "ORCA_CHAT_PROVIDER": "openai",
            "ORCA_LLM01_URL": f"http://127.0.0.1:{free_port()}/v1",
            "ORCA_EMBEDDING_PROVIDER": "ollama",
            "ORCA_OLLAMA_URL": f"http://127.0.0.1:{free_port()}",
        }
        if args.orca_workers > 1:
            # Several processes need a Qdrant server; these runs never call it, so a closed
            # loopback port does.
            env["ORCA_QDRANT_URL"] = f"http://127.0.0.1:{free_port()}"
        try:
            with process([*command, "--port", str(port)], f"{base}/health", env):
                return asyncio.run(http_rows("orca", base, args.durability, args))
        except (RuntimeError, httpx.HTTPError) as exc:
            print(f"  (orca skipped: {type(exc).__name__}: {exc})")
            return []


def report(rows: list[Row]) -> None:
    """Print the table and the ratios."""
    table = Table(title="threads/runs API: POST /threads/{id}/runs/wait and /runs/stream")
    for column in ("server", "durability", "c", "runs/s", "p50 ms", "p99 ms", "TTFE p50 ms"):
        table.add_column(column, justify="left" if column in ("server", "durability") else "right")
    table.add_column("1st event p50 ms", justify="right")
    table.add_column("errors", justify="right")
    for r in rows:
        cells = [r.runs_per_s, r.p50_ms, r.p99_ms, r.ttfe_ms, r.first_event_ms]
        numbers = [
            "" if cell is None else f"{cell:.{1 if i == 0 else 2}f}" for i, cell in enumerate(cells)
        ]
        table.add_row(r.server, r.durability, str(r.concurrency), *numbers, str(r.errors))
    Console(width=max(120, Console().width)).print(table)
    by = {(row.server, row.durability, row.concurrency): row for row in rows}
    print("ratios at c=16 (runs/s, same durability; langgraph dev's default is async):")
    for durability in DURABILITIES:
        ceiling, orca = by.get(("in-process", durability, 16)), by.get(("orca", durability, 16))
        peer = by.get(("langgraph dev", durability, 16))
        if peer is None and durability == "async":
            peer = by.get(("langgraph dev", "default", 16))
        for name, mine, other in (
            ("orca ÷ in-process", orca, ceiling),
            ("orca ÷ langgraph dev", orca, peer),
            ("langgraph dev ÷ in-process", peer, ceiling),
        ):
            if mine and other and other.runs_per_s:
                print(f"  {durability:<6} {name:<27} {mine.runs_per_s / other.runs_per_s:6.3f}")


def peer_ratios(rows: list[Row], peer: str) -> None:
    """Print Orca ÷ `peer` per durability and concurrency: runs/s, p50 and p99."""
    by = {(row.server, row.durability, row.concurrency): row for row in rows}
    pairs = [
        (orca, by[(peer, durability, c)])
        for (server, durability, c), orca in by.items()
        if server == "orca" and (peer, durability, c) in by
    ]
    if not pairs:
        return
    print(f"orca ÷ {peer} (runs/s: higher is better; p50, p99: lower is better):")
    for orca, other in pairs:
        if not (other.runs_per_s and other.p50_ms and other.p99_ms):
            continue  # nothing measured (every request failed)
        print(
            f"  {orca.durability:<6} c={orca.concurrency:<3} runs/s "
            f"{orca.runs_per_s / other.runs_per_s:6.2f}  p50 {orca.p50_ms / other.p50_ms:6.2f}"
            f"  p99 {orca.p99_ms / other.p99_ms:6.2f}"
        )


def main() -> None:
    """Parse options and measure `langgraph dev`, Aegra, Orca, then in-process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langgraph-dev", default=str(ROOT / "var/langgraph-dev/bin/langgraph"))
    parser.add_argument(
        "--jobs",
        type=int,
        default=32,
        help="runs each server executes at once: Orca's ORCA_RUN_WORKERS default, given to "
        "`langgraph dev` (--n-jobs-per-worker) and Aegra (N_JOBS_PER_WORKER)",
    )
    parser.add_argument("--orca-url", help="a running Orca to measure instead of starting one")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "ORCA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a database whose user may CREATE DATABASE (scratch ones are made and dropped)",
    )
    parser.add_argument("--runs-c1", type=int, default=200)
    parser.add_argument("--runs-c16", type=int, default=800)
    parser.add_argument("--ttfe-runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=32)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["langgraph-dev", "aegra", "orca", "in-process"],
    )
    parser.add_argument(
        "--aegra",
        default=str(ROOT / "var/aegra/bin/uvicorn"),
        help="uvicorn of a venv with aegra-api installed",
    )
    parser.add_argument("--orca-workers", type=int, default=1, help="orca serve --workers")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[1, 16],
        help="comma-separated wrk concurrencies (first one also gets the stream timing)",
    )
    parser.add_argument(
        "--durability",
        type=lambda text: tuple(text.split(",")),
        default=DURABILITIES,
        help="comma-separated durabilities to time (Orca, Aegra and in-process)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--no-wrk", dest="wrk", action="store_false", help="time with httpx instead of wrk"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--wrk-threads", type=int, default=2500, help="threads created for each wrk run"
    )
    args = parser.parse_args()
    if args.wrk and not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk), or pass --no-wrk")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "langgraph-dev" not in args.skip:
            print("langgraph dev:")
            rows += langgraph_dev_rows(args, work)
        if "aegra" not in args.skip:
            print("aegra:")
            rows += aegra_rows(args, work)
        if "orca" not in args.skip:
            print(f"orca ({args.orca_workers} process(es)):")
            rows += orca_rows(args, work)
        if "in-process" not in args.skip:
            print("in-process (AsyncPostgresSaver):")
            with scratch_database(args.postgres_url, "inproc") as dsn:
                rows += asyncio.run(inprocess_rows(dsn, args))
    report(rows)
    peer_ratios(rows, "aegra")
    peer_ratios(rows, "in-process")
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
