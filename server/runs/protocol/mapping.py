"""One run's stored events as protocol events: lifecycle, values, updates, messages, tools.

A run executed for the protocol streams `values`, `updates`, `messages-tuple`, `custom`
and `tasks` with subgraphs (`mode|ns` event names). `RunMapper` turns each stored event
into zero or more protocol events, the same ones every time it reads the same log, so
any process computes the same `seq` for the same event:

    seq = ordinal << 32 | stored_seq << 8 | k

`ordinal` is the run's place among its thread's runs (1 for the first), `stored_seq` the
run event's own id (the runs API's SSE id) and `k` the event's place among those one
stored event became. A thread's `seq` therefore only grows, across its runs, as the
protocol asks, and `since` finds its place without any state kept for the client.
JavaScript's safe integers (2**53) leave room for 2**21 runs of 2**24 events each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from server.runs.events import END
from server.runs.records import RunStatus, StoredEvent

RUN_SHIFT = 32
STORED_SHIFT = 8
PER_STORED = 1 << STORED_SHIFT
"""Protocol events one stored event may become; more are dropped (none of Orca's does)."""
INTERRUPT = "__interrupt__"
Namespace = tuple[str, ...]

TERMINAL: dict[str, str] = {
    "success": "completed",
    "error": "failed",
    "timeout": "failed",
    "interrupted": "interrupted",
}
"""A final run status as the root's lifecycle event."""


def seq_of(ordinal: int, stored_seq: int, k: int) -> int:
    """Return the thread-wide seq of the `k`-th event made of a run's stored event."""
    return ordinal << RUN_SHIFT | stored_seq << STORED_SHIFT | k


def ordinal_of(seq: int) -> int:
    """Return the ordinal of the run a seq belongs to."""
    return seq >> RUN_SHIFT


def _text(content: Any) -> str:
    """Return the text of a message's content (a string, or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block if isinstance(block, str) else str(block.get("text") or "")
            for block in content
            if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
        ]
        return "".join(parts)
    return ""


def _role(message: dict[str, Any]) -> str | None:
    kind = str(message.get("type") or "").removesuffix("MessageChunk").lower()
    return {"ai": "ai", "human": "human", "system": "system"}.get(kind)


def _messages_in(values: Any) -> list[dict[str, Any]]:
    """Return the message dicts a node's update writes (`messages`: one or a list)."""
    if not isinstance(values, dict):
        return []
    found = values.get("messages")
    listed = found if isinstance(found, list) else [found]
    return [message for message in listed if isinstance(message, dict)]


@dataclass
class _Open:
    """A message whose `message-start` was sent and whose `message-finish` was not."""

    node: str | None
    text: str = ""


@dataclass
class RunMapper:
    """Derive one run's protocol events from its stored events, in order."""

    ordinal: int
    graph_name: str
    namespaces: dict[Namespace, str] = field(default_factory=dict)
    """Every namespace seen and its lifecycle status (for `agent.getTree`)."""
    interrupt_ids: list[str] = field(default_factory=list)
    failed: bool = False
    _open: dict[tuple[Namespace, str], _Open] = field(default_factory=dict)
    _tools: set[str] = field(default_factory=set)
    _out: list[dict[str, Any]] = field(default_factory=list)
    _at: int = 0

    def start(self) -> list[dict[str, Any]]:
        """Return the root's `running` lifecycle event (before the run's first event)."""
        self._begin(0)
        self.namespaces[()] = "running"
        self._lifecycle((), "running")
        return self._flush()

    def take(self, stored: StoredEvent) -> list[dict[str, Any]]:
        """Return the protocol events of one stored event."""
        self._begin(stored.seq)
        mode, *parts = stored.event.split("|")
        namespace: Namespace = tuple(parts)
        data = orjson.loads(stored.data) if stored.data else None
        if mode in ("metadata", END):
            return []
        if mode == "error":
            self.failed = True
            message = data.get("message") if isinstance(data, dict) else None
            self._terminal("failed", error=str(message or data))
            return self._flush()
        if namespace not in self.namespaces:
            self._discover(namespace)
        if mode == "values":
            self._values(namespace, data)
        elif mode == "updates":
            self._updates(namespace, data)
        elif mode == "messages" and isinstance(data, list) and len(data) == 2:
            self._message(namespace, data[0], data[1] if isinstance(data[1], dict) else {})
        elif mode == "custom":
            self._emit("custom", namespace, {"payload": data})
        elif mode == "tasks":
            self._emit("tasks", namespace, data)
        return self._flush()

    def finish(self, status: RunStatus | None, after_seq: int) -> list[dict[str, Any]]:
        """Return the closing events once the run is final (`status` None: it is gone)."""
        self._begin(after_seq)
        if not self.failed:
            shown = TERMINAL.get(status or "", "failed")
            if shown == "completed" and self.interrupt_ids:
                shown = "interrupted"
            self._terminal(shown, error=None if status else "the run no longer exists")
        return self._flush()

    # Lifecycle ----------------------------------------------------------------------
    def _discover(self, namespace: Namespace) -> None:
        for length in range(1, len(namespace) + 1):
            prefix = namespace[:length]
            if prefix not in self.namespaces:
                self.namespaces[prefix] = "started"
                self._lifecycle(prefix, "started")

    def _lifecycle(self, namespace: Namespace, status: str, error: str | None = None) -> None:
        name = namespace[-1].split(":", 1)[0] if namespace else self.graph_name
        data: dict[str, Any] = {"event": status, "graph_name": name}
        if error:
            data["error"] = error
        self._emit("lifecycle", namespace, data)

    def _terminal(self, status: str, error: str | None) -> None:
        for namespace, message_id in list(self._open):
            self._finish_message(namespace, message_id, None)
        # Children close before their parents, the root last.
        for namespace in sorted(self.namespaces, key=len, reverse=True):
            self.namespaces[namespace] = status
            self._lifecycle(namespace, status, error if not namespace else None)

    # State ----------------------------------------------------------------------------
    def _ask(self, namespace: Namespace, interrupts: Any) -> None:
        for interrupt in interrupts if isinstance(interrupts, list) else []:
            if not isinstance(interrupt, dict) or not isinstance(interrupt.get("id"), str):
                continue
            if interrupt["id"] in self.interrupt_ids:
                continue  # `values` and `updates` both carry it
            self.interrupt_ids.append(interrupt["id"])
            # `payload` is the protocol's field; langgraph-sdk (Python) reads `value`.
            value = interrupt.get("value")
            asked = {"interrupt_id": interrupt["id"], "payload": value, "value": value}
            self._emit("input.requested", namespace, asked)

    def _values(self, namespace: Namespace, data: Any) -> None:
        if isinstance(data, dict) and INTERRUPT in data:
            self._ask(namespace, data[INTERRUPT])
            data = {k: v for k, v in data.items() if k != INTERRUPT}
            if not data:
                return
        self._emit("values", namespace, data)

    def _updates(self, namespace: Namespace, data: Any) -> None:
        for node, values in (data or {}).items() if isinstance(data, dict) else ():
            if node == INTERRUPT:
                self._ask(namespace, values)
                continue
            for message in _messages_in(values):
                self._settle(namespace, node, message)
            self._emit("updates", namespace, {"node": node, "values": values}, node=node)

    def _settle(self, namespace: Namespace, node: str, message: dict[str, Any]) -> None:
        """Close a streamed reply with the node's final message; announce tool activity."""
        message_id = message.get("id")
        if isinstance(message_id, str) and (namespace, message_id) in self._open:
            self._finish_message(namespace, message_id, message)
        for call in message.get("tool_calls") or [] if _role(message) == "ai" else []:
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                if call["id"] not in self._tools:
                    self._tools.add(call["id"])
                    started = {
                        "event": "tool-started",
                        "tool_call_id": call["id"],
                        "tool_name": str(call.get("name") or "tool"),
                        "input": call.get("args"),
                    }
                    self._emit("tools", namespace, started, node=node)
        if message.get("type") == "tool" and isinstance(message.get("tool_call_id"), str):
            call_id = message["tool_call_id"]
            if message.get("status") == "error":
                ended = {"event": "tool-error", "tool_call_id": call_id}
                ended["message"] = _text(message.get("content"))
            else:
                ended = {"event": "tool-finished", "tool_call_id": call_id}
                ended["output"] = message.get("content")
            self._emit("tools", namespace, ended, node=node)

    # Messages -------------------------------------------------------------------------
    def _message(self, namespace: Namespace, message: Any, metadata: dict[str, Any]) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            return
        role = _role(message)
        if role is None:
            return  # tool results travel on the `tools` channel
        message_id: str = message["id"]
        node = metadata.get("langgraph_node")
        node = node if isinstance(node, str) else None
        key = (namespace, message_id)
        chunk = str(message.get("type", "")).endswith("Chunk")
        if key not in self._open:
            shown = {
                "provider": metadata.get("ls_provider"),
                "model": metadata.get("ls_model_name"),
            }
            start: dict[str, Any] = {"event": "message-start", "role": role, "id": message_id}
            scalars = {k: v for k, v in shown.items() if isinstance(v, str)}
            if scalars:
                start["metadata"] = scalars
            self._emit("messages", namespace, start, node=node)
            block = {"event": "content-block-start", "index": 0}
            self._emit(
                "messages", namespace, {**block, "content": {"type": "text", "text": ""}}, node=node
            )
            self._open[key] = _Open(node)
        text = _text(message.get("content"))
        if text:
            self._open[key].text += text
            delta = {"type": "text-delta", "text": text}
            self._emit(
                "messages",
                namespace,
                {"event": "content-block-delta", "index": 0, "delta": delta},
                node=node,
            )
        if not chunk or message.get("chunk_position") == "last":
            self._finish_message(namespace, message_id, None if chunk else message)

    def _finish_message(
        self, namespace: Namespace, message_id: str, final: dict[str, Any] | None
    ) -> None:
        opened = self._open.pop((namespace, message_id))
        text = _text(final.get("content")) if final is not None else opened.text
        node = opened.node
        block = {"event": "content-block-finish", "index": 0}
        self._emit(
            "messages", namespace, {**block, "content": {"type": "text", "text": text}}, node=node
        )
        calls = [c for c in (final or {}).get("tool_calls") or [] if isinstance(c, dict)]
        for index, call in enumerate(calls, 1):
            content = {"type": "tool_call", "id": call.get("id"), "name": call.get("name")}
            content["args"] = call.get("args") or {}
            for event in ("content-block-start", "content-block-finish"):
                self._emit(
                    "messages",
                    namespace,
                    {"event": event, "index": index, "content": content},
                    node=node,
                )
        finished: dict[str, Any] = {"event": "message-finish"}
        usage = (final or {}).get("usage_metadata")
        if isinstance(usage, dict):
            keys = ("input_tokens", "output_tokens", "total_tokens")
            finished["usage"] = {k: usage[k] for k in keys if isinstance(usage.get(k), int)}
        self._emit("messages", namespace, finished, node=node)

    # Framing --------------------------------------------------------------------------
    def _begin(self, stored_seq: int) -> None:
        self._at = stored_seq
        self._out = []

    def _emit(
        self, method: str, namespace: Namespace, data: Any, *, node: str | None = None
    ) -> None:
        k = len(self._out)
        if k >= PER_STORED:
            return
        seq = seq_of(self.ordinal, self._at, k)
        params: dict[str, Any] = {
            "namespace": list(namespace),
            "timestamp": int(time.time() * 1000),
            "data": data,
        }
        if node is not None:
            params["node"] = node
        self._out.append(
            {"type": "event", "event_id": str(seq), "seq": seq, "method": method, "params": params}
        )

    def _flush(self) -> list[dict[str, Any]]:
        out, self._out = self._out, []
        return out
