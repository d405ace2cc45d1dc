"""How late crons fire: the delay from a firing's scheduled time to its run's `created_at`.

The app is served here (the test doubles' `echo` graph, scripted models) with runs in
SQLite (the embedded default) and in PostgreSQL (a throw-away database on 127.0.0.1), and
one thread cron per backend on a seconds schedule (`*/2 * * * * *` by default), created
with `langgraph-sdk`. The real scheduler fires it; each run is matched to its scheduled
time by its run id (`firing_run_id`), so a late or missing firing cannot be misread.
`created_at` is taken on the server, on the same machine as the schedule's clock.
Prints the delays per backend (min, median, p95, max); asserts nothing.

    .venv/bin/python -m evals.bench_crons [--firings 20] [--every 2] [--poll 5.0]
        [--backend sqlite --backend postgres] [--admin-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from langgraph_sdk import get_client

from server.crons.schedule import firing_run_id
from tests.support_runs import runs_settings, served, user

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """Create a PostgreSQL database for this run; drop it afterwards."""
    name = f"orca_bench_crons_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delays(url: str, *, firings: int, every: int) -> list[float]:
    """Create a cron firing every `every` seconds; return the delays (s) of `firings` runs."""
    async with get_client(url=url) as client:
        thread_id = (await client.threads.create())["thread_id"]
        cron = await client.crons.create_for_thread(
            thread_id, "echo", schedule=f"*/{every} * * * * *", input=user("tick")
        )
        found: dict[str, float] = {}
        deadline = asyncio.get_running_loop().time() + firings * every + 30
        while len(found) < firings and asyncio.get_running_loop().time() < deadline:
            for run in await client.runs.list(thread_id, limit=firings + 5):
                created = datetime.fromisoformat(run["created_at"])
                # The firing it belongs to: the last boundary of the schedule at or before it.
                scheduled = created.replace(microsecond=0) - timedelta(
                    seconds=created.second % every
                )
                for candidate in (scheduled, scheduled - timedelta(seconds=every)):
                    if firing_run_id(cron["cron_id"], candidate) == run["run_id"]:
                        found[run["run_id"]] = (created - candidate).total_seconds()
            await asyncio.sleep(every / 2)
        await client.crons.delete(cron["cron_id"])
    return sorted(found.values())[:firings]


def report(backend: str, poll_s: float, values: list[float]) -> None:
    """Print one backend's figures in milliseconds."""
    ms = [value * 1000 for value in values]
    p95 = ms[max(0, int(round(0.95 * len(ms))) - 1)]
    print(
        f"{backend:9} poll={poll_s:<5} firings={len(ms):3}  min={ms[0]:7.1f}  "
        f"median={statistics.median(ms):7.1f}  p95={p95:7.1f}  max={ms[-1]:7.1f}  (ms)"
    )


def main() -> None:
    """Measure each backend in turn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firings", type=int, default=20)
    parser.add_argument("--every", type=int, default=2, help="seconds between firings")
    parser.add_argument("--poll", type=float, default=5.0, help="ORCA_CRON_POLL_S")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgres"]:
        database = throwaway_database(args.admin_url) if backend == "postgres" else nullcontext()
        with tempfile.TemporaryDirectory() as tmp, database as postgres_url:
            settings = runs_settings(Path(tmp) / "var", postgres_url, cron_poll_s=args.poll)
            with served(settings) as url:
                values = asyncio.run(delays(url, firings=args.firings, every=args.every))
            report(backend, args.poll, values)


if __name__ == "__main__":
    main()
