"""`orca ingest PATH...`: upload files from this machine to a running server's knowledge base.

The files are read here, on the caller's machine, and their contents are sent with their
paths (relative to the current folder where possible) as source names, a batch of files per
request, so ingesting works against a remote server exactly as against a local one.
`--server-paths` instead asks the server to read the paths on its own disk: that needs an
admin credential and a server whose `ORCA_INGEST_ROOTS` holds them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tools.files import expand_paths

BATCH_BYTES = 512 * 1024
"""Most file bytes per request: half the server's default body limit (`ORCA_MAX_BODY_BYTES`),
leaving room for JSON escaping."""
BATCH_FILES = 32
"""Most files per request, so the progress bar moves and a failure names a small batch."""


def source_name(file: Path, given: Path) -> str:
    """Name a file by its path relative to the current folder, else to what was given."""
    for base in (Path.cwd(), given.resolve().parent):
        try:
            return file.relative_to(base).as_posix()
        except ValueError:
            continue
    return file.name


def read_local(paths: list[Path]) -> list[dict[str, str]]:
    """Read the text files under `paths` into `{source, text}`.

    Raises:
        ValueError: naming the files that are missing or not UTF-8 text.
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"no such file or folder: {', '.join(missing)}")
    files: list[dict[str, str]] = []
    unreadable: list[str] = []
    for given in paths:
        for file in expand_paths([given]):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                unreadable.append(str(file))
                continue
            if "\x00" in text:
                unreadable.append(str(file))
            elif text.strip():
                files.append({"source": source_name(file, given), "text": text})
    if unreadable:
        raise ValueError(f"not UTF-8 text files (nothing was sent): {', '.join(unreadable)}")
    if not files:
        raise ValueError("no .md, .txt or .rst files with text under the given paths")
    return files


def batches(files: list[dict[str, str]]) -> Iterator[list[dict[str, str]]]:
    """Group files into requests of at most `BATCH_FILES` files and about `BATCH_BYTES`."""
    batch: list[dict[str, str]] = []
    size = 0
    for file in files:
        length = len(file["text"].encode())
        if batch and (size + length > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, size = [], 0
        batch.append(file)
        size += length
    if batch:
        yield batch


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.md, .txt, .rst).")],
    collection: Annotated[str | None, typer.Option(help="Target collection.")] = None,
    server_paths: Annotated[
        bool,
        typer.Option(
            "--server-paths",
            help="Have the server read these paths on its own disk (admin scope, and only "
            "under the server's ORCA_INGEST_ROOTS) instead of uploading them.",
        ),
    ] = False,
    server: Annotated[
        str | None, typer.Option("--server", help="Base URL of a running server.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ORCA_API_KEY", help="API key, when the server asks for one."),
    ] = None,
) -> None:
    """Ingest files into the knowledge base of the running server, with progress."""
    from server.cli import console, fail, post, server_url

    base = server_url(server)
    config = {"configurable": {"collection": collection}} if collection else {}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if server_paths:
        requests: list[tuple[dict[str, Any], int]] = [
            ({"paths": [str(p.expanduser().absolute()) for p in paths]}, len(paths))
        ]
    else:
        try:
            files = read_local(paths)
        except ValueError as exc:
            raise fail(str(exc)) from None
        requests = [({"files": batch}, len(batch)) for batch in batches(files)]
    total = sum(count for _, count in requests)
    chunks = 0
    started = time.perf_counter()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[chunks]} chunks · {task.fields[rate]:.1f} chunks/s"),
        TimeElapsedColumn(),
    )
    with (
        httpx.Client(timeout=600, headers=headers) as client,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("ingesting", total=total, chunks=0, rate=0.0)
        for body, count in requests:
            result = post(
                client, f"{base}/workflows/ingest/invoke", {"input": body, "config": config}
            )
            chunks += int(result["output"]["chunk_count"])
            rate = chunks / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=count, chunks=chunks, rate=rate)
    noun = "paths" if server_paths else "files"
    console.print(
        f"ingested {total} {noun}, {chunks} chunks in {time.perf_counter() - started:.1f}s"
    )
