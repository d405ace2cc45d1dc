"""The parameters of each protocol command, checked before anything runs.

Unknown keys are ignored (newer SDKs add some); a known key of the wrong type is
`invalid_argument` naming it. Sizes are bounded so a hostile command stays cheap.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Strategy = Literal["reject", "enqueue", "interrupt", "rollback"]
Id = Annotated[str, Field(min_length=1, max_length=256)]
Namespace = list[str]


class Params(BaseModel):
    """Base of command parameters."""

    model_config = ConfigDict(extra="ignore")


class StartParams(Params):
    """`run.start`: the assistant, input, config, metadata, multitask strategy."""

    assistant_id: Id
    input: Any = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    multitask_strategy: Strategy | None = None
    multitaskStrategy: Strategy | None = None  # noqa: N815 - the JS SDK's spelling

    def strategy(self) -> Strategy:
        """Return the multitask strategy (`enqueue` when not given, as the reference)."""
        return self.multitask_strategy or self.multitaskStrategy or "enqueue"

    def split_config(self) -> tuple[dict[str, Any] | None, str | None]:
        """Return the config and the fork target the SDK puts in `configurable.checkpoint_id`."""
        if self.config is None:
            return None, None
        configurable = self.config.get("configurable")
        if not isinstance(configurable, dict) or "checkpoint_id" not in configurable:
            return self.config, None
        target = configurable.get("checkpoint_id")
        rest = {k: v for k, v in configurable.items() if k != "checkpoint_id"}
        checkpoint_id = target if isinstance(target, str) and target else None
        return {**self.config, "configurable": rest}, checkpoint_id


class Response(Params):
    """One interrupt's answer."""

    interrupt_id: Id
    response: Any = None
    namespace: Namespace | None = None


class RespondParams(Params):
    """`input.respond`: one answer (`interrupt_id`, `response`) or several (`responses`)."""

    interrupt_id: str | None = Field(default=None, min_length=1, max_length=256)
    response: Any = None
    responses: list[Response] | None = Field(default=None, min_length=1, max_length=256)
    namespace: Namespace | None = None
    update: dict[str, Any] | list[list[Any]] | None = None
    goto: str | dict[str, Any] | list[str | dict[str, Any]] | None = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> RespondParams:
        if (self.interrupt_id is None) == (self.responses is None):
            raise ValueError("give interrupt_id with response, or responses (not both)")
        return self

    def answers(self) -> dict[str, Any]:
        """Return the resume map LangGraph takes: interrupt id to response."""
        if self.responses is not None:
            return {entry.interrupt_id: entry.response for entry in self.responses}
        assert self.interrupt_id is not None  # the validator saw to it
        return {self.interrupt_id: self.response}


class StateGetParams(Params):
    """`state.get`: the namespace (root only) and, optionally, which keys."""

    namespace: Namespace | None = None
    keys: list[str] | None = Field(default=None, max_length=256)


class ListCheckpointsParams(Params):
    """`state.listCheckpoints`: how many, and before which checkpoint."""

    namespace: Namespace | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    before: str | None = Field(default=None, min_length=1, max_length=256)


class ForkParams(Params):
    """`state.fork`: the checkpoint to run from, with new input and config."""

    checkpoint_id: Id
    input: Any = None
    config: dict[str, Any] | None = None


class TreeParams(Params):
    """`agent.getTree`: which run (the latest when absent)."""

    run_id: str | None = Field(default=None, min_length=1, max_length=256)
