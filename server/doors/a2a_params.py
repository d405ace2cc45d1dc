"""Check an A2A request's params before the SDK turns them into protobuf messages.

The SDK's v0.3 layer validates params with pydantic, which takes any integer and any
nesting, and converts them to protobuf afterwards: a `historyLength` past int32 then
failed as an internal error (-32603 "Value out of range"), after nothing but a log line.
A negative one is a valid int32, and `history[-n:]` silently dropped the first entries.
Values nested deeper than protobuf's decoder takes failed the same way, and on A2A 1.0
too, once the run had already been made. So both are refused here, as invalid params
(-32602) naming the field, on either protocol version, before anything is converted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from server.served_body import nesting

MAX_HISTORY_LENGTH = 2**31 - 1
"""The most a `historyLength` may ask for: the protocol's type for it is an int32."""
MAX_VALUE_NESTING = 32
"""Most levels of arrays and objects in a data part or a metadata object (`[[1]]` is two).

Measured with a2a-sdk 1.3 (upb protobuf): a task whose history holds a message with a data
part of 33 nested objects fails to copy (`Exceeded upb_DecodeOptions_MaxDepth`, a decoder
limit of 64 messages, two per object level); message metadata fails at 34. Arrays fail
later, at 49 (json_format's recursion limit of 100).
"""
VALUE_FIELDS = ("data", "metadata")
"""The params fields that hold free JSON (protobuf `Value` and `Struct`)."""


def params_problem(body: Any) -> str | None:
    """Return what is wrong with a JSON-RPC request's params (None when nothing is)."""
    params = body.get("params") if isinstance(body, dict) else None
    if not isinstance(params, dict):
        return None  # the SDK answers a request without params object itself
    deep = next(_too_deep(params, "params"), None)
    if deep is not None:
        return (
            f"{deep} nests more than {MAX_VALUE_NESTING} levels of arrays and objects, "
            "more than the A2A SDK's protobuf messages carry; send it flatter"
        )
    return _history_problem(params)


def _history_problem(params: dict[str, Any]) -> str | None:
    """Check `historyLength` (`tasks/get`) and `configuration.historyLength` (a send)."""
    configuration = params.get("configuration")
    places = [("params.historyLength", params)]
    if isinstance(configuration, dict):
        places.append(("params.configuration.historyLength", configuration))
    for where, holder in places:
        value = holder.get("historyLength")
        if value is None:
            continue
        if type(value) is not int or not 0 <= value <= MAX_HISTORY_LENGTH:
            return (
                f"{where} must be a whole number from 0 to {MAX_HISTORY_LENGTH}: how many "
                "of the task's latest history messages to return"
            )
    return None


def _too_deep(node: Any, where: str) -> Iterator[str]:
    """Yield where a data part or metadata nests past MAX_VALUE_NESTING.

    Free JSON is measured, not searched: a data part may hold a `data` key of its own.
    """
    if isinstance(node, dict):
        children = [(f"{where}.{key}", key, child) for key, child in node.items()]
    elif isinstance(node, list):
        children = [(f"{where}[{index}]", None, child) for index, child in enumerate(node)]
    else:
        return
    for path, key, child in children:
        if key not in VALUE_FIELDS:
            yield from _too_deep(child, path)
        elif nesting(child, stop_past=MAX_VALUE_NESTING) > MAX_VALUE_NESTING:
            yield path
