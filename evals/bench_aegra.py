"""Aegra (aegra-api, PostgreSQL), a peer of the runs benchmark (`evals/bench_runs.py`).

Aegra runs from its own venv (Python 3.12, never a dependency of this project); its server
entry point is uvicorn on `aegra_api.main:app`, which reads the graphs from `AEGRA_CONFIG`
and runs them in its in-process executor. Bound to loopback here (its default is 0.0.0.0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from evals.bench_embeddings import free_port, process

if TYPE_CHECKING:
    from evals.bench_runs import Row

ROOT = Path(__file__).resolve().parents[1]

AEGRA_ENV = {
    "AUTH_TYPE": "noop",
    "ENV_MODE": "LOCAL",
    "LOG_LEVEL": "WARNING",
    "LOG_EXCLUDE_PATHS": "/threads",  # no access-log line per request (Orca logs none either)
    "REDIS_BROKER_ENABLED": "false",  # its in-process executor: one process, like the others
    "ENABLE_PROMETHEUS_METRICS": "false",
    "OTEL_TARGETS": "",
}


def aegra_rows(args: argparse.Namespace, work: Path) -> list[Row]:
    """Start Aegra (aegra-api, PostgreSQL) on the bench graph, measure it, stop it.

    Aegra's own server entry point is uvicorn on `aegra_api.main:app`, which reads the
    graphs from `AEGRA_CONFIG` and runs them in its in-process executor; bound to loopback
    here (its default host is 0.0.0.0).
    """
    from evals.bench_runs import http_rows, scratch_database  # the harness that imports this

    if not args.aegra or not Path(args.aegra).exists():
        print("  (aegra skipped: pass --aegra PATH to its venv's uvicorn)")
        return []
    config = work / "aegra.json"
    config.write_text(json.dumps({"graphs": {"bench": f"{ROOT / 'evals/bench_graph.py'}:graph"}}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [args.aegra, "aegra_api.main:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    with scratch_database(args.postgres_url, "aegra") as dsn:
        env = {**AEGRA_ENV, "AEGRA_CONFIG": str(config), "DATABASE_URL": dsn}
        env["N_JOBS_PER_WORKER"] = str(args.jobs)
        try:
            with process(command, f"{base}/health", env):
                return asyncio.run(http_rows("aegra", base, args.durability, args))
        except (RuntimeError, httpx.HTTPError) as exc:
            print(f"  (aegra skipped: {exc})")
            return []
