"""The search every workflow shares: what it asks the embedding model for."""

from langchain_core.embeddings import Embeddings
from qdrant_client import AsyncQdrantClient

from nodes.catalog import ModelCatalog
from nodes.context import Context
from nodes.retrieve import MAX_QUERY_CHARS, search_passages
from tools.knowledge_base import KnowledgeBase


class Recording(Embeddings):
    """Remembers each query; refuses one past 8,192 characters, as the gateway does for
    MiniLM's 256 tokens."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        assert len(text) <= 8192, "the gateway would refuse this input"
        self.queries.append(text)
        return [1.0, 0.0, 0.0, 0.0]


async def test_a_long_query_is_searched_by_its_beginning() -> None:
    """A 9,200-character chat message failed its run at the search; now it is answered."""
    embeddings = Recording()
    client = AsyncQdrantClient(location=":memory:")
    try:
        models = ModelCatalog(embeddings={"embed-01": embeddings})
        long = "tell me about falcons. " * 400
        found = await search_passages(models, KnowledgeBase(client), Context(), long)
    finally:
        await client.close()
    assert found == []  # nothing ingested: the search ran and found nothing
    assert embeddings.queries == [long[:MAX_QUERY_CHARS]]
