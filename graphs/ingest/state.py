"""State of the `ingest` workflow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator
from typing_extensions import TypedDict


class IngestInput(TypedDict, total=False):
    """What a caller sends: raw texts, server-side paths, or both."""

    texts: list[str]
    """Raw documents to ingest."""
    paths: list[str]
    """Files or folders on the server's disk (folders contribute .md/.txt/.rst files)."""


class IngestOutput(TypedDict):
    """What a caller gets back."""

    collection: str
    """The collection written to."""
    sources: list[str]
    """Every source ingested (file path, or `text:<hash>` for raw text)."""
    chunk_count: int
    """How many chunks were embedded and stored."""


class IngestState(IngestInput, IngestOutput):
    """The whole checkpointed state of an ingest run."""

    documents: list[dict[str, Any]]
    """Loaded documents `{source, text}`."""
    chunks: list[dict[str, Any]]
    """Chunks `{source, index, text}` waiting to be embedded."""


class IngestRequest(BaseModel):
    """The body LangServe validates before the graph runs (422 on a mistake)."""

    texts: list[str] = Field(default_factory=list, description="Raw documents to ingest.")
    paths: list[str] = Field(
        default_factory=list, description="Server-side files or folders to ingest."
    )

    @model_validator(mode="after")
    def _check(self) -> IngestRequest:
        if not self.texts and not self.paths:
            raise ValueError("send at least one of 'texts' or 'paths'")
        for position, text in enumerate(self.texts):
            if not text.strip():
                raise ValueError(f"texts[{position}] is blank")
        for raw in self.paths:
            path = Path(raw).expanduser()
            if not path.exists():
                raise ValueError(f"path {raw!r} does not exist on the server")
            if not os.access(path, os.R_OK):
                raise ValueError(f"path {raw!r} is not readable by the server")
            if path.is_file():
                try:
                    path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise ValueError(f"path {raw!r} is not a UTF-8 text file: {exc}") from None
        return self


class IngestResult(BaseModel):
    """What was ingested."""

    collection: str
    sources: list[str]
    chunk_count: int
