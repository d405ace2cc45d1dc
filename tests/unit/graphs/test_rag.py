from langgraph.checkpoint.memory import InMemorySaver

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.ingest.graph import build_graph as build_ingest
from graphs.rag.graph import build_graph as build_rag
from graphs.rag.prompts import NOTHING_FOUND
from tests.support import FAKE_ANSWER


async def test_empty_collection_says_nothing_was_found(deps: GraphDeps) -> None:
    result = await build_rag(deps=deps).ainvoke({"question": "Who led Falcon?"}, context=Context())
    assert result == {"answer": NOTHING_FOUND, "sources": []}


async def test_answer_comes_with_the_retrieved_sources(deps: GraphDeps) -> None:
    await build_ingest(deps=deps).ainvoke(
        {"texts": ["Ingrid Solberg led Project Falcon.", "Tea is served on Tuesday."]},
        context=Context(),
    )
    result = await build_rag(deps=deps).ainvoke(
        {"question": "Ingrid Solberg led Project Falcon."}, context=Context(top_k=1)
    )
    assert result["answer"] == FAKE_ANSWER
    assert len(result["sources"]) == 1
    # Deterministic fake embeddings: the identical text is the nearest neighbour.
    assert result["sources"][0]["text"] == "Ingrid Solberg led Project Falcon."
    assert result["sources"][0]["score"] > 0.99


async def test_a_thread_keeps_the_conversation(deps: GraphDeps) -> None:
    await build_ingest(deps=deps).ainvoke({"texts": ["Falcon facts."]}, context=Context())
    graph = build_rag(deps=deps, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-1"}}
    await graph.ainvoke({"question": "first?"}, config, context=Context())
    await graph.ainvoke({"question": "second?"}, config, context=Context())
    state = await graph.aget_state(config)
    contents = [message.content for message in state.values["messages"]]
    assert contents == ["first?", FAKE_ANSWER, "second?", FAKE_ANSWER]


async def test_other_tenants_documents_are_invisible(deps: GraphDeps) -> None:
    await build_ingest(deps=deps).ainvoke(
        {"texts": ["Secret of tenant a."]}, context=Context(tenant="a")
    )
    result = await build_rag(deps=deps).ainvoke(
        {"question": "Secret of tenant a."}, context=Context(tenant="b")
    )
    assert result["sources"] == []
