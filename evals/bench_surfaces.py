"""Run overhead per surface: one trivial `agent` turn through each surface against in-process.

The same turn ("ping N" → "Scripted answer: ping N", the scripted chat model of
`tests/doubles/scripted_chat.py`, fake embeddings) goes, on a new thread each time, through:

- in-process: `graph.ainvoke` on the `agent` graph the app's own lifespan builds (same
  checkpointer settings, same guarded models), in this process;
- LangServe: `POST /workflows/agent/invoke` (httpx, `thread_id` in the config);
- AG-UI: `POST /agui/agent`, the SSE read to `RUN_FINISHED` (and, a second row, to the end
  of the stream, when the run's outcome is recorded);
- runs API: `POST /threads/{id}/runs/wait` with `if_not_exists: create`;
- `/v1/orchestrate` in `sync` mode with a new `thread_id`.

The server is `uvicorn` on a loopback port in a child process (the same loop, HTTP parser
and access-log setting as `orca serve`), so client and server do not share a GIL; this
process runs the in-process graph on its own lifespan over a sibling data directory (or a
second throw-away database), on the same event loop implementation (uvloop). The paths are
interleaved round by round (rotating their order), so drift on the shared 2 cores lands on
all of them alike. Every answer is checked (after its timer stops); warm-up runs come first.
Rate limits are off. One backend at a time: the embedded default (SQLite), then PostgreSQL
when `--postgres` names a database whose user may CREATE DATABASE. Prints median, p90 and
overhead (median − in-process median) per surface; asserts nothing. Only 127.0.0.1 is
contacted.

    .venv/bin/python -m evals.bench_surfaces [--runs 100] [--warmup 20]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = "agent"
ANSWER = "Scripted answer: {text}"
"""What the scripted model answers to a message without its trigger words."""

ROWS = (
    "in-process ainvoke",
    "LangServe invoke",
    "AG-UI to RUN_FINISHED",
    "AG-UI to stream end",
    "runs API /runs/wait",
    "/v1/orchestrate sync",
)
"""The table's rows, in order: the names the paths below time."""

Path_ = Callable[[httpx.AsyncClient, int], Awaitable[dict[str, float]]]
"""One run through a surface: its timings by row name, in seconds (raises on a wrong answer)."""


@dataclass
class Row:
    """One row of the table."""

    backend: str
    surface: str
    runs: int
    median_ms: float
    p90_ms: float
    overhead_ms: float


def settings_for(data_dir: Path, postgres_url: str | None) -> Any:
    """Return the settings both the server and the in-process graph use: no rate limits."""
    from server.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # what this script sets, not a local .env
        data_dir=data_dir,
        postgres_url=postgres_url,
        rate_limit="",
        rate_limit_runs="",
        log_level="WARNING",
    )


def bench_app(settings: Any) -> Any:
    """Return the app on the scripted chat models and the fake embedder."""
    from server.app import create_app
    from tests.doubles.embedder import fake_embedder
    from tests.doubles.scripted_chat import scripted_models

    return create_app(settings, models=scripted_models(), embedder=fake_embedder())


def serve(args: argparse.Namespace) -> None:
    """Serve the bench app (the child process); refuse code from another tree than `--root`."""
    import uvicorn

    import server

    if not Path(server.__file__).resolve().is_relative_to(Path(args.root).resolve()):
        sys.exit(f"the server would import {server.__file__}, not code under {args.root}")
    app = bench_app(settings_for(Path(args.data_dir), args.database))
    # As `orca serve` runs it (server/cli.py): uvicorn's default loop (uvloop) and HTTP
    # parser, no access log.
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


def text_of(i: int) -> str:
    """Return the message of run `i`."""
    return f"ping {i}"


def check(surface: str, i: int, got: object) -> None:
    """Raise unless `got` is the scripted answer to run `i`."""
    if got != ANSWER.format(text=text_of(i)):
        raise RuntimeError(f"{surface} run {i}: answered {got!r}")


async def langserve(client: httpx.AsyncClient, i: int) -> dict[str, float]:
    """Invoke the workflow over LangServe on a new thread."""
    body = {
        "input": {"messages": [{"type": "human", "content": text_of(i)}]},
        "config": {"configurable": {"thread_id": str(uuid.uuid4())}},
    }
    started = time.perf_counter()
    response = await client.post(f"/workflows/{WORKFLOW}/invoke", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    check("langserve", i, response.json()["output"]["messages"][-1]["content"])
    return {"LangServe invoke": elapsed}


async def agui(client: httpx.AsyncClient, i: int) -> dict[str, float]:
    """Run the workflow over AG-UI; time `RUN_FINISHED` and the end of the stream."""
    body = {
        "threadId": str(uuid.uuid4()),
        "runId": str(uuid.uuid4()),
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": text_of(i)}],
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }
    finished: float | None = None
    deltas: list[str] = []
    started = time.perf_counter()
    # Read to the end, not just to RUN_FINISHED: closing the stream early is a client that
    # went away, which stops the run instead of letting it be recorded.
    async with client.stream("POST", f"/agui/{WORKFLOW}", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            if finished is None and '"RUN_FINISHED"' in line:
                finished = time.perf_counter() - started
            elif '"TEXT_MESSAGE_CONTENT"' in line:
                deltas.append(json.loads(line[5:])["delta"])
            elif '"RUN_ERROR"' in line:
                raise RuntimeError(f"agui run {i}: {line}")
    ended = time.perf_counter() - started
    if finished is None:
        raise RuntimeError(f"agui run {i}: no RUN_FINISHED")
    check("agui", i, "".join(deltas))
    return {"AG-UI to RUN_FINISHED": finished, "AG-UI to stream end": ended}


async def runs_wait(client: httpx.AsyncClient, i: int) -> dict[str, float]:
    """Wait for a run on a new thread through the runs API (as `langgraph-sdk` does)."""
    body = {
        "assistant_id": WORKFLOW,
        "input": {"messages": [{"role": "user", "content": text_of(i)}]},
        "if_not_exists": "create",
    }
    started = time.perf_counter()
    response = await client.post(f"/threads/{uuid.uuid4()}/runs/wait", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    check("runs", i, response.json()["messages"][-1]["content"])
    return {"runs API /runs/wait": elapsed}


async def orchestrate(client: httpx.AsyncClient, i: int) -> dict[str, float]:
    """Run the workflow through `/v1/orchestrate`, sync mode, on a new thread."""
    body = {
        "workflow": WORKFLOW,
        "thread_id": str(uuid.uuid4()),
        "input": {"messages": [{"role": "user", "content": text_of(i)}]},
        "mode": "sync",
    }
    started = time.perf_counter()
    response = await client.post("/v1/orchestrate", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    check("orchestrate", i, response.json()["messages"][-1]["content"])
    return {"/v1/orchestrate sync": elapsed}


@asynccontextmanager
async def in_process(settings: Any) -> AsyncIterator[Path_]:
    """Open the app's lifespan here; yield a path that runs its `agent` graph directly."""
    from graphs.context import Context

    app = bench_app(settings)
    async with app.router.lifespan_context(app):
        graph = app.state.resources.graphs[WORKFLOW]
        # What the surfaces give an anonymous caller (server/routes/workflows.py defaults).
        context = Context(
            embedding_model=settings.embedding_alias,
            collection=settings.collection,
            top_k=settings.top_k,
            tenant="public",
        )

        async def run(_: httpx.AsyncClient, i: int) -> dict[str, float]:
            config = {"configurable": {"thread_id": str(uuid.uuid4())}}
            message = {"messages": [{"role": "user", "content": text_of(i)}]}
            started = time.perf_counter()
            result = await graph.ainvoke(message, config, context=context)
            elapsed = time.perf_counter() - started
            check("in-process", i, result["messages"][-1].content)
            return {"in-process ainvoke": elapsed}

        yield run


async def measure(
    base: str, inprocess_settings: Any, runs: int, warmup: int
) -> dict[str, list[float]]:
    """Warm every path up, then time `runs` rounds of one run per path; return seconds."""
    paths: list[Path_] = [langserve, agui, runs_wait, orchestrate]
    timings: dict[str, list[float]] = {}
    async with (
        in_process(inprocess_settings) as local,
        httpx.AsyncClient(base_url=base, timeout=60) as client,
    ):
        paths.insert(0, local)
        for i in range(warmup + runs):
            shift = i % len(paths)
            for path in paths[shift:] + paths[:shift]:
                timed = await path(client, i)
                if i >= warmup:
                    for name, seconds in timed.items():
                        timings.setdefault(name, []).append(seconds)
    return timings


def rows_of(backend: str, timings: dict[str, list[float]]) -> list[Row]:
    """Return each path's median, p90 and overhead over the in-process median, in ms."""
    base = statistics.median(timings[ROWS[0]]) * 1000
    rows = []
    for name in ROWS:
        ms = [s * 1000 for s in timings[name]]
        median = statistics.median(ms)
        p90 = statistics.quantiles(ms, n=10, method="inclusive")[8]
        rows.append(Row(backend, name, len(ms), median, p90, median - base))
    return rows


@contextmanager
def server_process(data_dir: Path, database: str | None) -> Iterator[str]:
    """Start the bench server in a child process (this tree's code); yield its base URL."""
    from evals.bench_embeddings import free_port, process

    port = free_port()
    command = [sys.executable, "-m", "evals.bench_surfaces", "--serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--root", str(ROOT)]
    if database:
        command += ["--database", database]
    base = f"http://127.0.0.1:{port}"
    # This tree's code first on the path, whatever the caller's PYTHONPATH or cwd.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with process(command, f"{base}/health", {"PYTHONPATH": path}):
        yield base


def backend_rows(backend: str, work: Path, args: argparse.Namespace) -> list[Row]:
    """Measure one backend: its server and the in-process graph, on separate storage."""
    if backend == "sqlite":
        with server_process(work / "server", None) as base:
            inprocess = settings_for(work / "in-process", None)
            timings = run_loop(measure(base, inprocess, args.runs, args.warmup))
        return rows_of(backend, timings)
    from evals.bench_runs import scratch_database

    with (
        scratch_database(args.postgres, "srv") as served,
        scratch_database(args.postgres, "inproc") as local,
        server_process(work / "pg-server", served) as base,
    ):
        inprocess = settings_for(work / "pg-in-process", local)
        return rows_of(backend, run_loop(measure(base, inprocess, args.runs, args.warmup)))


def run_loop(coroutine: Awaitable[Any]) -> Any:
    """Run `coroutine` on uvloop, the loop uvicorn gives the server."""
    import uvloop

    return uvloop.run(coroutine)  # type: ignore[arg-type]


def describe_code() -> str:
    """Return where the code under test comes from, and its commit."""
    import server

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--short", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    state = " (+ uncommitted changes)" if dirty else ""
    where = f"commit {commit[:90]}{state}" if commit else "not a git work tree"
    return f"server.__file__ = {server.__file__}\n{where}"


def report(rows: list[Row], args: argparse.Namespace) -> None:
    """Print one table per backend."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=100)
    for backend in dict.fromkeys(row.backend for row in rows):
        title = f"{WORKFLOW}, {args.runs} sequential runs per path, backend {backend}"
        table = Table(title=title)
        table.add_column("surface")
        for column in ("median ms", "p90 ms", "overhead ms"):
            table.add_column(column, justify="right")
        for r in (row for row in rows if row.backend == backend):
            table.add_row(
                r.surface, f"{r.median_ms:.2f}", f"{r.p90_ms:.2f}", f"{r.overhead_ms:+.2f}"
            )
        console.print(table)


def main() -> None:
    """Parse options; serve (child) or measure each backend and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="timed runs per path")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs per path first")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure on PostgreSQL: a database whose user may CREATE DATABASE "
        "(throw-away ones are made and dropped), e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    # The child process's options (server_process).
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    print(describe_code())
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("sqlite", "postgres") if args.postgres else ("sqlite",):
            # Other work on the machine shows here: the 2 cores are shared.
            print(f"measuring {backend} ... (load average {os.getloadavg()[0]:.2f})")
            rows += backend_rows(backend, Path(tmp), args)
            print(f"  done (load average {os.getloadavg()[0]:.2f})")
    report(rows, args)
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
