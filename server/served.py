"""Serve a lifespan-built graph through LangServe, with the run context LangServe lacks.

LangServe 0.3 knows nothing of LangGraph's `context=` argument: a graph mounted directly
sees `runtime.context is None`. It also needs the runnable when routes are added, before
the lifespan has opened the checkpointer and models. `ServedWorkflow` solves both: it
carries the workflow's request/response types for the schemas and playground, looks up
the compiled graph at call time, and runs it with the `Context` the route checked, as a run
of the run service (thread claimed there, one running run per thread, recorded in
`/threads/{id}/runs`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.utils import ConfigurableFieldSpec
from langgraph.errors import GraphRecursionError
from langgraph.pregel import Pregel
from pydantic import BaseModel

from graphs import WorkflowSpec
from graphs.context import Context
from server.auth.identity import ANONYMOUS, Identity
from server.embeddings.errors import ApiError
from server.errors import run_error_message
from server.guards.runs import RunLimits, RunTimedOut
from server.observability.runs import RunTelemetry
from server.run_policy import CALLER_SETTINGS
from server.runs.events import RunEvents
from server.runs.local import LocalRun, RunEnded, SurfaceBody, marked
from server.runs.records import ThreadBusy
from server.runs.service import NotFound, RunsService
from tools.files import PathRefused

IDENTITY_KEY = "__orca_identity"
"""Who runs it (set by the route's config modifier)."""
CLAIMED_KEY = "__orca_claimed"
"""Set when the route already claimed the caller's thread for this workflow."""
NEW_THREAD_KEY = "__orca_new_thread"
"""Set when the caller named no thread: each input of a batch then gets a thread of its own."""
CONTEXT_KEY = "__orca_context"
"""Where the request's checked `Context` travels in `configurable` (set by the route's config
modifier from `server.run_policy`; LangChain copies no `__` key into run metadata)."""


class ServedWorkflow(RunnableSerializable[dict[str, Any], dict[str, Any]]):
    """A registered workflow as LangServe sees it (async only)."""

    spec: WorkflowSpec
    resolve: Callable[[], Pregel[Any, Any, Any, Any]]
    """Return the compiled graph built by the lifespan."""
    defaults: Context | None
    """The context a run gets for the knobs its caller leaves out (a built-in workflow's);
    None for a graph of the operator's, whose context the run service builds per request."""
    telemetry: RunTelemetry
    """Run metrics and the run log line."""
    service: Callable[[], RunsService]
    """Return the lifespan's run service, which records and rules every run."""
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
        thread = ConfigurableFieldSpec(
            id="thread_id",
            annotation=str,
            name="Thread",
            default="",
            description="Continue this thread; leave empty for a new one.",
        )
        if self.defaults is None:  # a graph of the operator's: its context fields
            return [thread, *context_specs(self.spec.context_schema)]
        return [
            thread,
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

    def context_for(self, config: RunnableConfig | None) -> Any:
        """Return the context the route checked for this request (the defaults without one)."""
        configurable = (config or {}).get("configurable") or {}
        return configurable[CONTEXT_KEY] if CONTEXT_KEY in configurable else self.defaults

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Refuse: the checkpointer and models are async."""
        raise NotImplementedError("served workflows run asynchronously; use ainvoke")

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run the graph to the end, as a run of the run service, and return its output."""
        graph, run_config, context = self._prepared(config)

        async def body(events: RunEvents, marks: dict[str, Any]) -> AsyncIterator[Any]:
            config = marked(run_config, marks)
            yield await graph.ainvoke(input, config, context=context, **kwargs)

        async with _answered(self.limits):
            local = await self._start(input, run_config, context, body, streaming=False)
            outputs = [output async for output in local.items()]
        return outputs[-1] if outputs else {}

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream the graph's updates; `astream_events` and `astream_log` build on this.

        A run that fails reaches the client as LangServe's `error` event, which hides the
        message (status 500): an arbitrary error may carry what a client must not see. One
        that failed because a dependency is down gets the status and message `invoke` would
        answer (`server/served_errors.py`); one past its deadline stays a hidden 500.
        """
        graph, run_config, context = self._prepared(config)
        limits = self.limits

        async def body(events: RunEvents, marks: dict[str, Any]) -> AsyncIterator[Any]:
            stream = graph.astream(input, marked(run_config, marks), context=context, **kwargs)
            async for chunk in limits.bounded(stream):
                yield chunk

        async with _answered(self.limits):
            local = await self._start(input, run_config, context, body, streaming=True)
        try:
            async for chunk in local.items():
                yield chunk
        finally:  # not awaited: the client that left may have cancelled this scope
            local.client_left(self.service().cancel)

    def _prepared(
        self, config: RunnableConfig | None
    ) -> tuple[Pregel[Any, Any, Any, Any], RunnableConfig, Any]:
        configurable = dict((config or {}).get("configurable") or {})
        if configurable.pop(NEW_THREAD_KEY, False) or not configurable.get("thread_id"):
            configurable["thread_id"] = str(uuid.uuid4())  # one new thread per run
            configurable.pop(CLAIMED_KEY, None)
        given = RunnableConfig(**{**(config or {}), "configurable": configurable})  # type: ignore[typeddict-item]
        run_config = self.limits.apply(self.telemetry.config_for(self.spec.name, given))
        return self.resolve(), run_config, self.context_for(config)

    async def _start(
        self,
        input: Any,
        config: RunnableConfig,
        context: Any,
        body: SurfaceBody,
        *,
        streaming: bool,
    ) -> LocalRun:
        configurable = config.get("configurable") or {}
        identity = configurable.get(IDENTITY_KEY)
        return await self.service().start_local(
            identity if isinstance(identity, Identity) else ANONYMOUS,
            self.spec.name,
            str(configurable["thread_id"]),
            surface="langserve",
            body=body,
            shown_input=input,
            context=context,
            streaming=streaming,
            thread_claimed=bool(configurable.get(CLAIMED_KEY)),
        )


def context_specs(schema: Any) -> list[ConfigurableFieldSpec]:
    """Advertise a dataclass or pydantic context's fields (LangServe keeps only these keys)."""
    if dataclasses.is_dataclass(schema) and isinstance(schema, type):
        found = [
            (field.name, field.metadata.get("description"), _default(field))
            for field in dataclasses.fields(schema)
            if field.init
        ]
    elif isinstance(schema, type) and issubclass(schema, BaseModel):
        found = [
            (name, field.description, field.get_default(call_default_factory=True))
            for name, field in schema.model_fields.items()
        ]
    else:
        return []
    return [
        ConfigurableFieldSpec(
            id=name, annotation=Any, name=name, default=default, description=about
        )
        for name, about, default in found
    ]


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


@asynccontextmanager
async def _answered(limits: RunLimits) -> AsyncIterator[None]:
    """Turn a run's refusal or failure into an answer that says what happened."""
    try:
        yield
    except RunTimedOut as timed_out:
        raise ApiError(504, str(timed_out)) from None
    except PathRefused as refused:
        raise ApiError(422, str(refused)) from None
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    except ThreadBusy as busy:
        raise ApiError(409, run_error_message(busy)) from None
    except RunEnded as ended:
        if ended.status == "timeout":  # the worker's deadline came first: the same limit
            raise ApiError(504, str(RunTimedOut(limits.timeout_s or 0))) from None
        raise ApiError(409, f"{ended}; start a new run") from None
    except GraphRecursionError:
        message = (
            f"the run did not finish within {limits.recursion_limit} steps "
            "(the workflow is looping) and was stopped"
        )
        raise ApiError(500, message) from None
