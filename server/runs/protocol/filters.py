"""Which protocol events an event stream gets: channels, namespace prefixes, depth, `since`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHANNELS = frozenset(
    {"values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks"}
    | {"custom"}
)
"""The protocol's channels; `custom:<name>` selects one named custom channel."""

METHOD_CHANNEL = {"input.requested": "input", "input.answered": "input"}
"""Event methods whose channel has another name (the rest are their own channel)."""

MAX_NAME = 256
"""Longest channel name or namespace segment a filter may give."""


def check_channel(name: str) -> str:
    """Return `name` if it is a channel (or `custom:<name>`), else raise ValueError."""
    if name in CHANNELS or (name.startswith("custom:") and 7 < len(name) <= MAX_NAME):
        return name
    raise ValueError(f"unknown channel {name!r}; use {sorted(CHANNELS)} or 'custom:<name>'")


class EventFilter(BaseModel):
    """The body of `POST /threads/{id}/stream/events` (the protocol's EventStreamRequest)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    channels: list[str] = Field(min_length=1, max_length=32)
    namespaces: list[list[str]] | None = Field(default=None, max_length=64)
    depth: int | None = Field(default=None, ge=0, le=1024)
    since: int | None = Field(default=None, ge=0, le=2**53 - 1)
    """Replay events after this `seq` (a client resuming); absent: the latest run's all."""

    @field_validator("channels")
    @classmethod
    def _known(cls, channels: list[str]) -> list[str]:
        return [check_channel(name) for name in channels]

    @field_validator("namespaces")
    @classmethod
    def _segments(cls, namespaces: list[list[str]] | None) -> list[list[str]] | None:
        for namespace in namespaces or []:
            if len(namespace) > 64 or any(len(part) > MAX_NAME for part in namespace):
                raise ValueError("a namespace has at most 64 segments of 256 characters")
        return namespaces

    def matches(self, event: dict[str, Any]) -> bool:
        """Return whether a protocol event passes this filter."""
        if self.since is not None and int(event.get("seq") or 0) <= self.since:
            return False
        return matches(event, set(self.channels), self.namespaces, self.depth)


def channel_of(event: dict[str, Any]) -> str:
    """Return an event's channel (`custom:<name>` for a named custom event)."""
    method = str(event.get("method"))
    if method == "custom":
        name = (event["params"].get("data") or {}).get("name")
        return f"custom:{name}" if isinstance(name, str) and name else "custom"
    return METHOD_CHANNEL.get(method, method)


def segment_matches(segment: str, prefix: str) -> bool:
    """Match a namespace segment: exactly, or `node:<task id>` against `node`."""
    return segment == prefix or segment.startswith(prefix + ":")


def matches(
    event: dict[str, Any],
    channels: set[str],
    namespaces: list[list[str]] | None,
    depth: int | None,
) -> bool:
    """Return whether `event` is on one of `channels` and under one of `namespaces`."""
    channel = channel_of(event)
    if channel not in channels and not (channel.startswith("custom:") and "custom" in channels):
        return False
    if not namespaces:
        return True
    namespace: list[str] = event["params"]["namespace"]
    for prefix in namespaces:
        if len(prefix) > len(namespace):
            continue
        if not all(segment_matches(s, p) for s, p in zip(namespace, prefix, strict=False)):
            continue
        if depth is None or len(namespace) - len(prefix) <= depth:
            return True
    return False
