"""Benchmark the store's semantic search through `langgraph-sdk`, on both backends.

For each backend (the embedded default's SQLite file, then PostgreSQL on a throw-away
database), starts `orca serve` with `ORCA_STORE_INDEX` on the local all-MiniLM-L6-v2
(384-d, in-process) and local-mode Qdrant, puts `--items` items (one sentence each) with
`client.store.put_item`, then times `--queries` calls of
`client.store.search_items(query=...)` one at a time, each a new query (so its embedding
is computed, not cached), and prints the median and p95. Asserts nothing; only
127.0.0.1 is contacted.

    .venv/bin/python -m evals.bench_store [--items 1000] [--queries 100]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres] [--skip postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from langgraph_sdk import get_client

from evals.bench_embeddings import free_port, process
from evals.bench_runs import scratch_database

WORDS = (
    "tea coffee morning night garden river mountain city train book music film cat dog "
    "rain snow summer winter bread cheese bicycle ocean forest letter friend market "
    "window kitchen doctor school holiday painting violin football chess recipe"
).split()
INDEX = {"dims": 384, "embed": "embed-01", "fields": ["text"]}


def sentence(rng: random.Random) -> str:
    """Return a short made-up sentence."""
    return " ".join(rng.choices(WORDS, k=8))


async def measure(base: str, items: int, queries: int) -> dict[str, float]:
    """Fill the store and time the searches; return the figures in ms."""
    rng = random.Random(7)
    async with get_client(url=base, timeout=120) as client:
        started = time.perf_counter()
        for n in range(items):
            await client.store.put_item(
                ["bench", f"s{n % 10}"], f"item-{n}", {"text": sentence(rng)}
            )
        put_s = time.perf_counter() - started
        await client.store.search_items(["bench"], query="warm up", limit=10)
        timings = []
        for n in range(queries):
            query = f"{sentence(rng)} {n}"
            started = time.perf_counter()
            found = await client.store.search_items(["bench"], query=query, limit=10)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(found["items"]) == 10
    timings.sort()
    return {
        "put_ms_mean": put_s * 1000 / items,
        "search_ms_p50": statistics.median(timings),
        "search_ms_p95": timings[max(0, round(0.95 * len(timings)) - 1)],
    }


def run_backend(name: str, postgres_url: str | None, args: argparse.Namespace) -> dict[str, float]:
    """Start `orca serve` on one backend, measure it, stop it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("orca")), "serve", "--host", "127.0.0.1"]
    with tempfile.TemporaryDirectory() as work:
        env = {
            "ORCA_DATA_DIR": str(Path(work) / name),
            "ORCA_STORE_INDEX": json.dumps(INDEX),
            "ORCA_RATE_LIMIT": "",
            "ORCA_RATE_LIMIT_RUNS": "",
            "ORCA_LOG_LEVEL": "WARNING",
        }
        if postgres_url:
            env["ORCA_POSTGRES_URL"] = postgres_url
        with process([*command, "--port", str(port)], f"{base}/health", env):
            return asyncio.run(measure(base, args.items, args.queries))


def main() -> None:
    """Measure each backend and print one line per backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"{args.items} items, {args.queries} queries (limit 10), all-MiniLM-L6-v2, local Qdrant")
    if "sqlite" not in args.skip:
        print("sqlite  ", run_backend("sqlite", None, args))
    if "postgres" not in args.skip:
        with scratch_database(args.postgres_url, "store") as dsn:
            print("postgres", run_backend("postgres", dsn, args))


if __name__ == "__main__":
    main()
