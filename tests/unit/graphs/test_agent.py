"""The agent graph's rules: model routing, tool routing, and models that cannot call tools."""

from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs.agent.graph import build_graph
from graphs.agent.history import NOT_RUN, with_every_call_answered
from graphs.agent.nodes import (
    LONG_THREAD_MESSAGES,
    LONG_TURN_CHARS,
    choose_model,
    route_after_agent,
)
from graphs.context import Context
from graphs.deps import GraphDeps
from nodes.catalog import ModelCatalog
from tests.doubles.scripted_chat import scripted_catalog
from tests.support import fake_catalog


def test_long_inputs_go_to_llm_02_and_the_rest_to_the_requested_model() -> None:
    assert choose_model([HumanMessage("short")], "llm-01") == "llm-01"
    assert choose_model([HumanMessage("x" * (LONG_TURN_CHARS + 1))], "llm-01") == "llm-02"
    thread = [HumanMessage(f"m{i}") for i in range(LONG_THREAD_MESSAGES + 1)]
    assert choose_model(thread, "llm-01") == "llm-02"


def call(name: str) -> dict[str, Any]:
    return {"name": name, "args": {}, "id": f"id-{name}"}


def test_tool_calls_are_routed_by_who_runs_them() -> None:
    def route(*names: str, frontend: tuple[str, ...] = ()) -> str:
        message = AIMessage("", tool_calls=[call(n) for n in names])
        tools = [{"name": n} for n in frontend]
        return route_after_agent({"messages": [message], "tools": tools})

    assert route_after_agent({"messages": [AIMessage("done")]}) == "__end__"
    assert route("search_knowledge_base") == "tools"
    assert route("save_note") == "approve"
    assert route("search_knowledge_base", "save_note") == "approve"
    assert route("show_banner", frontend=("show_banner",)) == "__end__"


def test_routing_refuses_a_thread_that_does_not_end_with_the_model() -> None:
    # The `agent` node always appends the model's message; anything else is a bug.
    for messages in ([], [HumanMessage("hello")]):
        with pytest.raises(ValueError, match="should end with the model's message"):
            route_after_agent({"messages": messages})


async def test_a_model_without_tool_calling_answers_from_retrieved_passages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qdrant_client import AsyncQdrantClient

    from tools.knowledge_base import Chunk, KnowledgeBase

    catalog = fake_catalog()
    plain = FakeListChatModel(responses=["From the passages: tea at ten."])
    models = ModelCatalog(chat={"llm-01": plain, "llm-02": plain}, embeddings=catalog.embeddings)
    client = AsyncQdrantClient(location=":memory:")
    knowledge_base = KnowledgeBase(client, index_payload=False)
    embeddings = catalog.embeddings["embed-01"]
    text = "Green tea is served at ten."
    await knowledge_base.ensure_collection("documents", 16)
    await knowledge_base.upsert(
        "documents", "public", [Chunk("kitchen.md", 0, text)], [await embeddings.aembed_query(text)]
    )
    graph = build_graph(deps=GraphDeps(models=models, knowledge_base=knowledge_base))
    result = await graph.ainvoke(
        {"messages": [HumanMessage("When is tea served?")]}, context=Context()
    )
    assert result["messages"][-1].content == "From the passages: tea at ten."
    assert result["sources"][0]["source"] == "kitchen.md"
    assert result["model"] == "llm-01"
    await client.close()


@pytest.mark.parametrize(
    "first",
    ["note: buy milk", "frontend please"],
    ids=["an approval left open", "a frontend call left unanswered"],
)
async def test_a_new_message_over_an_unanswered_call_is_answered(first: str) -> None:
    """A new message sent while a call waits (LangServe and the runs API take it, as
    langgraph-api does) left the call unanswered in the thread: OpenAI-compatible servers
    refuse such a history, so every later turn failed. The model is shown it "not run"."""
    models = scripted_catalog()
    graph = build_graph(
        deps=GraphDeps(models=models, knowledge_base=None), checkpointer=InMemorySaver()
    )  # type: ignore[arg-type]
    config: Any = {"configurable": {"thread_id": "t"}}
    frontend = [{"name": "show_banner", "description": "Show a banner"}]
    await graph.ainvoke(
        {"messages": [HumanMessage(first)], "tools": frontend}, config, context=Context()
    )
    called = (await graph.aget_state(config)).values["messages"][-1]
    assert called.tool_calls
    later = await graph.ainvoke({"messages": [HumanMessage("hello")]}, config, context=Context())
    assert later["messages"][-1].content == "Scripted answer: hello"
    assert later["messages"][-2].content == "hello"  # the thread itself is left as it was
    shown = with_every_call_answered(later["messages"])
    assert [m.content for m in shown if getattr(m, "tool_call_id", None)] == [NOT_RUN]
