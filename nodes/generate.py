"""Answer the question from the retrieved passages with the run's chat model."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.catalog import ModelCatalog
from nodes.context import Context
from nodes.fallback import with_fallback
from nodes.node import Node
from nodes.state import GenerateState, GenerateUpdate, Source

# Earlier turns of the thread given to the model. Small on purpose: the local model has
# a 2k-token window and the passages take most of it.
HISTORY_MESSAGES = 4


def format_passages(sources: list[Source]) -> str:
    """Number the passages so the model can refer to them."""
    return "\n\n".join(
        f"[{number}] ({source['source']})\n{source['text']}"
        for number, source in enumerate(sources, start=1)
    )


def make_generate(
    models: ModelCatalog, *, system_prompt: str, nothing_found: str, record_question: bool = True
) -> Node[GenerateState, Awaitable[GenerateUpdate]]:
    """Return the `generate` node bound to the process's chat models.

    `record_question` appends the question to `messages` with the answer; a chat-shaped
    graph, whose input already holds the question as a message, turns it off.
    """

    async def generate(state: GenerateState, runtime: Runtime[Context]) -> GenerateUpdate:
        """Answer `state["question"]` from `state["sources"]`, or say nothing was found."""
        question = state["question"]
        sources = state.get("sources") or []
        asked: list[AnyMessage] = [HumanMessage(question)] if record_question else []
        if not sources:
            reply = AIMessage(nothing_found, id=str(uuid.uuid4()))
            # No model runs, so nothing streams; tell streaming clients (AG-UI) the answer.
            await adispatch_custom_event(
                "manually_emit_message", {"message_id": reply.id, "message": nothing_found}
            )
            return {"answer": nothing_found, "messages": [*asked, reply]}
        history: list[BaseMessage] = list(state.get("messages") or [])
        if not record_question:
            history = history[:-1]  # the question itself comes last, below
        prompt = [
            SystemMessage(system_prompt.format(passages=format_passages(sources))),
            *history[-HISTORY_MESSAGES:],
            HumanMessage(question),
        ]
        streamed, alias = await with_fallback(
            runtime.context.chat_model,
            lambda name: models.chat_model(name).ainvoke(prompt),
        )
        answer = str(streamed.content).strip()
        # The answer keeps the id it streamed under, so clients can match the two; `model`
        # says which alias answered (the other one when the requested one failed).
        return {
            "answer": answer,
            "messages": [*asked, AIMessage(answer, id=streamed.id)],
            "model": alias,
        }

    return generate
