"""The verbs of ingestion: load documents, split them, embed and store the chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.ingest.chunking import Chunker
from graphs.ingest.state import Document, IngestOutput, IngestState, PendingChunk
from nodes.node import Node, StateOnlyNode
from tools.files import PathRefused, read_text, readable_files
from tools.knowledge_base import Chunk


def text_source(text: str) -> str:
    """Name raw text by its content, so re-sending the same text overwrites it."""
    return "text:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def make_load(deps: GraphDeps) -> Node[IngestState, dict[str, list[Document]]]:
    """Return the `load` node, which reads server paths only inside `deps.ingest_roots`."""

    def load(state: IngestState, runtime: Runtime[Context]) -> dict[str, list[Document]]:
        """Read sent files, raw texts and server files into documents `{source, text}`.

        Server paths are read only for a run whose caller may (`context.server_files`) and
        only inside the roots; this check is here, where files are read, so no surface and
        no state update can go around it. Synchronous on purpose: LangGraph runs it in a
        worker thread, off the event loop.

        Raises:
            PathRefused: a path the run may not read, or a file that is not UTF-8 text.
        """
        documents: list[Document] = [
            {"source": str(file["source"]), "text": str(file["text"])}
            for file in state.get("files", [])
        ]
        documents += [
            {"source": text_source(text), "text": text} for text in state.get("texts", [])
        ]
        paths = list(state.get("paths", []))
        # Typed `Context`, but None when a run passes no context: that run reads no files.
        context: Context | None = runtime.context
        if paths and (context is None or not context.server_files):
            raise PathRefused(
                "reading files on the server's disk needs the admin scope; send the "
                "documents' contents instead, e.g. with `orca ingest PATH`"
            )
        for path in readable_files(paths, deps.ingest_roots):
            documents.append({"source": str(path), "text": read_text(path)})
        return {"documents": documents}

    return load


def make_split(deps: GraphDeps) -> StateOnlyNode[IngestState, dict[str, list[PendingChunk]]]:
    """Return the `split` node, cutting chunks within the deps' chunk budget."""
    chunker = Chunker(deps.chunk_budget)

    def split(state: IngestState) -> dict[str, list[PendingChunk]]:
        """Cut each document into overlapping chunks, numbered within the document.

        Synchronous on purpose: counting tokens is CPU work, which LangGraph runs in a
        worker thread, off the event loop.
        """
        chunks: list[PendingChunk] = []
        for document in state["documents"]:
            pieces = chunker.split_source(document["source"], document["text"])
            chunks.extend(
                {"source": document["source"], "index": index, "text": piece}
                for index, piece in enumerate(pieces)
            )
        return {"chunks": chunks}

    return split


def make_store(
    deps: GraphDeps,
) -> Node[IngestState, Awaitable[IngestOutput]]:
    """Return the `store` node bound to the embedding models and knowledge base."""

    async def store(state: IngestState, runtime: Runtime[Context]) -> IngestOutput:
        """Embed every chunk in batches, then upsert them all and prune stale chunks.

        All vectors are computed before the first write, so a failing embedding model
        leaves the collection as it was.
        """
        context = runtime.context
        chunks = [Chunk(c["source"], c["index"], c["text"]) for c in state["chunks"]]
        sources = sorted({d["source"] for d in state["documents"]})
        if not chunks:
            return {"collection": context.collection, "sources": sources, "chunk_count": 0}
        embeddings = deps.models.embedding_model(context.embedding_model)
        vectors: list[list[float]] = []
        size = deps.embedding_batch_size
        for start in range(0, len(chunks), size):
            batch = [chunk.text for chunk in chunks[start : start + size]]
            vectors.extend(await embeddings.aembed_documents(batch))
        kb = deps.knowledge_base
        await kb.ensure_collection(context.collection, len(vectors[0]))
        await kb.upsert(context.collection, context.tenant, chunks, vectors)
        for source in sources:
            kept = sum(1 for chunk in chunks if chunk.source == source)
            await kb.prune_source(context.collection, context.tenant, source, keep=kept)
        return {"collection": context.collection, "sources": sources, "chunk_count": len(chunks)}

    return store
