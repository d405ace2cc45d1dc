"""Assistants of the Agent Server API: the registry's (read-only) and the ones callers save.

Paths and bodies are the ones `langgraph-sdk`'s `client.assistants.*` uses; the rules live
in `server/runs/assistant_rules.py`. A saved assistant is its owner's: another identity
gets 404 for it and never sees it listed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import TypeAdapter

from server.auth.identity import Identity
from server.deps import IdentityDep, get_identity
from server.routes.runs import RunsDep
from server.runs import assistant_rules as rules
from server.runs.assistant_bodies import (
    AssistantCreate,
    AssistantLatest,
    AssistantPatch,
    AssistantSearch,
    AssistantVersionsQuery,
)
from server.runs.assistants import Assistant
from server.runs.service import Graph, RunsService
from server.runs.wire import json_response

router = APIRouter(tags=["assistants"], dependencies=[Depends(get_identity)])


@router.post("/assistants")
async def create_assistant(body: AssistantCreate, runs: RunsDep, identity: IdentityDep) -> Response:
    """Save an assistant: a graph with its config, context and metadata (version 1)."""
    return json_response((await rules.create_assistant(runs, identity, body)).public())


@router.post("/assistants/search")
async def search_assistants(
    body: AssistantSearch, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Search the system assistants and yours by graph, name (substring) and metadata."""
    found = await rules.search_assistants(runs, identity, body)
    shown = [a.public() for a in found]
    if body.select:
        shown = [{key: value for key, value in a.items() if key in body.select} for a in shown]
    # What langgraph-api sends, and `search(response_format="object")` reads as `next`.
    headers = (
        {"X-Pagination-Next": str(body.offset + body.limit)} if len(found) == body.limit else {}
    )
    return json_response(shown, headers=headers)


@router.post("/assistants/count")
async def count_assistants(body: AssistantSearch, runs: RunsDep, identity: IdentityDep) -> Response:
    """Count the assistants that match."""
    return json_response(await rules.count_assistants(runs, identity, body))


@router.get("/assistants/{assistant_id}")
async def get_assistant(assistant_id: str, runs: RunsDep, identity: IdentityDep) -> Response:
    """Return an assistant by id (a system one by graph name too)."""
    return json_response((await _read(runs, identity, assistant_id)).public())


@router.patch("/assistants/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantPatch, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Add a version of your assistant (what is given replaces; metadata merges)."""
    updated = await rules.update_assistant(runs, identity, assistant_id, body)
    return json_response(updated.public())


@router.delete("/assistants/{assistant_id}", status_code=204)
async def delete_assistant(
    assistant_id: str, runs: RunsDep, identity: IdentityDep, delete_threads: bool = False
) -> Response:
    """Delete your assistant; `delete_threads` also deletes your threads it ran on."""
    await rules.delete_assistant(runs, identity, assistant_id, delete_threads=delete_threads)
    return Response(status_code=204)


@router.post("/assistants/{assistant_id}/versions")
async def list_assistant_versions(
    assistant_id: str, body: AssistantVersionsQuery, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Return the assistant's versions, newest first (`metadata` filters them)."""
    versions = await rules.assistant_versions(runs, identity, assistant_id, body)
    return json_response([v.public_version() for v in versions])


@router.post("/assistants/{assistant_id}/latest")
async def set_latest_version(
    assistant_id: str, body: AssistantLatest, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Make one of your assistant's versions the current one."""
    updated = await rules.set_latest(runs, identity, assistant_id, body.version)
    return json_response(updated.public())


@router.get("/assistants/{assistant_id}/graph")
async def get_assistant_graph(
    assistant_id: str, runs: RunsDep, identity: IdentityDep, xray: int | bool = False
) -> Response:
    """Return the graph's nodes and edges (`xray` also draws subgraphs, to that depth)."""
    graph = runs.graph_for(await _read(runs, identity, assistant_id))
    drawn = (await graph.aget_graph(xray=xray)).to_json()
    return json_response(drawn)


@router.get("/assistants/{assistant_id}/schemas")
async def get_assistant_schemas(
    assistant_id: str, runs: RunsDep, identity: IdentityDep
) -> Response:
    """Return the graph's input, output, state and context JSON schemas."""
    assistant = await _read(runs, identity, assistant_id)
    return json_response(schemas_of(assistant.graph_id, runs.graph_for(assistant)))


@router.get("/assistants/{assistant_id}/subgraphs")
@router.get("/assistants/{assistant_id}/subgraphs/{namespace}")
async def get_assistant_subgraphs(
    assistant_id: str,
    runs: RunsDep,
    identity: IdentityDep,
    namespace: str | None = None,
    recurse: bool = False,
) -> Response:
    """Return the schemas of the graph's subgraphs, by namespace.

    Each under the reference server's keys (`state`, `input`, `output`, `config`) and under
    `langgraph-sdk`'s `GraphSchema` ones (`state_schema`, ...), so either kind of client
    finds them.
    """
    assistant = await _read(runs, identity, assistant_id)
    graph = runs.graph_for(assistant)
    found = {}
    async for ns, subgraph in graph.aget_subgraphs(namespace=namespace, recurse=recurse):
        schemas = schemas_of(assistant.graph_id, subgraph)
        found[ns] = {
            "state": schemas["state_schema"],
            "input": schemas["input_schema"],
            "output": schemas["output_schema"],
            "config": schemas["context_schema"],
            **schemas,
        }
    return json_response(found)


async def _read(runs: RunsService, identity: Identity, assistant_id: str) -> Assistant:
    """Return the assistant, if the project's `assistants.read` rule shows it (else 404)."""
    found, _ = await runs.assistant_for(identity, assistant_id)
    return found


def schemas_of(graph_id: str, graph: Any) -> dict[str, Any]:
    """Return the SDK's `GraphSchema` for a compiled graph."""
    return {
        "graph_id": graph_id,
        "input_schema": graph.get_input_jsonschema(),
        "output_schema": graph.get_output_jsonschema(),
        "state_schema": _state_schema(graph),
        "config_schema": None,
        "context_schema": graph.get_context_jsonschema(),
    }


def _state_schema(graph: Graph) -> dict[str, Any] | None:
    builder = getattr(graph, "builder", None)
    state = getattr(builder, "state_schema", None)
    if state is None:
        return None
    try:
        return TypeAdapter(state).json_schema()
    except Exception:  # noqa: BLE001 - a type pydantic cannot describe: describe it by channel
        pass
    # What langgraph-api does: each channel's update type, or "anything" when it has none.
    properties = {name: _schema_or_any(graph.channels[name]) for name in graph.stream_channels_list}
    return {"title": graph.get_name("State"), "type": "object", "properties": properties}


def _schema_or_any(channel: Any) -> dict[str, Any]:
    try:
        return TypeAdapter(channel.UpdateType).json_schema()
    except Exception:  # noqa: BLE001 - no describable type: any value
        return {}
