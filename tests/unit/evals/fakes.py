"""A fake chat model that reports token usage, for running the eval without real models."""

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from nodes.catalog import ModelCatalog
from server.settings import Settings

ANSWER = "Amara Okafor leads Project Heron."


@asynccontextmanager
async def fake_chat(settings: Settings) -> AsyncIterator[ModelCatalog]:
    reply = AIMessage(
        ANSWER, usage_metadata={"input_tokens": 120, "output_tokens": 8, "total_tokens": 128}
    )
    model = GenericFakeChatModel(messages=itertools.repeat(reply))
    yield ModelCatalog(
        chat={"llm-01": model, "llm-02": model}, providers={"llm-01": "fake", "llm-02": "fake"}
    )
