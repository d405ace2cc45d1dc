"""The agent's backend tools, built per run so the run's `Context` is closed over.

The model chooses only the arguments in a tool's schema. The tenant, collection and models
come from the run's `Context`, so a model can never search or write another tenant's data.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from graphs.context import Context
from graphs.deps import GraphDeps
from nodes.retrieve import search_passages
from nodes.state import Source
from tools.knowledge_base import Chunk

SEARCH = "search_knowledge_base"
SAVE_NOTE = "save_note"
NEEDS_APPROVAL = frozenset({SAVE_NOTE})
REJECTED = "The user rejected saving this note; it was not saved."


class SearchArgs(BaseModel):
    """Search the knowledge base for passages that answer a question."""

    query: str = Field(description="What to look for, in plain words.")


class SaveNoteArgs(BaseModel):
    """Save a short note into the knowledge base so later questions can find it.

    A person approves every save before it happens.
    """

    text: str = Field(description="The note to save, as a complete sentence or two.")


async def search(deps: GraphDeps, context: Context, query: str) -> list[Source]:
    """Return the tenant's top-k passages for `query`, as the `retrieve` node finds them."""
    return await search_passages(deps.models, deps.knowledge_base, context, query)


async def save_note(deps: GraphDeps, context: Context, text: str) -> str:
    """Embed the note and store it as one chunk of source `note:<sha256 prefix>`."""
    embeddings = deps.models.embedding_model(context.embedding_model)
    vector = await embeddings.aembed_query(text)
    await deps.knowledge_base.ensure_collection(context.collection, len(vector))
    source = f"note:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    await deps.knowledge_base.upsert(
        context.collection, context.tenant, [Chunk(source=source, index=0, text=text)], [vector]
    )
    return source


def backend_tools(deps: GraphDeps, context: Context) -> dict[str, StructuredTool]:
    """Return the backend tools of one run, by name."""

    async def run_search(query: str) -> tuple[str, list[Source]]:
        passages = await search(deps, context, query)
        return json.dumps(passages, ensure_ascii=False), passages

    async def run_save_note(text: str) -> str:
        return f"Saved the note as {await save_note(deps, context, text)}."

    tools = [
        StructuredTool.from_function(
            coroutine=run_search,
            name=SEARCH,
            description=str(SearchArgs.__doc__),
            args_schema=SearchArgs,
            response_format="content_and_artifact",
        ),
        StructuredTool.from_function(
            coroutine=run_save_note,
            name=SAVE_NOTE,
            description=str(SaveNoteArgs.__doc__),
            args_schema=SaveNoteArgs,
        ),
    ]
    return {tool.name: tool for tool in tools}


def rejected_tool(name: str) -> StructuredTool:
    """Return a stand-in for a refused tool: it answers the call without acting.

    Run as a tool (not written as a bare message) so the stream reports the call's result
    like any other.
    """

    async def refuse(**_: Any) -> str:
        return REJECTED

    return StructuredTool.from_function(
        coroutine=refuse, name=name, description="Refused by the user.", args_schema=SaveNoteArgs
    )
