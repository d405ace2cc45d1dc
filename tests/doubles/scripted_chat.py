"""A tool-calling chat model for tests, scripted by the conversation it is given.

The last message decides:
- a user message containing "fail" raises (a model failure);
- "note:" calls `save_note` with the rest of the message (approval needed);
- "search" calls `search_knowledge_base` with the message;
- "frontend" calls the first frontend tool bound (one not in the backend's names);
- anything else streams "Scripted answer: <the message>";
- after a tool result it answers from it: "Saved the note.", "The note was not saved.",
  "Scripted answer: found N passages.", or "Scripted answer: the frontend said <content>".
It streams word by word, and a tool call whole in one chunk, as Ollama and llama.cpp do.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from graphs.agent.tools import REJECTED, SAVE_NOTE, SEARCH
from nodes.catalog import ModelCatalog
from server.settings import Settings

BACKEND = {SEARCH, SAVE_NOTE}


class ScriptedChatModel(BaseChatModel):
    """Answers by the rules in the module docstring; `calls` counts invocations."""

    tool_names: list[str] = []
    fail_always: bool = False
    delay_s: float = 0.0
    """Pause before each streamed chunk (a slow model)."""
    calls: list[int] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        names = [convert_to_openai_tool(tool)["function"]["name"] for tool in tools]
        return self.model_copy(update={"tool_names": names})

    def reply(self, messages: list[BaseMessage]) -> AIMessage:
        """Return the scripted reply to a conversation (refused as OpenAI refuses it)."""
        self.calls.append(1)
        refuse_unpaired_tool_messages(messages)
        last = messages[-1]
        if self.fail_always:
            raise RuntimeError("the scripted model is down")
        if isinstance(last, ToolMessage):
            return AIMessage(self._after_tool(last))
        text = str(last.content) if isinstance(last, HumanMessage) else ""
        if "fail" in text:
            raise RuntimeError("scripted failure")
        if "note:" in text and SAVE_NOTE in self.tool_names:
            return self._call(SAVE_NOTE, {"text": text.split("note:", 1)[1].strip()})
        if "search" in text and SEARCH in self.tool_names:
            return self._call(SEARCH, {"query": text})
        frontend = [name for name in self.tool_names if name not in BACKEND]
        if "frontend" in text and frontend:
            return self._call(frontend[0], {"message": "hello from the agent"})
        return AIMessage(f"Scripted answer: {text}")

    @staticmethod
    def _after_tool(result: ToolMessage) -> str:
        content = str(result.content)
        if result.name == SAVE_NOTE:
            return "The note was not saved." if content == REJECTED else "Saved the note."
        if result.name == SEARCH:
            return f"Scripted answer: found {len(json.loads(content))} passages."
        return f"Scripted answer: the frontend said {content}"

    @staticmethod
    def _call(name: str, args: dict[str, Any]) -> AIMessage:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.reply(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from _chunks(self.reply(messages))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self.reply(messages)):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield chunk


def refuse_unpaired_tool_messages(messages: list[BaseMessage]) -> None:
    """Refuse what OpenAI's chat API refuses with a 400: an assistant message's tool calls
    not each answered by the tool messages right after it, or a tool message answering no
    call (the real servers check; a model double that did not hid a thread broken for good).
    """
    open_calls: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            if message.tool_call_id not in open_calls:
                raise ValueError(
                    "Error code: 400 - messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'"
                )
            open_calls.discard(message.tool_call_id)
            continue
        if open_calls:
            raise ValueError(
                "Error code: 400 - An assistant message with 'tool_calls' must be followed "
                f"by tool messages responding to each 'tool_call_id': {sorted(open_calls)}"
            )
        if isinstance(message, AIMessage):
            open_calls = {call["id"] for call in message.tool_calls if call["id"]}


def _chunks(reply: AIMessage) -> Iterator[ChatGenerationChunk]:
    if reply.tool_calls:
        call = reply.tool_calls[0]
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": call["name"],
                        "args": json.dumps(call["args"]),
                        "id": call["id"],
                        "index": 0,
                    }
                ],
            )
        )
        return
    words = str(reply.content).split(" ")
    for i, word in enumerate(words):
        yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else f" {word}"))


def scripted_catalog(**options: Any) -> ModelCatalog:
    """Return a catalog whose two chat aliases are scripted models."""
    llm01 = ScriptedChatModel(calls=[], **options.get("llm01", {}))
    llm02 = ScriptedChatModel(calls=[], **options.get("llm02", {}))
    return ModelCatalog(
        chat={"llm-01": llm01, "llm-02": llm02},
        providers={"llm-01": "scripted", "llm-02": "scripted"},
    )


def scripted_models(
    catalog: ModelCatalog | None = None,
) -> Callable[[Settings], AbstractAsyncContextManager[ModelCatalog]]:
    """Return a model opener for `create_app(models=...)` with the scripted chat models."""

    @asynccontextmanager
    async def open_scripted(settings: Settings) -> AsyncIterator[ModelCatalog]:
        yield catalog or scripted_catalog()

    return open_scripted
