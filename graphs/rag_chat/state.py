"""State of the `rag-chat` workflow, and the bodies LangServe validates for chat workflows."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from graphs.rag.state import Source, SourceModel


class RagChatInput(TypedDict):
    """What a caller sends: the conversation, whose last user message is the question."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; new messages are appended (by id) to the thread's."""


class RagChatOutput(TypedDict, total=False):
    """What a caller gets back."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation, ending with the answer."""
    sources: list[Source]
    """The retrieved passages, best first."""


class RagChatState(RagChatInput, RagChatOutput, total=False):
    """The whole checkpointed state of a rag-chat thread."""

    question: str
    """The last user message, being answered."""
    answer: str
    """The answer's text."""


class ChatRequest(BaseModel):
    """The body of a chat-shaped workflow over LangServe: the new messages of the turn."""

    messages: list[AnyMessage] = Field(min_length=1, description="Messages to add to the thread.")


class ChatReply(BaseModel):
    """The thread after the turn."""

    messages: list[AnyMessage]
    sources: list[SourceModel] = Field(default_factory=list)
    model: str | None = None
    """The chat model alias that answered (agent only)."""
    interrupts: list[Any] = Field(default_factory=list, alias="__interrupt__")
    """Approvals the run waits for (agent only)."""
