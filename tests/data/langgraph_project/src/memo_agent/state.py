"""Define the state of the memo agent."""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph import add_messages
from typing_extensions import TypedDict


class InputState(TypedDict):
    """What a caller sends."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; the last human message is the memo to keep."""


class State(InputState, total=False):
    """The whole state."""

    memo_count: int
    """How many memos the user has in the store after this turn."""
