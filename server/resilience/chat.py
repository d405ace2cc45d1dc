"""A chat model whose calls go through its upstream's guard, with LangChain's interface intact.

`ResilientChatModel` is the model LangChain sees: callbacks, `astream_events` (the AG-UI
adapter) and the run metadata (`orca_alias`, `orca_provider`) attach to it, while the
wrapped model's `_agenerate` and `_astream` make the upstream calls. One logical call is
one callback run however many attempts it took; retries are counted per upstream in
`orca_upstream_retries_total`. `bind_tools` binds on the wrapped model (its tool
conversion is kept) and returns a binding of the wrapper, so tool calls are guarded too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding
from pydantic import ConfigDict

from server.resilience.guard import Guard


class ResilientChatModel(BaseChatModel):
    """Delegate to `inner`, with every async call retried, timed and broken by `guard`.

    The synchronous methods delegate unguarded: the service calls models asynchronously.
    """

    inner: BaseChatModel
    """The provider's model (e.g. `ChatOpenAI(max_retries=0)`): one attempt per call."""
    guard: Guard
    """The upstream's bulkhead, circuit and retry loop."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return self.inner._llm_type

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self.inner._identifying_params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return self.inner._get_ls_params(stop=stop, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # No run_manager for the inner model: a model set to stream internally would
        # report tokens to the client from an attempt that may still be retried.
        return await self.guard.call(lambda: self.inner._agenerate(messages, stop=stop, **kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        # LangChain reports each chunk this yields as a token; the guard holds chunks
        # back until the first one with text or a tool call, so retries stay invisible.
        def open_stream() -> AsyncIterator[ChatGenerationChunk]:
            return self.inner._astream(messages, stop=stop, **kwargs)

        async for chunk in self.guard.stream(open_stream, meaningful=has_content):
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self.inner._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self.inner._stream(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessageChunk | BaseMessage]:
        """Bind tools the way the wrapped model does, keeping the calls guarded.

        Raises:
            NotImplementedError: when the wrapped model cannot call tools.
        """
        bound = self.inner.bind_tools(tools, **kwargs)
        if isinstance(bound, RunnableBinding) and bound.bound is self.inner:
            return self.bind(**bound.kwargs)
        if isinstance(bound, BaseChatModel):  # a model that binds by copying itself
            return self.model_copy(update={"inner": bound})
        raise NotImplementedError(f"cannot guard {type(bound).__name__} from bind_tools")


def has_content(chunk: ChatGenerationChunk) -> bool:
    """Return whether a chunk carries text or a tool call (what a client would show)."""
    message = chunk.message
    return bool(message.content) or bool(getattr(message, "tool_call_chunks", None))


def guard_chat_models(
    chat: dict[str, BaseChatModel], guard_for: Callable[[str], Guard | None]
) -> dict[str, BaseChatModel]:
    """Wrap each alias's model in its upstream's guard; models without one stay as they are."""
    guarded: dict[str, BaseChatModel] = {}
    for alias, model in chat.items():
        guard = guard_for(alias)
        guarded[alias] = model if guard is None else ResilientChatModel(inner=model, guard=guard)
    return guarded
