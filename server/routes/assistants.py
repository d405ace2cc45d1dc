"""Assistants of the Agent Server API: one per served graph, read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import TypeAdapter

from server.deps import get_identity
from server.routes.runs import RunsDep
from server.runs.schema import AssistantSearch
from server.runs.service import Graph
from server.runs.wire import json_response

router = APIRouter(tags=["assistants"], dependencies=[Depends(get_identity)])


@router.post("/assistants/search")
async def search_assistants(body: AssistantSearch, runs: RunsDep) -> Response:
    """Search assistants by graph, name (substring) and metadata."""
    found = runs.assistants.search(graph_id=body.graph_id, name=body.name, metadata=body.metadata)
    return json_response([a.public() for a in found[body.offset : body.offset + body.limit]])


@router.post("/assistants/count")
async def count_assistants(body: AssistantSearch, runs: RunsDep) -> Response:
    """Count assistants that match."""
    found = runs.assistants.search(graph_id=body.graph_id, name=body.name, metadata=body.metadata)
    return json_response(len(found))


@router.get("/assistants/{assistant_id}")
async def get_assistant(assistant_id: str, runs: RunsDep) -> Response:
    """Return an assistant by graph name or UUID."""
    return json_response(runs.assistant(assistant_id).public())


@router.get("/assistants/{assistant_id}/graph")
async def get_assistant_graph(
    assistant_id: str, runs: RunsDep, xray: int | bool = False
) -> Response:
    """Return the graph's nodes and edges (`xray` also draws subgraphs, to that depth)."""
    graph = runs.graphs[runs.assistant(assistant_id).graph_id]
    drawn = (await graph.aget_graph(xray=xray)).to_json()
    return json_response(drawn)


@router.get("/assistants/{assistant_id}/schemas")
async def get_assistant_schemas(assistant_id: str, runs: RunsDep) -> Response:
    """Return the graph's input, output, state and context JSON schemas."""
    assistant = runs.assistant(assistant_id)
    return json_response(schemas_of(assistant.graph_id, runs.graphs[assistant.graph_id]))


@router.get("/assistants/{assistant_id}/subgraphs")
@router.get("/assistants/{assistant_id}/subgraphs/{namespace}")
async def get_assistant_subgraphs(
    assistant_id: str, runs: RunsDep, namespace: str | None = None, recurse: bool = False
) -> Response:
    """Return the schemas of the graph's subgraphs, by namespace.

    Each under the reference server's keys (`state`, `input`, `output`, `config`) and under
    `langgraph-sdk`'s `GraphSchema` ones (`state_schema`, ...), so either kind of client
    finds them.
    """
    assistant = runs.assistant(assistant_id)
    graph = runs.graphs[assistant.graph_id]
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
