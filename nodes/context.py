"""Per-run knobs, read by nodes through `runtime: Runtime[Context]`.

Here rather than in `graphs/`, so the shared verbs can read it without importing the graphs
they are part of; `graphs.context` names it for everything above them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a caller may change for one run, without touching process settings."""

    chat_model: str = "llm-01"
    """Alias of the chat model that answers (`llm-01`, `llm-02`)."""
    embedding_model: str = "embed-01"
    """Alias of the embedding model used for questions and chunks."""
    collection: str = "documents"
    """Qdrant collection to read from or write to."""
    top_k: int = 4
    """How many passages retrieval returns."""
    tenant: str = "public"
    """Whose documents a run may see; set by the server, never by the model."""
    server_files: bool = False
    """Whether the run may read files on the server's disk (an admin caller, and only under
    the operator's ingest roots); set by the server, never by the caller."""
