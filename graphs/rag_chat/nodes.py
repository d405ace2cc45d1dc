"""The verb only `rag-chat` has: take the question from the conversation."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from graphs.rag_chat.state import RagChatState


async def take_question(state: RagChatState) -> dict[str, str]:
    """Make the last user message the question.

    Raises:
        ValueError: when the conversation has no user message.
    """
    for message in reversed(state.get("messages") or []):
        if isinstance(message, HumanMessage) and str(message.content).strip():
            return {"question": str(message.content)}
    raise ValueError("the conversation has no user message to answer")
