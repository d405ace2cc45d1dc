"""The verbs of ingestion: load documents, split them, embed and store the chunks."""

from __future__ import annotations

import hashlib
from typing import Any

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter
from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.deps import GraphDeps
from tools.files import expand_paths
from tools.knowledge_base import Chunk


def text_source(text: str) -> str:
    """Name raw text by its content, so re-sending the same text overwrites it."""
    return "text:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def load(state: dict[str, Any]) -> dict[str, Any]:
    """Read the files and raw texts into documents `{source, text}`.

    Synchronous on purpose: LangGraph runs it in a worker thread, off the event loop.
    """
    documents = [{"source": text_source(text), "text": text} for text in state.get("texts", [])]
    for path in expand_paths(state.get("paths", [])):
        documents.append({"source": str(path), "text": path.read_text(encoding="utf-8")})
    return {"documents": documents}


def make_split(deps: GraphDeps) -> Any:
    """Return the `split` node with the configured chunk size."""
    plain = RecursiveCharacterTextSplitter(
        chunk_size=deps.chunk_size, chunk_overlap=deps.chunk_overlap
    )
    markdown = RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN, chunk_size=deps.chunk_size, chunk_overlap=deps.chunk_overlap
    )

    async def split(state: dict[str, Any]) -> dict[str, Any]:
        """Cut each document into overlapping chunks, numbered within the document."""
        chunks = []
        for document in state["documents"]:
            splitter = markdown if document["source"].endswith((".md", ".markdown")) else plain
            pieces = [p for p in splitter.split_text(document["text"]) if p.strip()]
            chunks.extend(
                {"source": document["source"], "index": index, "text": piece}
                for index, piece in enumerate(pieces)
            )
        return {"chunks": chunks}

    return split


def make_store(deps: GraphDeps) -> Any:
    """Return the `store` node bound to the embedding models and knowledge base."""

    async def store(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
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
