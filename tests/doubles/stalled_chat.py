"""A chat model server that accepted the call and sends nothing until the test says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from nodes.catalog import ModelCatalog
from server.settings import Settings

ANSWER = "Released."


class StalledChatModel(BaseChatModel):
    """Waits on `released` before answering; `waiting` counts the calls stuck in it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    released: asyncio.Event = Field(default_factory=asyncio.Event)
    waiting: list[int] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "stalled"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise NotImplementedError("the stalled model is async only")

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        await self._stall()
        return ChatResult(generations=[ChatGeneration(message=AIMessage(ANSWER))])

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        await self._stall()
        yield ChatGenerationChunk(message=AIMessageChunk(content=ANSWER))

    async def _stall(self) -> None:
        self.waiting.append(1)
        try:
            await self.released.wait()
        finally:
            self.waiting.pop()


def stalled_models(
    model: StalledChatModel,
) -> Callable[[Settings], AbstractAsyncContextManager[ModelCatalog]]:
    """Return a model opener whose two chat aliases are the same stalled model."""

    @asynccontextmanager
    async def open_stalled(settings: Settings) -> AsyncIterator[ModelCatalog]:
        yield ModelCatalog(
            chat={"llm-01": model, "llm-02": model},
            providers={"llm-01": "stalled", "llm-02": "stalled"},
        )

    return open_stalled
