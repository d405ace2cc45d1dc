"""Request bodies of the threads-and-runs API, as `langgraph-sdk` sends them.

Fields the SDK sends that Citadel Orca does not act on (`feedback_keys`,
`langsmith_tracer`, `checkpoint_during`, `strict_resume`) are accepted and ignored, so
every SDK version works; a wrong value of a field it does act on is a 422 that names it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from server.runs.records import ThreadExpiry, TTLStrategy
from server.store.rules import MAX_TTL_MINUTES, MIN_TTL_MINUTES

StreamMode = Literal[
    "values",
    "updates",
    "messages",
    "messages-tuple",
    "events",
    "custom",
    "debug",
    "tasks",
    "checkpoints",
]
ALL_MODES: list[str] = list(StreamMode.__args__)  # type: ignore[attr-defined]
MAX_SUPERSTEP_UPDATES = 100
"""A thread's history built in one request: each superstep stores its checkpoint with the
whole state so far, so the work grows with the square of the steps (2,000 one-message
steps, a 336 KB body, took 103 s and stored 502 MB)."""
MAX_OFFSET = 100_000
"""Most items any page may skip (threads, runs, assistants, crons, the store). Past it a
caller should narrow the search instead; without it an offset past PostgreSQL's `bigint`
(2**63) reached the database and came back as a 500."""
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
"""A page's `offset`: a 422 naming it when negative or past `MAX_OFFSET`."""


class Body(BaseModel):
    """Base: unknown fields are ignored (newer SDKs add some)."""

    model_config = ConfigDict(extra="ignore")


class CheckpointRef(Body):
    """A checkpoint of a thread (time travel, forks)."""

    checkpoint_id: str | None = None
    checkpoint_ns: str = ""
    thread_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


def checkpoint_ref(
    checkpoint: CheckpointRef | None, checkpoint_id: str | None
) -> dict[str, Any] | None:
    """Merge the SDK's two ways of naming a checkpoint (`checkpoint`, `checkpoint_id`)."""
    found = checkpoint.model_dump() if checkpoint else None
    if checkpoint_id:
        found = {**(found or {}), "checkpoint_id": checkpoint_id}
    return found


class CommandBody(Body):
    """`Command(resume=..., update=..., goto=...)` as JSON."""

    resume: Any = None
    update: dict[str, Any] | list[list[Any]] | None = None
    goto: str | dict[str, Any] | list[str | dict[str, Any]] | None = None


class RunCreate(Body):
    """`POST /threads/{id}/runs[/stream|/wait]` and `POST /runs[/stream|/wait]`."""

    assistant_id: str
    input: Any = None
    command: CommandBody | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: HttpUrl | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] = "delete"
    after_seconds: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    durability: Literal["sync", "async", "exit"] | None = None

    @field_validator("stream_mode")
    @classmethod
    def _as_list(cls, value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else list(dict.fromkeys(value))

    def modes(self) -> list[str]:
        """Return the stream modes as a list (the default is not run through the validator)."""
        mode = self.stream_mode
        return [mode] if isinstance(mode, str) else list(mode)


class StateUpdateStep(Body):
    """One update of a superstep: values (or a command) written as if `as_node` ran."""

    values: Any = None
    command: CommandBody | None = None
    as_node: str


class Superstep(Body):
    """Updates applied together, as one step of the graph."""

    updates: list[StateUpdateStep] = Field(min_length=1)


class ThreadTTL(Body):
    """A thread's `ttl`, as langgraph-sdk sends it (`ttl=60` becomes `{"ttl": 60}`)."""

    strategy: TTLStrategy = "delete"
    """`delete`: the thread goes, as `DELETE /threads/{id}`; `keep_latest`: only its older
    checkpoints go, as `POST /threads/prune` (and the TTL starts again)."""
    ttl: float = Field(ge=MIN_TTL_MINUTES, le=MAX_TTL_MINUTES, strict=True)
    """Minutes from now until the thread expires (the store's bounds, `server/store/rules.py`:
    one second to a century)."""

    def expiry(self) -> ThreadExpiry:
        """Return the TTL as the run store keeps it."""
        return ThreadExpiry(self.strategy, self.ttl)


class ThreadCreate(Body):
    """`POST /threads`."""

    thread_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: ThreadTTL | None = None
    """Given to a new thread only: `do_nothing` leaves an existing one's as it is."""
    supersteps: list[Superstep] | None = None
    """Build the new thread's history: each superstep is one checkpoint, in order (the
    graph is the one named by `metadata.graph_id`); at most `MAX_SUPERSTEP_UPDATES`
    updates in all."""

    @field_validator("supersteps")
    @classmethod
    def _bounded(cls, supersteps: list[Superstep] | None) -> list[Superstep] | None:
        updates = sum(len(step.updates) for step in supersteps or [])
        if updates > MAX_SUPERSTEP_UPDATES:
            raise ValueError(
                f"supersteps hold {updates} updates; at most {MAX_SUPERSTEP_UPDATES} "
                "(build a longer history in several requests)"
            )
        return supersteps


class ThreadPrune(Body):
    """`POST /threads/prune`."""

    thread_ids: list[str] = Field(max_length=1000)
    """An empty list prunes nothing (`pruned_count: 0`), as langgraph-api."""
    strategy: Literal["delete", "keep_latest"] = "delete"


class ThreadPatch(Body):
    """`PATCH /threads/{id}`."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: ThreadTTL | None = None
    """A new TTL, counted from now (none: the thread keeps the one it has)."""


ThreadField = Literal[
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "context",
    "status",
    "values",
    "interrupts",
]
"""What `select` may name: `langgraph-sdk`'s `ThreadSelectField` (Orca's threads have no
`config` or `context`, so selecting those adds nothing)."""


class ThreadSearch(Body):
    """`POST /threads/search` and `/threads/count`."""

    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] = (
        "created_at"
    )
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[ThreadField] | None = None
    """Only these fields of each thread (`threads/search`)."""
    extract: dict[str, str] | None = None
    """Alias → path (`values.messages[-1].content`): each thread found gets `extracted`,
    the value at each path (`server/runs/thread_extract.py`)."""


class StateUpdate(Body):
    """`POST /threads/{id}/state`."""

    values: Any = None
    as_node: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None


class HistoryQuery(Body):
    """`POST /threads/{id}/history`."""

    limit: int = Field(default=10, ge=1, le=1000)
    before: CheckpointRef | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = None


class RunsCancel(Body):
    """`POST /runs/cancel`: by thread and run ids, or by status."""

    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None


RunField = Literal[
    "run_id",
    "thread_id",
    "assistant_id",
    "created_at",
    "updated_at",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
    "cancel_reason",
    "attempt",
    "langsmith_session_name",
]
"""What `GET /threads/{id}/runs?select=` may name: langgraph-api's run fields, the SDK's
`RunSelectField` (which adds `cancel_reason`) and Orca's `attempt`; any other name is a 422,
as in langgraph-api. Orca's runs have no `langsmith_session_name`, so selecting it adds
nothing."""
