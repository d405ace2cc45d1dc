"""Ask the project's `@auth.on` handlers whether a caller may act on a resource.

`authorize(identity, resource, action, value)` is the one call every service makes before
it acts (threads and runs: `server/runs/service.py`). The most specific handler answers:
`@auth.on.<resource>.<action>`, then `@auth.on.<resource>`, then `@auth.on(actions=...)`,
then `@auth.on`; with none, or for an identity that does not come from `ORCA_AUTH_PATH`,
everything is allowed (Orca's own ownership rules still apply). The handler may change
`value` in place (the caller stores what it holds afterwards, e.g. `metadata.owner`), and
returns:

- None or True: allowed;
- False, or an `AssertionError`: refused, 403;
- a filter dict: allowed, and only records whose metadata match it may be read, searched,
  changed or run (`matches`): `{"owner": "u"}` or `{"owner": {"$eq": "u"}}` (equal), and
  `{"tags": {"$contains": "x"}}` (a list holding `x`, or every item of a list), all ANDed.

An `Auth.exceptions.HTTPException` becomes that status in the surface's envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth
from langgraph_sdk.auth.types import AuthContext

from server.auth.identity import Identity
from server.auth.langgraph_auth.authenticate import as_api_error
from server.embeddings.errors import ApiError

log = logging.getLogger("orca")

Filters = dict[str, Any]
"""Metadata a record must match: key to a value, `{"$eq": value}` or `{"$contains": value}`."""


class Denied(ApiError):
    """A handler refused the action (403, in the envelope of the surface)."""

    def __init__(self, message: str = "not allowed: the server's auth rules refuse this") -> None:
        super().__init__(403, message)


class BadFilter(ValueError):
    """A handler returned something that is not a filter (a server-side bug)."""


def handler_for(auth: Auth, resource: str, action: str) -> Any | None:
    """Return the most specific handler for `resource`/`action`, or None."""
    key = (resource, action)
    if key in auth._handler_cache:
        return auth._handler_cache[key]
    for candidate in (key, (resource, "*"), ("*", action), ("*", "*")):
        handlers = auth._handlers.get(candidate)
        if handlers:
            auth._handler_cache[key] = handlers[-1]
            return handlers[-1]
    if auth._global_handlers:
        auth._handler_cache[key] = auth._global_handlers[-1]
        return auth._global_handlers[-1]
    return None


async def authorize(
    identity: Identity, resource: str, action: str, value: dict[str, Any]
) -> Filters | None:
    """Return the filters the project's handler sets for this action (None: no filter).

    `value` is changed in place by the handler; store what it holds afterwards.

    Raises:
        Denied: 403, when the handler returns False or fails an assertion.
        ApiError: the status of an `Auth.exceptions.HTTPException` it raises; 500 when it
            fails otherwise or returns something that is not a filter (logged).
    """
    user = identity.user
    if user is None:
        return None
    handler = handler_for(user.auth, resource, action)
    if handler is None:
        return None
    ctx = AuthContext(
        permissions=list(user.permissions),
        user=user,
        resource=resource,  # type: ignore[arg-type]
        action=action,  # type: ignore[arg-type]
    )
    try:
        result = await handler(ctx=ctx, value=value)
    except Auth.exceptions.HTTPException as refused:
        raise as_api_error(refused) from None
    except AssertionError as failed:
        raise Denied(f"not allowed: {failed}" if str(failed) else Denied().message) from None
    except Exception:
        log.exception("the @auth.on handler for %s.%s failed", resource, action)
        raise ApiError(500, "authorization failed on the server; the error is logged") from None
    if result is None or result is True:
        return None
    if result is False:
        raise Denied()
    try:
        return check_filters(result)
    except BadFilter as bad:
        log.error("the @auth.on handler for %s.%s %s", resource, action, bad)
        raise ApiError(500, "authorization failed on the server; the error is logged") from None


def check_filters(result: Any) -> Filters | None:
    """Return a handler's filter dict, checked (an empty one filters nothing).

    Raises:
        BadFilter: saying what is wrong with it.
    """
    if not isinstance(result, Mapping):
        raise BadFilter(f"returned a {type(result).__name__}; return None, a bool or a filter")
    for key, wanted in result.items():
        if isinstance(wanted, Mapping) and (len(wanted) != 1 or set(wanted) - {"$eq", "$contains"}):
            raise BadFilter(f"returned filter {key!r}: {wanted!r}; use a value, $eq or $contains")
    return dict(result) or None


def matches(metadata: Mapping[str, Any] | None, filters: Filters | None) -> bool:
    """Return whether a record's metadata satisfies every filter (no filters: it does)."""
    found = metadata or {}
    for key, wanted in (filters or {}).items():
        value = found.get(key)
        if isinstance(wanted, Mapping) and "$contains" in wanted:
            needed = wanted["$contains"]
            items = needed if isinstance(needed, list) else [needed]
            if not isinstance(value, list) or any(item not in value for item in items):
                return False
        elif isinstance(wanted, Mapping):
            if key not in found or value != wanted["$eq"]:
                return False
        elif key not in found or value != wanted:
            return False
    return True


def equality_part(filters: Filters | None) -> tuple[dict[str, Any], Filters]:
    """Split filters into plain equalities (a store can match them) and the rest."""
    equal: dict[str, Any] = {}
    rest: Filters = {}
    for key, wanted in (filters or {}).items():
        if isinstance(wanted, Mapping) and "$eq" in wanted:
            equal[key] = wanted["$eq"]
        elif isinstance(wanted, Mapping):
            rest[key] = wanted
        else:
            equal[key] = wanted
    return equal, rest
