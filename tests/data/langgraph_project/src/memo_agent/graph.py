"""Define the memo agent: keep each user message as a memo in the store, and say so.

The reply comes from a fake chat model, so runs are deterministic and still stream tokens.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from memo_agent.context import Context
from memo_agent.state import InputState, State


async def remember(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Store the last human message as a memo of the user's; count the user's memos."""
    humans = [message for message in state["messages"] if isinstance(message, HumanMessage)]
    text = str(humans[-1].content) if humans else ""
    if runtime.store is None:
        return {"memo_count": -1}
    namespace = ("memos", runtime.context.user_id)
    await runtime.store.aput(namespace, str(uuid.uuid4()), {"text": text})
    return {"memo_count": len(await runtime.store.asearch(namespace, limit=100))}


async def reply(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer with the greeting and the user's memo count, streamed by a fake model."""
    count = state.get("memo_count", -1)
    kept = "no store to keep memos in" if count < 0 else f"{count} memo(s) kept"
    text = f"{runtime.context.greeting}, {runtime.context.user_id}: {kept}."
    model = GenericFakeChatModel(messages=iter([AIMessage(content=text)]))
    return {"messages": [await model.ainvoke(state["messages"])]}


builder = StateGraph(State, input_schema=InputState, context_schema=Context)
builder.add_node(remember)
builder.add_node(reply)
builder.add_edge("__start__", "remember")
builder.add_edge("remember", "reply")
graph = builder.compile(name="Memo Agent")
