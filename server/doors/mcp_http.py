"""What `/mcp` answers itself, in front of the MCP SDK's Streamable HTTP transport.

- GET and DELETE: 405 with `Allow: POST`. The door is stateless (no `Mcp-Session-Id`), so
  there is no session to end and nothing the server could ever send on a GET stream; the
  SDK's stateless transport still opened one, kept alive by pings for good and outside the
  per-identity stream cap. The spec lets a server that offers no such stream answer 405.
- A POST whose `Content-Type` is not `application/json`: 415, in the JSON-RPC envelope.
  The SDK's transport-security check answers first, with a plain-text 400.
- A request for a method MCP does not define: -32601 Method not found, as JSON-RPC says.
  mcp 1.x answers -32602 "Invalid request parameters" (modelcontextprotocol/python-sdk
  #1561; fixed in 2.x). A method MCP defines but this server does not serve
  (`resources/list`) already gets -32601 from the SDK.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from mcp import types
from starlette.responses import JSONResponse

JSON = "application/json"


def _client_methods() -> frozenset[str]:
    """Return the request methods MCP defines for a client (the SDK's `ClientRequest`)."""
    requests = get_args(types.ClientRequest.model_fields["root"].annotation)
    return frozenset(get_args(request.model_fields["method"].annotation)[0] for request in requests)


CLIENT_METHODS = _client_methods()


def jsonrpc_error(request_id: Any, code: int, message: str, status: int) -> JSONResponse:
    """Return a JSON-RPC error response with the HTTP status `status`."""
    error = {"code": code, "message": message}
    body = {"jsonrpc": "2.0", "id": request_id, "error": error}
    return JSONResponse(body, status_code=status)


def method_not_allowed() -> JSONResponse:
    """Answer GET (an event stream) and DELETE (end a session): neither exists here."""
    response = jsonrpc_error(
        None,
        types.INVALID_REQUEST,
        "Method Not Allowed: this MCP server is stateless, with no event stream to open "
        "and no session to end; POST each JSON-RPC request",
        405,
    )
    response.headers["Allow"] = "POST"
    return response


def unsupported_media(content_type: str) -> JSONResponse | None:
    """Refuse a POST body that is not declared as JSON (None when it is)."""
    if content_type.split(";", 1)[0].strip().lower() == JSON:
        return None
    return jsonrpc_error(
        None,
        types.INVALID_REQUEST,
        "Unsupported Media Type: Content-Type must be application/json",
        415,
    )


def unknown_method(body: bytes) -> JSONResponse | None:
    """Answer -32601 to a request naming no MCP method (None for anything else).

    Whatever is not a single well-formed request (not JSON, a batch, a notification, a
    response, an id of the wrong type) is left to the SDK, which answers it itself.
    """
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    method, request_id = message.get("method"), message.get("id")
    if not isinstance(method, str) or method in CLIENT_METHODS:
        return None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    return jsonrpc_error(
        request_id, types.METHOD_NOT_FOUND, f"Method not found: {method[:100]!r}", 200
    )
