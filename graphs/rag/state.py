"""State of the `rag` workflow."""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict

from nodes.state import Source


class RagInput(TypedDict):
    """What a caller sends."""

    question: str
    """The question to answer from the knowledge base."""


class RagOutput(TypedDict):
    """What a caller gets back."""

    answer: str
    """The model's answer, or a plain statement that nothing was found."""
    sources: list[Source]
    """The retrieved passages, best first."""


class RagState(RagInput, RagOutput):
    """The whole checkpointed state of a rag thread."""

    messages: Annotated[list[AnyMessage], add_messages]
    """Every question and answer of the thread, so a thread id continues a conversation."""
    model: str
    """The chat model alias that answered the last question (the other one when the
    requested one failed)."""


class RagRequest(BaseModel):
    """The body LangServe validates before the graph runs (422 on a mistake)."""

    question: str = Field(min_length=1, max_length=8000, description="The question to answer.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be blank")
        return value


class SourceModel(BaseModel):
    """A passage the answer was drawn from."""

    source: str
    text: str
    score: float


class RagAnswer(BaseModel):
    """The answer with its sources."""

    answer: str
    sources: list[SourceModel]
