"""JSON for what LangGraph streams: messages, interrupts, sends, commands, dataclasses.

The wire shapes are the ones `langgraph-sdk` and `RemoteGraph` read: a message is its
`model_dump()` (`{"type": "ai", "content": ..., "id": ...}`), an interrupt is
`{"value": ..., "id": ...}`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from langgraph.types import Interrupt, Send
from pydantic import BaseModel

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    if isinstance(value, Interrupt):
        shown = {"value": value.value, "id": value.id}
        if isinstance(value.response_schema, dict):
            shown["response_schema"] = value.response_schema
        return shown
    if isinstance(value, Send):
        return {"node": value.node, "arg": value.arg}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "to_json") and hasattr(value, "lc_serializable"):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    return repr(value)


def dumps(value: Any) -> bytes:
    """Encode `value` as JSON bytes (anything unknown becomes its `repr`).

    PostgreSQL's `jsonb` keeps numbers as `numeric` and gives `1e300` back as a 301-digit
    integer, which orjson refuses; such a value (metadata a caller once sent) takes the
    standard library's slower encoder instead of making every read of it a 500.
    """
    try:
        return orjson.dumps(value, default=_default, option=OPTIONS)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
        return json.dumps(value, default=_default, ensure_ascii=False).encode()


def jsonable(value: Any) -> Any:
    """Return plain JSON data (dicts, lists, strings, numbers) for `value`."""
    return orjson.loads(dumps(value))
