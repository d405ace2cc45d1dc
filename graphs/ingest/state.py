"""State of the `ingest` workflow."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator
from typing_extensions import TypedDict

MAX_SOURCE_CHARS = 1024


class SentFile(TypedDict):
    """A file's contents sent by the caller, named as the caller knows it."""

    source: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SOURCE_CHARS)]
    """The name retrieval shows for it, e.g. its path relative to where it was ingested from."""
    text: str
    """Its contents (UTF-8 text)."""


class IngestInput(TypedDict, total=False):
    """What a caller sends: file contents, raw texts, server-side paths (admins), or several."""

    files: list[SentFile]
    """Files sent by the caller: their contents, with the source name to show."""
    texts: list[str]
    """Raw documents to ingest."""
    paths: list[str]
    """Files or folders on the server's disk (folders contribute .md/.txt/.rst files): admins
    only, and only under the operator's ingest roots."""


class IngestOutput(TypedDict):
    """What a caller gets back."""

    collection: str
    """The collection written to."""
    sources: list[str]
    """Every source ingested (file path, or `text:<hash>` for raw text)."""
    chunk_count: int
    """How many chunks were embedded and stored."""


class Document(TypedDict):
    """A loaded document."""

    source: str
    """Its name: the sent file's, the server path, or `text:<hash>` for raw text."""
    text: str
    """Its contents."""


class PendingChunk(TypedDict):
    """A chunk waiting to be embedded."""

    source: str
    """The document it was cut from."""
    index: int
    """Its position in the document, from 0."""
    text: str
    """The chunk itself."""


class IngestState(IngestInput, IngestOutput):
    """The whole checkpointed state of an ingest run."""

    documents: list[Document]
    """Loaded documents."""
    chunks: list[PendingChunk]
    """Chunks waiting to be embedded."""


class IngestRequest(BaseModel):
    """The body LangServe validates before the graph runs (422 on a mistake).

    Server paths are checked for the caller (scope, roots) by the run policy and again where
    they are read; this model checks only their shape, so it reveals nothing of the disk.
    """

    files: list[SentFile] = Field(
        default_factory=list, description="File contents sent by the caller, with source names."
    )
    texts: list[str] = Field(default_factory=list, description="Raw documents to ingest.")
    paths: list[str] = Field(
        default_factory=list,
        description="Absolute server-side files or folders (admins, under ORCA_INGEST_ROOTS).",
    )

    @model_validator(mode="after")
    def _check(self) -> IngestRequest:
        if not self.texts and not self.paths and not self.files:
            raise ValueError("send at least one of 'files', 'texts' or 'paths'")
        for position, text in enumerate(self.texts):
            if not text.strip():
                raise ValueError(f"texts[{position}] is blank")
        for position, file in enumerate(self.files):
            if not file["text"].strip():
                raise ValueError(f"files[{position}].text is blank")
        return self


class IngestResult(BaseModel):
    """What was ingested."""

    collection: str
    sources: list[str]
    chunk_count: int
