from collections.abc import AsyncIterator

import pytest
from qdrant_client import AsyncQdrantClient

from graphs.deps import GraphDeps
from graphs.ingest.chunking import ChunkBudget
from tests.support import fake_catalog
from tools.knowledge_base import KnowledgeBase


@pytest.fixture
async def deps() -> AsyncIterator[GraphDeps]:
    client = AsyncQdrantClient(location=":memory:")
    yield GraphDeps(
        models=fake_catalog(),
        knowledge_base=KnowledgeBase(client, index_payload=False),
        chunk_budget=ChunkBudget(size=200, overlap=20),
        embedding_batch_size=2,
    )
    await client.close()
