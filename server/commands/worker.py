"""`orca worker`: execute queued runs without serving HTTP, to scale runs out.

It opens exactly what `orca serve` opens (the app's lifespan: checkpointer, models,
graphs, run workers) and then only works the queue in PostgreSQL, until SIGINT or
SIGTERM; then it drains like the server: running runs get `ORCA_RUN_DRAIN_S` to finish,
the rest go back to the queue for another worker (a second signal skips the drain). It
needs `ORCA_POSTGRES_URL`: on the embedded defaults runs live in the serving process's
SQLite file (one process: local Qdrant locks its folder), so there is no queue to share.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from server.commands.failures import STORE_ERRORS, check_postgres, failed, where
from server.commands.failures import fail as _fail
from server.settings import SettingsError, load_settings

log = logging.getLogger("orca")


def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Runs executed at once (ORCA_RUN_WORKERS)."),
    ] = None,
) -> None:
    """Execute queued runs from PostgreSQL, without the HTTP server."""
    from server.app import create_app
    from server.observability.logs import configure_logging
    from server.projects import ProjectError

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    if settings.postgres_url is None:
        raise _fail(
            "orca worker shares the run queue in PostgreSQL: set ORCA_POSTGRES_URL "
            "(on the embedded defaults, `orca serve` executes its own runs)"
        )
    if concurrency is not None:
        settings = settings.model_copy(update={"run_workers": max(1, concurrency)})
    if settings.run_workers == 0:
        settings = settings.model_copy(update={"run_workers": 10})
    configure_logging(level=settings.log_level, json_lines=settings.log_format == "json")
    check_postgres(settings, "worker")  # at once, not after the pool's 10 s of retries
    try:  # ORCA_CONFIG: the same project as `orca serve --config`, so the same graphs
        app = create_app(settings)
    except ProjectError as exc:
        raise _fail(str(exc)) from None
    try:
        asyncio.run(_work(app))
    except STORE_ERRORS as exc:  # PostgreSQL down at start-up: PoolTimeout after its wait
        raise _fail(failed("worker", where(settings), exc, settings)) from None


async def _work(app: object) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        runs = app.state.resources.runs  # type: ignore[attr-defined]
        log.info("worker %s executing up to %d runs", runs.workers.id, runs.workers.slots)
        await stop.wait()
        # A second signal stops at once, as a second Ctrl-C stops `orca serve` (uvicorn);
        # the runs still draining then wait out their lease, like a killed worker's.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("worker %s stopping: draining its runs", runs.workers.id)
