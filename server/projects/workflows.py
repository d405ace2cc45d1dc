"""The app's registry: the built-in workflows and the operator's graphs, in one namespace.

Every surface serves what is here (LangServe at `/workflows/{name}`, AG-UI at
`/agui/{name}` for graphs whose input has `messages`, and the Agent Server API), so a graph
of `ORCA_GRAPHS` or of the project's `langgraph.json` reaches each surface the way the
built-in workflows do. Names are one namespace: a graph named like a built-in workflow is
refused at start-up, unless `ORCA_BUILTIN_WORKFLOWS=false` serves only the operator's graphs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from graphs import REGISTRY, WorkflowSpec
from graphs.deps import GraphDeps
from graphs.extra import NotAGraph, as_graph
from server.projects.config import GraphEntry, Project, ProjectError
from server.projects.targets import import_target

log = logging.getLogger("orca.projects")


def workflow_registry(
    *, builtins: bool, extra_graphs: dict[str, str], project: Project | None
) -> dict[str, WorkflowSpec]:
    """Return every workflow this app serves, built-in first.

    Raises:
        ProjectError: a graph that cannot be imported or served, or a name used twice.
    """
    registry = dict(REGISTRY) if builtins else {}
    entries: dict[str, tuple[GraphEntry, str, Path]] = {
        name: (GraphEntry(target), "ORCA_GRAPHS", Path.cwd())
        for name, target in extra_graphs.items()
    }
    if project is not None:
        for name, entry in project.graphs.items():
            if name in entries:
                raise ProjectError(
                    f"graph {name!r} is in ORCA_GRAPHS and in {project.path.name}; keep one"
                )
            entries[name] = (entry, project.path.name, project.root)
    for name, (entry, origin, root) in entries.items():
        if name in registry:
            raise ProjectError(
                f"graph {name!r} of {origin} has the name of a built-in workflow; rename it "
                "there, or set ORCA_BUILTIN_WORKFLOWS=false to serve only your graphs"
            )
        registry[name] = user_workflow(name, entry, origin, root)
    return registry


def user_workflow(name: str, entry: GraphEntry, origin: str, root: Path) -> WorkflowSpec:
    """Import one graph of the operator's and describe it as the surfaces need it.

    Raises:
        ProjectError: naming the graph and what to fix.
    """
    found = import_target(root, entry.target, owner=f"graph {name!r}")
    try:
        graph = as_graph(name, found, None)
    except NotAGraph as error:
        raise ProjectError(str(error)) from None
    except Exception as error:  # the project's builder runs here
        raise ProjectError(
            f"graph {name!r}: building it failed: {type(error).__name__}: {error}"
        ) from None
    request_type, response_type = graph.get_input_schema(), graph.get_output_schema()
    langserve = _renders(name, request_type) and _renders(name, response_type)

    def build(*, deps: GraphDeps | None = None, checkpointer: Any = None) -> Any:
        # The lifespan then gives every graph the service's store, this one too
        # (`server.store.runs.give_store`): `runtime.store` is Orca's long-term memory.
        del deps  # the operator's graphs bring their own models and tools
        return as_graph(name, found, checkpointer)

    return WorkflowSpec(
        name=name,
        description=entry.description or f"{entry.target} ({origin})",
        build=build,
        request_type=request_type,
        response_type=response_type,
        chat="messages" in _input_keys(graph),
        langserve=langserve,
        origin=origin,
        context_schema=graph.context_schema,
    )


def _input_keys(graph: Any) -> list[str]:
    """Return the state keys the graph's input has (its input JSON schema's properties)."""
    try:
        return list(graph.get_input_jsonschema().get("properties") or {})
    except Exception:  # an unrenderable schema: not servable as chat either
        return []


def _renders(name: str, model: type[BaseModel]) -> bool:
    """Return whether LangServe can publish the model's JSON schema (logged when not)."""
    try:
        model.model_json_schema()
    except Exception as error:  # pydantic raises several kinds for unrenderable types
        log.warning(
            "graph %r is not served on LangServe (/workflows/%s): its schema %s cannot be "
            "rendered (%s); the runs API and AG-UI serve it",
            name,
            name,
            model.__name__,
            error,
        )
        return False
    return True


def workflows_of(app: Any) -> dict[str, WorkflowSpec]:
    """Return the registry `create_app` built for `app` (the built-ins for a bare app)."""
    found: dict[str, WorkflowSpec] | None = getattr(app.state, "workflows", None)
    return REGISTRY if found is None else found
