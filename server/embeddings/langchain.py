"""The gateway as LangChain `Embeddings`, so workflows share its caches and batching."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from server.embeddings.errors import ApiError
from server.embeddings.gateway import EmbeddingGateway

QUERY_CUTS = (1, 2, 4, 8, 16)
"""A query too long for the model is tried at 1/2, 1/4... of its characters."""


class GatewayEmbeddings(Embeddings):
    """Embed through the gateway; async only, as every workflow node is."""

    def __init__(self, gateway: EmbeddingGateway) -> None:
        self.gateway = gateway

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; duplicates and cached texts cost nothing."""
        result = await self.gateway.embed(texts)
        return result.vectors.tolist()  # type: ignore[no-any-return]

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query; one longer than the model reads is embedded by its beginning.

        A search is meant by its whole query, but its beginning finds the passages too,
        where a refusal failed the run (a 1,244-character question is 261 MiniLM tokens,
        past its 256). Only the model knows its tokens, so the query is halved until it
        fits (`QUERY_CUTS`); a refusal for any other reason is raised as it came.
        """
        for cut in QUERY_CUTS:
            try:
                return (await self.aembed_documents([text[: max(1, len(text) // cut)]]))[0]
            except ApiError as refused:
                if refused.code != "context_length_exceeded" or cut == QUERY_CUTS[-1]:
                    raise
        raise AssertionError("unreachable: the last cut raises")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Refuse: the gateway lives on the server's event loop."""
        raise NotImplementedError("GatewayEmbeddings is async; use aembed_documents")

    def embed_query(self, text: str) -> list[float]:
        """Refuse: the gateway lives on the server's event loop."""
        raise NotImplementedError("GatewayEmbeddings is async; use aembed_query")
