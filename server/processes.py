"""`orca serve --workers N`: several server processes on one port, sharing their state.

uvicorn's supervisor binds the socket and starts N processes (spawned, so each imports the
app afresh through `app_factory`). What those processes share must live outside them:
threads, runs and checkpoints in PostgreSQL (the run queue is claimed with
`FOR UPDATE SKIP LOCKED`), documents in a Qdrant server, rate-limit counters in Redis. The
embedded default cannot be shared: a local Qdrant directory is locked by the one process
that opens it, and the SQLite file takes one writer. `refusal` names what is missing.

Per process, by design: the concurrent-stream cap (`ORCA_MAX_STREAMS_PER_IDENTITY`, a slot
must be released by the process that took it, even when that process dies), the run
workers (`ORCA_RUN_WORKERS` each), the embedding cache and in-process models (each process
loads its own copy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.settings import Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def refusal(settings: Settings, workers: int) -> str | None:
    """Return why `workers` processes cannot share these settings; None when they can."""
    if workers <= 1:
        return None
    missing = []
    if settings.postgres_url is None:
        missing.append("ORCA_POSTGRES_URL (the embedded SQLite file takes one process)")
    if settings.qdrant_url is None:
        missing.append("ORCA_QDRANT_URL (a local Qdrant directory is locked by one process)")
    if settings.redis_url is None and (settings.rate_limit or settings.rate_limit_runs):
        missing.append(
            "ORCA_REDIS_URL (rate limits counted in each process would allow N times the "
            "limit; or set ORCA_RATE_LIMIT and ORCA_RATE_LIMIT_RUNS empty)"
        )
    if not missing:
        return None
    return f"--workers {workers} needs state every process shares: set " + "; ".join(missing)


def app_factory() -> FastAPI:
    """Build one worker process's app from the environment the supervisor passed on.

    `orca serve` exported `ORCA_HOST`, `ORCA_PORT` and `ORCA_CONFIG` (and a project's env)
    before starting the workers, so every process reads the same settings.
    """
    from server.app import create_app
    from server.guards.request_head import use_head_timeout
    from server.observability.logs import configure_logging

    settings = load_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_format == "json")
    use_head_timeout(settings.header_timeout_s)  # a spawned process starts from the default
    return create_app(settings)
