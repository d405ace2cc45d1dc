"""State of the `rag-chat` workflow, and the bodies LangServe validates for chat workflows."""

from __future__ import annotations

from typing import Annotated, Any, Required

from langchain_core.messages import AnyMessage, HumanMessage, convert_to_messages
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field, field_validator, model_validator
from typing_extensions import TypedDict

from graphs.rag.state import SourceModel
from nodes.state import Source


class RagChatInput(TypedDict):
    """What a caller sends: the conversation, whose last user message is the question."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; new messages are appended (by id) to the thread's."""


class RagChatOutput(TypedDict, total=False):
    """What a caller gets back."""

    messages: Required[Annotated[list[AnyMessage], add_messages]]
    """The conversation, ending with the answer (always there: the input holds it)."""
    sources: list[Source]
    """The retrieved passages, best first."""
    model: str
    """The chat model alias that answered (the other one when the requested one failed)."""


class RagChatState(RagChatInput, RagChatOutput, total=False):
    """The whole checkpointed state of a rag-chat thread."""

    question: str
    """The last user message, being answered."""
    answer: str
    """The answer's text."""


class ChatRequest(BaseModel):
    """The body of a chat-shaped workflow over LangServe: the new messages of the turn."""

    messages: list[AnyMessage] = Field(min_length=1, description="Messages to add to the thread.")

    @field_validator("messages", mode="before")
    @classmethod
    def _from_roles(cls, messages: Any) -> Any:
        """Take OpenAI-style `{"role": "user", "content": ...}` messages too.

        The runs API and LangGraph take them; the same body was a 422 here.
        """
        if not isinstance(messages, list):
            return messages
        try:
            return [
                convert_to_messages([m])[0] if isinstance(m, dict) and "type" not in m else m
                for m in messages
            ]
        except (ValueError, TypeError, KeyError, NotImplementedError) as refused:
            raise ValueError(f"a message LangChain cannot read: {refused}") from None


class RagChatRequest(ChatRequest):
    """A rag-chat turn, which must ask something: its last user message is the question."""

    @model_validator(mode="after")
    def _has_a_question(self) -> RagChatRequest:
        # Checked here, before the run: the graph's own check can only fail the run (a 500,
        # or an error event mid-stream), found by Schemathesis.
        if not any(isinstance(m, HumanMessage) and str(m.content).strip() for m in self.messages):
            raise ValueError("send a user message with the question (type 'human', non-blank)")
        return self


class ChatReply(BaseModel):
    """The thread after the turn."""

    messages: list[AnyMessage]
    sources: list[SourceModel] = Field(default_factory=list)
    model: str | None = None
    """The chat model alias that answered."""
    interrupts: list[Any] = Field(default_factory=list, alias="__interrupt__")
    """Approvals the run waits for (agent only)."""
