"""The state keys the shared verbs read and write, as partial states of the graphs using them.

A graph's state (`graphs/<name>/state.py`) holds these keys with the same types; LangGraph
reads a node's first parameter's type as the keys that node is given, so each verb sees only
what it declares here.
"""

from __future__ import annotations

from typing import Annotated, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class Source(TypedDict):
    """A passage the answer was drawn from."""

    source: str
    """The document it was cut from (a file path, `text:<hash>` or `note:<hash>`)."""
    text: str
    """The passage itself."""
    score: float
    """Its similarity to the question (higher is nearer)."""


class RetrieveState(TypedDict):
    """What `retrieve` reads."""

    question: str
    """The question to find passages for."""


class RetrieveUpdate(TypedDict):
    """What `retrieve` writes."""

    sources: list[Source]
    """The retrieved passages, best first."""


class GenerateState(TypedDict):
    """What `generate` reads."""

    question: str
    """The question to answer."""
    sources: NotRequired[list[Source]]
    """The passages to answer from; none means nothing was found."""
    messages: NotRequired[Annotated[list[AnyMessage], add_messages]]
    """The thread so far, whose last few messages the model sees."""


class GenerateUpdate(TypedDict):
    """What `generate` writes."""

    answer: str
    """The answer's text."""
    messages: list[AnyMessage]
    """The answer (after the question, when the graph records it), appended to the thread."""
    model: NotRequired[str]
    """The chat model alias that answered; absent when no model ran."""
