"""`orca keys create|list|revoke`: manage API keys in the service database.

Works without the server running: it opens the same database the server uses (PostgreSQL
when `ORCA_POSTGRES_URL` is set, migrated first; otherwise `$ORCA_DATA_DIR/orca.sqlite`).
A new key is printed once; only its digest is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from server.auth.keys import KeyStore
from server.auth.scopes import DEFAULT_SCOPES, SCOPES, UnknownScope, format_scopes, parse_scopes
from server.auth.setup import open_database
from server.commands.failures import STORE_ERRORS, fail, failed, where
from server.settings import Settings, SettingsError, load_settings

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
console = Console()
Result = TypeVar("Result")


def _run(command: str, action: Callable[[KeyStore], Awaitable[Result]]) -> Result:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None
    try:
        return asyncio.run(_with_store(settings, action))
    except STORE_ERRORS as exc:
        place = where(settings, settings.data_dir / "orca.sqlite")
        raise fail(failed(f"keys {command}", place, exc, settings)) from None


async def _with_store(
    settings: Settings, action: Callable[[KeyStore], Awaitable[Result]]
) -> Result:
    if settings.postgres_url:
        from psycopg import AsyncConnection

        from server.migrations import migrate

        async with await AsyncConnection.connect(
            str(settings.postgres_url), autocommit=True
        ) as conn:
            await migrate(conn)
    async with open_database(settings) as db:
        return await action(KeyStore(db))


@keys_app.command("create")
def create(
    owner: Annotated[str, typer.Option(help="Identity the key acts as (owns its threads).")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help=f"What the key may do, repeatable: {', '.join(SCOPES)} "
            f"(default: {format_scopes(DEFAULT_SCOPES)}; `admin` may ingest server paths).",
        ),
    ] = None,
) -> None:
    """Make a key and print it once."""
    try:
        scopes = parse_scopes(scope) if scope else DEFAULT_SCOPES
    except UnknownScope as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if not owner.strip():
        console.print("[bold red]error:[/] --owner must not be empty", highlight=False)
        raise typer.Exit(1)
    key, record = _run(
        "create", lambda store: store.create(name=name or owner, owner=owner, scopes=scopes)
    )
    console.print(
        f"created key [bold]{record.id}[/] for {record.owner} with scopes "
        f"{format_scopes(record.scopes)}; store it now, it is not shown again:"
    )
    print(key)


@keys_app.command("list")
def list_keys() -> None:
    """Show every key (never the secrets)."""
    records = _run("list", lambda store: store.list())
    table = Table("id", "name", "owner", "scopes", "created", "revoked", "last used")
    for r in records:
        table.add_row(
            r.id,
            r.name,
            r.owner,
            format_scopes(r.scopes),
            r.created_at,
            r.revoked_at or "",
            r.last_used_at or "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, from `orca keys list`.")],
) -> None:
    """Revoke a key at once."""
    if not _run("revoke", lambda store: store.revoke(key_id)):
        console.print(f"[bold red]error:[/] no active key {key_id!r}", highlight=False)
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
