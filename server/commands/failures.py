"""One `error:` line for a command that could not reach its database.

`orca prune`, `orca keys` and `orca worker` open the same PostgreSQL (or SQLite under the
data dir) as the server; when it is down, missing or unwritable, the operator needs where
and why on one line, not psycopg's traceback. They share this wording so a journal grep
for `failed on PostgreSQL` finds them all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import typer
from rich.console import Console

from server.settings import Settings

errors = Console(stderr=True)

STORE_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, sqlite3.Error, OSError)
"""What opening the database raises when it is down, missing or unwritable (psycopg_pool's
`PoolTimeout` is a `psycopg.Error`); anything else is a bug and keeps its traceback."""


def fail(message: str) -> typer.Exit:
    """Print one clear line and return the exit to raise."""
    # soft_wrap: one line in the journal, whatever the terminal width.
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def where(settings: Settings, sqlite_path: Path | None = None) -> str:
    """Name the database: `PostgreSQL host:port/db` (never the password), else the file."""
    if settings.postgres_url:
        url = settings.postgres_url
        host = url.hosts()[0] if url.hosts() else {}
        return f"PostgreSQL {host.get('host')}:{host.get('port')}{url.path or ''}"
    return f"SQLite {sqlite_path or settings.sqlite_path}"


def failed(action: str, place: str, exc: BaseException, settings: Settings) -> str:
    """Word a failure as `<action> failed on <place>: <Type>: <message>`, on one line."""
    # psycopg's messages span lines ("...Connection refused\n\tIs the server running...").
    message = " ".join(str(exc).split())
    if settings.postgres_url:
        for host in settings.postgres_url.hosts():
            if password := host.get("password"):
                message = message.replace(password, "***")
    return f"{action} failed on {place}: {type(exc).__name__}: {message}"


def check_postgres(settings: Settings, action: str) -> None:
    """Connect once to ORCA_POSTGRES_URL, so a server that cannot start says why in one line.

    Raises:
        typer.Exit: after printing where and why, when PostgreSQL cannot be reached.
    """
    if not settings.postgres_url:
        return
    try:
        # 5 s: a refused port fails at once; this only bounds a host that drops packets.
        psycopg.connect(str(settings.postgres_url), connect_timeout=5).close()
    except psycopg.Error as exc:
        raise fail(failed(action, where(settings), exc, settings)) from None
