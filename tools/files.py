"""Which files an ingest of a path means, and whether the server may read them.

Reading the server's own disk is a privilege: only paths inside the operator's roots
(`ORCA_INGEST_ROOTS`) are read, after resolving symlinks and `..`, so a caller cannot name
`/etc/shadow` or `/proc/self/environ`. A path outside the roots is refused with the same
words whether or not it exists, so refusals draw no map of the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

# Files a folder contributes when a directory is ingested.
TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst"})
MAX_FILE_BYTES = 10 * 2**20
"""Largest file read for ingest; a bigger one is refused before it is read."""
MAX_FILES = 10_000
"""Most files one ingest may read from the server's disk."""


class PathRefused(ValueError):
    """A server path that may not be read; the message says what to do instead."""


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Return the files named by `paths`, walking directories for text files, sorted.

    Used by the CLI on the caller's own machine; the server uses `readable_files`.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
            )
        else:
            files.append(path)
    return files


def readable_files(paths: Sequence[str], roots: Sequence[Path]) -> list[Path]:
    """Return the files an ingest of server `paths` reads, each checked against `roots`.

    Raises:
        PathRefused: when no roots are configured, a path is not absolute, a path or a file
            found under a folder resolves outside every root, or a path inside a root does
            not exist, is not a file or folder, or is too large.
    """
    if not paths:
        return []
    if not roots:
        raise PathRefused(
            "this server reads no files from its own disk (ORCA_INGEST_ROOTS is empty); "
            "send the documents' contents instead, e.g. with `orca ingest PATH`"
        )
    files: list[Path] = []
    for raw in paths:
        path = _inside(raw, roots)
        try:
            files.extend(_files_at(path, raw, roots))
            if len(files) > MAX_FILES:
                raise PathRefused(f"more than {MAX_FILES} files; ingest fewer folders at a time")
        except OSError:
            raise PathRefused(f"path {raw!r} cannot be read by the server") from None
    return list(dict.fromkeys(files))


def _files_at(path: Path, raw: str, roots: Sequence[Path]) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES)
        inside = [_inside(str(p), roots, shown=f"{raw!r} holds a link that") for p in found]
        files = [file for file in inside if file.is_file()]
    elif path.is_file():
        files = [path]
    else:
        raise PathRefused(f"path {raw!r} does not exist or is not a file or folder")
    for file in files:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise PathRefused(f"{str(file)!r} is larger than {MAX_FILE_BYTES} bytes")
    return files


def read_text(file: Path) -> str:
    """Read a file found by `readable_files` as UTF-8 text.

    Raises:
        PathRefused: when it is not UTF-8 text or cannot be read.
    """
    try:
        data = file.read_bytes()
    except OSError:
        raise PathRefused(f"{str(file)!r} cannot be read by the server") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PathRefused(f"{str(file)!r} is not UTF-8 text") from None
    if "\x00" in text:
        raise PathRefused(f"{str(file)!r} holds NUL characters (a binary file?)")
    return text


def _inside(raw: str, roots: Sequence[Path], *, shown: str = "") -> Path:
    """Resolve `raw` (symlinks and `..`) and return it if it lies within one of `roots`."""
    if "\x00" in raw or not raw.strip():
        raise PathRefused("a path must be a non-empty string without NUL characters")
    path = Path(raw)
    if not path.is_absolute():
        raise PathRefused(f"server path {raw!r} must be absolute")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        resolved = None
    if resolved is None or not any(resolved.is_relative_to(root) for root in roots):
        subject = shown or f"path {raw!r}"
        raise PathRefused(
            f"{subject} is outside the folders this server lets admins ingest "
            "(ORCA_INGEST_ROOTS); send the file's contents instead"
        )
    return resolved
