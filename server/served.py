"""Serve a lifespan-built graph through LangServe, with the run context LangServe lacks.

LangServe 0.3 knows nothing of LangGraph's `context=` argument: a graph mounted directly
sees `runtime.context is None`. It also needs the runnable when routes are added, before
the lifespan has opened the checkpointer and models. `ServedWorkflow` solves both: it
carries the workflow's request/response types for the schemas and playground, looks up
the compiled graph at call time, and turns `configurable` into a `Context`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.utils import ConfigurableFieldSpec
from langgraph.errors import GraphRecursionError
from langgraph.pregel import Pregel

from graphs import WorkflowSpec
from graphs.context import Context
from server.embeddings.errors import ApiError
from server.guards.runs import RunLimits
from server.observability.runs import RunTelemetry
from server.run_policy import CALLER_SETTINGS
from tools.files import PathRefused

CONTEXT_KEY = "__orca_context"
"""Where the request's checked `Context` travels in `configurable` (set by the route's config
modifier from `server.run_policy`; LangChain copies no `__` key into run metadata)."""


class ServedWorkflow(RunnableSerializable[dict[str, Any], dict[str, Any]]):
    """A registered workflow as LangServe sees it (async only)."""

    spec: WorkflowSpec
    resolve: Callable[[], Pregel[Any, Any, Any, Any]]
    """Return the compiled graph built by the lifespan."""
    defaults: Context
    """The context a run gets for the knobs its caller leaves out."""
    telemetry: RunTelemetry
    """Run metrics and the run log line."""
    limits: RunLimits = RunLimits()
    """Steps and seconds each run may take."""

    model_config = {"arbitrary_types_allowed": True}

    @property
    def InputType(self) -> Any:  # noqa: N802 - LangChain's name
        """Return the validated request model."""
        return self.spec.request_type

    @property
    def OutputType(self) -> Any:  # noqa: N802 - LangChain's name
        """Return the response model."""
        return self.spec.response_type

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        """Name runs after the workflow."""
        return super().get_name(suffix, name=name or self.spec.name)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """Advertise `thread_id` and the per-run knobs in `/config_schema`."""
        return [
            ConfigurableFieldSpec(
                id="thread_id",
                annotation=str,
                name="Thread",
                default="",
                description="Continue this thread; leave empty for a new one.",
            ),
            *(
                ConfigurableFieldSpec(
                    id=key,
                    annotation=type(getattr(self.defaults, key)),
                    name=key.replace("_", " ").capitalize(),
                    default=getattr(self.defaults, key),
                    description=description,
                )
                for key, description in CALLER_SETTINGS.items()
            ),
        ]

    def context_for(self, config: RunnableConfig | None) -> Context:
        """Return the context the route checked for this request (the defaults without one)."""
        context = ((config or {}).get("configurable") or {}).get(CONTEXT_KEY)
        return context if isinstance(context, Context) else self.defaults

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Refuse: the checkpointer and models are async."""
        raise NotImplementedError("served workflows run asynchronously; use ainvoke")

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run the graph to the end and return its output."""
        graph = self.resolve()
        name = self.spec.name
        telemetry = self.telemetry.run(name, "langserve", _thread(config))
        async with telemetry as record, _answered_limits(self.limits):
            output = await graph.ainvoke(
                input,
                self.limits.apply(self.telemetry.config_for(name, config)),
                context=self.context_for(config),
                **kwargs,
            )
            if isinstance(output, dict) and output.get("__interrupt__"):
                record.outcome = "interrupted"
        return output

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream the graph's updates; `astream_events` and `astream_log` build on this."""
        graph = self.resolve()
        name = self.spec.name
        async with self.telemetry.run(name, "langserve", _thread(config), streaming=True) as record:
            # A run that fails here (past its deadline too) reaches the client as
            # LangServe's `error` event (status 500, message hidden), whatever the cause.
            async for chunk in self.limits.bounded(
                graph.astream(
                    input,
                    self.limits.apply(self.telemetry.config_for(name, config)),
                    context=self.context_for(config),
                    **kwargs,
                )
            ):
                if isinstance(chunk, dict) and "__interrupt__" in chunk:
                    record.outcome = "interrupted"
                yield chunk


@asynccontextmanager
async def _answered_limits(limits: RunLimits) -> AsyncIterator[None]:
    """Bound a run's time; a run stopped by a limit is an error that says which."""
    try:
        async with asyncio.timeout(limits.timeout_s) as deadline:
            yield
    except TimeoutError:
        if not deadline.expired():
            raise
        message = f"the run took longer than {limits.timeout_s:g} s and was stopped"
        raise ApiError(504, message) from None
    except PathRefused as refused:
        raise ApiError(422, str(refused)) from None
    except GraphRecursionError:
        message = (
            f"the run did not finish within {limits.recursion_limit} steps "
            "(the workflow is looping) and was stopped"
        )
        raise ApiError(500, message) from None


def _thread(config: RunnableConfig | None) -> str:
    return str(((config or {}).get("configurable") or {}).get("thread_id", ""))
