"""Build the chat models from settings, once, in the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
from langchain_core.language_models import BaseChatModel

from nodes.catalog import ModelCatalog
from server.settings import Settings
from server.shown_url import shown_url

CHAT_ALIASES = ("llm-01", "llm-02")
T = TypeVar("T")


async def build_chat_models(settings: Settings) -> tuple[dict[str, BaseChatModel], dict[str, str]]:
    """Return the chat models by alias and their `provider:model` labels."""
    provider = settings.chat_provider
    if provider == "local":
        from server.models.local_chat import LlamaCppChatModel, load_smollm2

        llama = await asyncio.to_thread(load_smollm2, context_tokens=settings.chat_context_tokens)
        # One model in memory answers to both aliases on a laptop.
        model = LlamaCppChatModel(llama=llama, max_tokens=settings.chat_max_tokens)
        label = "local:SmolLM2-135M-Instruct"
        return dict.fromkeys(CHAT_ALIASES, model), dict.fromkeys(CHAT_ALIASES, label)
    if provider == "ollama":
        from langchain_ollama import ChatOllama

        model = ChatOllama(
            model=settings.chat_ollama_model,
            base_url=str(settings.ollama_url).rstrip("/"),
            num_predict=settings.chat_max_tokens,
            client_kwargs={"timeout": _timeout(settings, httpx.Timeout)},
        )
        label = f"ollama:{settings.chat_ollama_model}"
        return dict.fromkeys(CHAT_ALIASES, model), dict.fromkeys(CHAT_ALIASES, label)
    import openai
    from langchain_openai import ChatOpenAI

    chat: dict[str, BaseChatModel] = {}
    labels: dict[str, str] = {}
    endpoints = {
        "llm-01": (settings.llm01_url, settings.llm01_model),
        "llm-02": (settings.llm02_url or settings.llm01_url, settings.llm02_model),
    }
    for alias, (url, name) in endpoints.items():
        chat[alias] = ChatOpenAI(
            model=name,
            base_url=str(url),
            api_key=settings.llm_api_key,
            timeout=_timeout(settings, openai.Timeout),
            # The guard (server/resilience) is the one retry loop; the SDK's own two
            # retries would multiply its attempts (research: reliability.md §2.1).
            max_retries=0,
            max_tokens=settings.chat_max_tokens,
            temperature=0,
        )
        labels[alias] = f"openai:{name}@{shown_url(url)}"
    return chat, labels


def _timeout(settings: Settings, kind: Callable[..., T]) -> T:
    """Connect quickly or fail; one attempt may take `upstream_timeout_s` in all.

    Args:
        settings: The process settings.
        kind: The `Timeout` class of the HTTP library the client is built on: `openai.Timeout`
            (httpx's under openai 2, httpx2's under openai 3, whose clients refuse an
            `httpx.Timeout` with a TypeError at start-up: issue 13), `httpx.Timeout` for
            the ollama package.
    """
    return kind(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s)


@asynccontextmanager
async def open_models(settings: Settings) -> AsyncIterator[ModelCatalog]:
    """Load the chat models once and release them on exit.

    Embedding models are not here: the lifespan opens the provider behind the embedding
    gateway (`server.embeddings`) and adds its aliases to the catalog.
    """
    chat, labels = await build_chat_models(settings)
    try:
        yield ModelCatalog(chat=chat, providers=labels)
    finally:
        await close_models(list(chat.values()))


async def close_models(models: list[object]) -> None:
    """Close the HTTP clients and llama.cpp contexts the models hold, each once."""
    for model in {id(m): m for m in models}.values():
        llama = getattr(model, "llama", None)
        if llama is not None and hasattr(llama, "close"):
            llama.close()
        # langchain-ollama keeps an ollama.AsyncClient (httpx inside); langchain-openai an
        # AsyncOpenAI. Neither is closed by LangChain, so their sockets would leak.
        ollama_client = getattr(model, "_async_client", None)
        httpx_client = getattr(ollama_client, "_client", None)
        if httpx_client is not None and hasattr(httpx_client, "aclose"):
            await httpx_client.aclose()
        openai_client = getattr(model, "root_async_client", None)
        if openai_client is not None and hasattr(openai_client, "close"):
            await openai_client.close()
