"""The gateway as LangChain `Embeddings`, so workflows share its caches and batching."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from server.embeddings.gateway import EmbeddingGateway


class GatewayEmbeddings(Embeddings):
    """Embed through the gateway; async only, as every workflow node is."""

    def __init__(self, gateway: EmbeddingGateway) -> None:
        self.gateway = gateway

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; duplicates and cached texts cost nothing."""
        result = await self.gateway.embed(texts)
        return result.vectors.tolist()  # type: ignore[no-any-return]

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return (await self.aembed_documents([text]))[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Refuse: the gateway lives on the server's event loop."""
        raise NotImplementedError("GatewayEmbeddings is async; use aembed_documents")

    def embed_query(self, text: str) -> list[float]:
        """Refuse: the gateway lives on the server's event loop."""
        raise NotImplementedError("GatewayEmbeddings is async; use aembed_query")
