r"""Refuse values the service cannot store before any surface reads it, as ASGI middleware.

PostgreSQL's `text` and `jsonb` refuse U+0000 (`UntranslatableCharacter`), and no store
takes a lone surrogate. Python's JSON parser also accepts what neither the checkpointer
(msgpack) nor the event streams (orjson) can write: `NaN`, `Infinity`, numbers that
overflow to infinity (`1e400`), integers beyond 64 bits and more than 128 levels of
nesting (orjson's limit is 255). Any of these in a thread id, a metadata value, a search
filter, a run input, a state update or a config used to reach a store and come back as a
500, or to fail the run it started. This middleware answers 422
(400 in OpenAI's envelope on `/v1/*`) naming where it is, for every route, so no surface
needs its own check. `/v1/embeddings` is exempt: its texts are hashed, never stored, and
OpenAI embeds them.

The body (of a POST, PUT, PATCH or DELETE) is scanned for what can produce such a value
(the escapes `\\u0000` and `\\ud800`-`\\udfff`, a surrogate's raw bytes, the words `NaN`
and `Infinity`, 19 digits in a row, a three-digit exponent); only a body that holds one is
parsed, to tell a real one from the same bytes inside a string, so ordinary requests pay
a few byte searches. A body with more brackets than
the nesting allowed is measured (`_nested_too_deep`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.embeddings.errors import ApiError
from server.served_body import (
    MAX_NESTING,
    NESTING_MESSAGE,
    NUL_MESSAGE,
    find_unstorable,
    nesting,
)

OPENAI_PREFIX = "/v1/"
JSONRPC_PREFIXES = ("/a2a/", "/mcp")
"""The JSON-RPC doors (A2A, MCP): a refusal there is a JSON-RPC error."""
INVALID_PARAMS = -32602
EXEMPT_PATHS = frozenset({"/v1/embeddings"})
ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
"""JSON escapes that may decode to U+0000 or to a lone surrogate."""
RAW_SURROGATES = re.compile(rb"\xed[\xa0-\xbf]")
"""A lone surrogate written as bytes, not escaped: not UTF-8, yet Python's JSON parser
reads it (it decodes bodies with `surrogatepass`), and a store or orjson then fails on it."""
NON_FINITE = (b"NaN", b"Infinity")
DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")
"""Every digit becomes `0` (and `E` `e`), so number shapes are found by plain byte search:
one regex alternating over them scanned a 1 MB body ten times slower."""
LARGE_NUMBERS = (b"0" * 19, b"0e000", b"0e+000")
"""19 digits in a row (an integer that may pass 64 bits), a three-digit exponent."""


class StorableText:
    """ASGI middleware refusing unstorable characters in the path, query and JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request unless it carries text the database cannot store."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        query = unquote(bytes(scope.get("query_string", b"")).decode("latin-1"))
        if "\x00" in path or "\x00" in query:
            where = ("path",) if "\x00" in path else ("query",)
            await _refuse(scope, receive, send, where, NUL_MESSAGE)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        found = _unstorable(body)
        if found is not None:
            await _refuse(scope, replay_body(b"", more, receive), send, *found, body)
            return
        await self.app(scope, replay_body(body, more, receive), send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """Read the request body (bounded by `BodyLimits`, outside this middleware)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # a disconnect: let the app see it
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def replay_body(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    """Return a `receive` that gives `body` (already read) once, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _unstorable(body: bytes) -> tuple[tuple[Any, ...], str] | None:
    text = _as_utf8(body)
    if not _suspect(text) and not _nested_too_deep(text):
        return None
    try:  # the parser the routes use: it keeps what orjson refuses or rounds
        parsed: Any = json.loads(body)
    except RecursionError:  # about 1,000 levels: deeper than any store takes, too
        return ("body",), NESTING_MESSAGE
    except ValueError:
        return None  # not JSON: the route answers that
    found = find_unstorable(parsed)
    if found is None:
        return None
    where, problem = found
    return ("body", *where), problem


def _suspect(body: bytes) -> bool:
    """Whether the body may hold a value no store can write (then it is parsed to tell)."""
    if ESCAPES.search(body) or (b"\xed" in body and RAW_SURROGATES.search(body)):
        return True
    if any(word in body for word in NON_FINITE):
        return True
    shape = body.translate(DIGITS_AS_ZERO)
    return any(number in shape for number in LARGE_NUMBERS)


def _nested_too_deep(body: bytes) -> bool:
    """Whether the body may nest more than `MAX_NESTING` levels (then it is parsed to tell).

    Only a body with that many brackets can; it is measured with orjson (about 35 µs for a
    20 KB chat history of 200 messages), which stops at 1,024 levels: past them, or when it
    is not JSON, the stdlib parse that follows decides.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_NESTING:
        return False
    try:
        return nesting(orjson.loads(body)) > MAX_NESTING
    except orjson.JSONDecodeError:
        return True


def _as_utf8(body: bytes) -> bytes:
    """Return the body as UTF-8, for the byte search.

    The routes' JSON parser also reads UTF-16 and UTF-32 (told apart by the first bytes),
    whose escapes a search of the raw bytes would not see.
    """
    encoding = json.detect_encoding(body)
    if encoding in ("utf-8", "utf-8-sig"):
        return body
    try:
        # `surrogatepass` both ways, as the parser decodes: a lone surrogate stays visible
        return body.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return body  # not text in that encoding either: the route refuses it


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    where: tuple[Any, ...],
    problem: str,
    body: bytes = b"",
) -> None:
    path = str(scope.get("path", ""))
    param = ".".join(str(part) for part in where[1:]) or where[0]
    if path.startswith(OPENAI_PREFIX):
        error = ApiError(400, f"Invalid request: {problem} ({param})", param=param)
        response = JSONResponse(error.body(), status_code=400, headers=error.headers())
    elif path.startswith(JSONRPC_PREFIXES):
        # The doors' clients read JSON-RPC errors, answered with 200 as their SDKs do.
        rpc_error = {"code": INVALID_PARAMS, "message": f"Invalid params: {problem} ({param})"}
        answer = {"jsonrpc": "2.0", "id": _request_id(body), "error": rpc_error}
        response = JSONResponse(answer)
    else:
        detail = [{"type": "value_error", "loc": list(where), "msg": problem, "input": None}]
        response = JSONResponse({"detail": detail}, status_code=422)
    await response(scope, receive, send)


def _request_id(body: bytes) -> Any:
    """Return the JSON-RPC id of a request body, or None when it has none to give."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    found = message.get("id") if isinstance(message, dict) else None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None
