"""`orca prune`: delete the checkpoints of threads idle for longer than a retention period.

It opens the checkpointer exactly as the server does (same settings, same
`open_checkpointer`), so it prunes whatever the server would resume from: PostgreSQL when
`ORCA_POSTGRES_URL` is set, else the SQLite file under the data dir. It never opens Qdrant,
so it can run beside a serving process.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from server.commands.failures import fail as _fail
from server.commands.failures import failed, where
from server.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from checkpoints.prune import PruneReport

# Summary lines are soft-wrapped: one line each in the journal, whatever the width.
console = Console()


def prune_command(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Retention period: threads whose newest checkpoint is older go "
            "(e.g. 30d, 12h, 1d12h; units w, d, h, m, s).",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the threads that would go; delete nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=500, help="Threads deleted per transaction.")
    ] = 100,
) -> None:
    """Delete every checkpoint of each thread idle for longer than --older-than."""
    from checkpoints.prune import parse_duration

    try:
        retention = parse_duration(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    try:
        report = asyncio.run(_prune(settings, retention, dry_run, batch_size))
    except Exception as exc:
        # One line for the journal, never a traceback: an unreachable database, a locked
        # SQLite file (another writer held it past the busy timeout), a timeout.
        raise _fail(failed("prune", where(settings), exc, settings)) from None
    _print(report, where(settings))


async def _prune(
    settings: Settings, retention: timedelta, dry_run: bool, batch_size: int
) -> PruneReport:
    from checkpoints import open_checkpointer
    from checkpoints.prune import prune_idle_threads

    async with open_checkpointer(
        postgres_url=str(settings.postgres_url) if settings.postgres_url else None,
        sqlite_path=settings.sqlite_path,
        pool_max=settings.postgres_pool_max,
    ) as store:
        return await prune_idle_threads(
            store, older_than=retention, dry_run=dry_run, batch_size=batch_size
        )


def _print(report: PruneReport, where: str) -> None:
    now = datetime.now(UTC)
    cutoff = report.cutoff.isoformat(timespec="seconds")
    if report.dry_run:
        if report.threads:
            table = Table("thread", "last checkpoint (UTC)", "idle", "checkpoints")
            for thread in report.threads:
                table.add_row(
                    thread.thread_id,
                    thread.last_checkpoint_at.isoformat(timespec="seconds"),
                    _age(now - thread.last_checkpoint_at),
                    str(thread.checkpoints),
                )
            console.print(table)
        checkpoints = sum(thread.checkpoints for thread in report.threads)
        console.print(
            f"dry run: {len(report.threads)} threads ({checkpoints} checkpoints) idle since "
            f"before {cutoff} would be deleted from {where}; nothing was deleted",
            highlight=False,
            soft_wrap=True,
        )
        return
    blobs = f", {report.blobs_deleted} blobs" if report.blobs_deleted else ""
    console.print(
        f"deleted {len(report.threads)} threads idle since before {cutoff} from {where}: "
        f"{report.checkpoints_deleted} checkpoints, {report.writes_deleted} writes{blobs}",
        highlight=False,
        soft_wrap=True,
    )
    if report.skipped:
        console.print(
            f"kept {len(report.skipped)} threads that were written to while pruning: "
            + ", ".join(report.skipped),
            highlight=False,
            soft_wrap=True,
        )


def _age(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    return f"{days}d{seconds // 3600}h" if days else f"{seconds // 3600}h{seconds % 3600 // 60}m"
