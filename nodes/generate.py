"""Answer the question from the retrieved passages with the run's chat model."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.deps import GraphDeps

# Earlier turns of the thread given to the model. Small on purpose: the local model has
# a 2k-token window and the passages take most of it.
HISTORY_MESSAGES = 4


def format_passages(sources: list[dict[str, Any]]) -> str:
    """Number the passages so the model can refer to them."""
    return "\n\n".join(
        f"[{number}] ({source['source']})\n{source['text']}"
        for number, source in enumerate(sources, start=1)
    )


def make_generate(deps: GraphDeps, *, system_prompt: str, nothing_found: str) -> Any:
    """Return the `generate` node bound to the process's chat models."""

    async def generate(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
        """Answer `state["question"]` from `state["sources"]`, or say nothing was found."""
        question = state["question"]
        sources = state.get("sources") or []
        if not sources:
            answer = nothing_found
        else:
            model = deps.models.chat_model(runtime.context.chat_model)
            history: list[BaseMessage] = list(state.get("messages") or [])[-HISTORY_MESSAGES:]
            prompt = [
                SystemMessage(system_prompt.format(passages=format_passages(sources))),
                *history,
                HumanMessage(question),
            ]
            reply = await model.ainvoke(prompt)
            answer = str(reply.content).strip()
        return {"answer": answer, "messages": [HumanMessage(question), AIMessage(answer)]}

    return generate
