"""The guarded chat model keeps LangChain's interface: binding tools, metadata, streaming."""

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableBinding
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import graphs  # noqa: F401 - loads nodes in the order their imports need
from server.observability.wiring import label_chat_models
from server.resilience.chat import ResilientChatModel, guard_chat_models
from tests.doubles.scripted_chat import ScriptedChatModel
from tests.unit.server.resilience.test_guard import guard


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return query


async def test_bind_tools_keeps_the_providers_conversion_and_the_guard() -> None:
    inner = ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
    model = ResilientChatModel(inner=inner, guard=await guard())
    bound = model.bind_tools([lookup])
    assert isinstance(bound, RunnableBinding) and bound.bound is model
    assert bound.kwargs["tools"][0]["function"]["name"] == "lookup"


async def test_labels_survive_and_calls_go_through_the_guard() -> None:
    g = await guard()
    chat = guard_chat_models({"llm-01": ScriptedChatModel(calls=[])}, lambda alias: g)
    model = label_chat_models(chat, {"llm-01": "scripted"})["llm-01"]
    assert isinstance(model, ResilientChatModel)
    assert model.metadata is not None
    assert (model.metadata["orca_alias"], model.metadata["orca_provider"]) == ("llm-01", "scripted")
    reply = await model.bind_tools([lookup]).ainvoke([HumanMessage("call the frontend")])
    assert reply.tool_calls[0]["name"] == "lookup"
    events = [e async for e in model.astream_events([HumanMessage("hi there")], version="v2")]
    streamed = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(streamed) == "Scripted answer: hi there"
    assert g.attempts == 2


async def test_models_without_a_guard_stay_as_they_are() -> None:
    local = ScriptedChatModel(calls=[])
    assert guard_chat_models({"llm-01": local}, lambda alias: None)["llm-01"] is local
