"""Which files an ingest of a path means."""

from __future__ import annotations

from pathlib import Path

# Files a folder contributes when a directory is ingested.
TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst"})


def expand_paths(paths: list[str]) -> list[Path]:
    """Return the files named by `paths`, walking directories for text files, sorted."""
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
