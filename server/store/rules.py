"""What the store accepts: namespaces, keys, values, TTLs and filters, checked once.

Both backends and both doors (the HTTP API and `runtime.store` in a graph) go through
these checks, so a namespace PostgreSQL would take and SQLite refuse, or a filter one
backend reads as nested and the other as a literal key, is refused the same way everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

MAX_DEPTH = 16
"""Most labels in a namespace."""
MAX_LABEL_CHARS = 256
MAX_KEY_CHARS = 1024
MAX_ADDRESS_BYTES = 2048
"""Most UTF-8 bytes of an item's namespace (joined with '.') and key together: PostgreSQL
indexes them as one row of at most 2,704 bytes, the owner's hidden label included."""
MIN_TTL_MINUTES = 1 / 60
"""One second: PostgreSQL reads a shorter TTL's seconds as `6e-09 seconds`, which is no
interval it knows (a 500), and nothing could read an item that short-lived anyway."""
MAX_TTL_MINUTES = 100 * 365 * 24 * 60
"""A century: past it, SQLite's dates overflow; ask for no `ttl` instead."""
FILTER_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
"""Top-level keys only: SQLite reads `a.b` as a path, PostgreSQL as one key."""
OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}
NUMERIC_OPERATORS = {"$gt", "$gte", "$lt", "$lte"}


class StoreRejected(ValueError):
    """A request the store cannot serve; `status` is its HTTP answer (422 unless said)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def check_namespace(namespace: tuple[str, ...], *, what: str = "namespace") -> None:
    """Refuse a namespace (or prefix) no backend stores the same way.

    Raises:
        StoreRejected: for a non-string, empty or dotted label, or too many or long ones.
    """
    if len(namespace) > MAX_DEPTH:
        raise StoreRejected(f"{what} has {len(namespace)} labels; at most {MAX_DEPTH}")
    for label in namespace:
        if not isinstance(label, str) or not label:
            raise StoreRejected(f"{what} labels must be non-empty strings, got {label!r}")
        if "." in label:
            raise StoreRejected(
                f"{what} label {label!r} contains '.'; labels cannot contain periods"
            )
        if len(label) > MAX_LABEL_CHARS:
            raise StoreRejected(f"{what} labels are at most {MAX_LABEL_CHARS} characters")


def check_item_namespace(namespace: tuple[str, ...]) -> None:
    """Refuse a namespace an item cannot live in (also empty or rooted at `langgraph`)."""
    if not namespace:
        raise StoreRejected("namespace must have at least one label, e.g. ['memories']")
    if namespace[0] == "langgraph":
        raise StoreRejected("namespace cannot start with 'langgraph' (reserved by LangGraph)")
    check_namespace(namespace)


def check_key(key: str) -> None:
    """Refuse an empty or over-long key."""
    if not isinstance(key, str) or not key:
        raise StoreRejected("key must be a non-empty string")
    if len(key) > MAX_KEY_CHARS:
        raise StoreRejected(f"key is at most {MAX_KEY_CHARS} characters")


def check_address(namespace: tuple[str, ...], key: str) -> None:
    """Refuse an item whose namespace and key together are too long to index."""
    joined = ".".join(namespace)
    size = len(joined.encode("utf-8", "surrogatepass")) + len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_ADDRESS_BYTES:
        raise StoreRejected(
            f"namespace and key are {size} bytes together in UTF-8; at most {MAX_ADDRESS_BYTES}"
        )


def check_value(value: Mapping[str, Any], max_bytes: int) -> None:
    """Refuse a value that is not a JSON object, or is bigger than `max_bytes` as JSON.

    Raises:
        StoreRejected: 422 for a non-object or non-JSON value, 413 for one too big.
    """
    if not isinstance(value, Mapping):
        raise StoreRejected(f"value must be a JSON object, got {type(value).__name__}")
    try:
        size = len(orjson.dumps(value))
    except TypeError as error:
        raise StoreRejected(f"value is not JSON: {error}") from None
    if size > max_bytes:
        raise StoreRejected(
            f"value is {size} bytes as JSON; the store keeps values up to {max_bytes} bytes",
            status=413,
        )


def check_ttl(ttl: Any) -> None:
    """Refuse a TTL that is not a number of minutes from one second to a century."""
    if ttl is None:
        return
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
        raise StoreRejected(f"ttl must be a number of minutes, got {ttl!r}")
    if not MIN_TTL_MINUTES <= ttl <= MAX_TTL_MINUTES:
        raise StoreRejected(
            f"ttl must be at least 1/60 minute (one second) and at most {MAX_TTL_MINUTES} "
            f"minutes; omit it for the default (got {ttl})"
        )


def check_refresh_ttl(refresh_ttl: Any) -> None:
    """Refuse a `refresh_ttl` that is not true, false or unset (a graph may send anything)."""
    if refresh_ttl is not None and not isinstance(refresh_ttl, bool):
        raise StoreRejected(f"refresh_ttl must be true or false, got {refresh_ttl!r}")


def check_filter(given: Mapping[str, Any] | None) -> None:
    """Refuse a filter whose keys or operators the backends would read differently.

    A filter maps a top-level key of the value to a JSON value it must equal, or to
    operators (`$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`; the ordering ones take numbers).
    """
    if not given:
        return
    if not isinstance(given, Mapping):
        raise StoreRejected("filter must be an object of key to value")
    for key, condition in given.items():
        if not FILTER_KEY.match(key):
            raise StoreRejected(
                f"filter key {key!r}: use a top-level key of letters, digits, '_' or '-' "
                "(match nested values with an object)"
            )
        if isinstance(condition, Mapping) and any(str(k).startswith("$") for k in condition):
            unknown = set(condition) - OPERATORS
            if unknown:
                raise StoreRejected(
                    f"filter {key!r}: unknown operators {sorted(unknown)}; use {sorted(OPERATORS)}"
                )
            for operator in NUMERIC_OPERATORS & set(condition):
                number = condition[operator]
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise StoreRejected(f"filter {key!r}: {operator} takes a number")


def matches(value: Mapping[str, Any], given: Mapping[str, Any] | None) -> bool:
    """Return whether a value passes a (checked) filter, as the SQL backends decide it."""
    return all(_compare(value.get(key), want) for key, want in (given or {}).items())


def _compare(found: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        if any(str(k).startswith("$") for k in want):
            return all(_operator(found, op, operand) for op, operand in want.items())
        return isinstance(found, Mapping) and all(
            _compare(found.get(k), v) for k, v in want.items()
        )
    if isinstance(want, list | tuple):
        return (
            isinstance(found, list | tuple)
            and len(found) == len(want)
            and all(_compare(f, w) for f, w in zip(found, want, strict=True))
        )
    return bool(found == want)


def _operator(found: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return bool(found == operand)
    if operator == "$ne":  # as in SQL, a missing key matches no comparison
        return found is not None and bool(found != operand)
    if isinstance(found, bool) or not isinstance(found, int | float):
        return False  # an ordering against a non-number matches nothing
    number = float(operand)  # checked: the ordering operators take numbers
    if operator == "$gt":
        return found > number
    if operator == "$gte":
        return found >= number
    if operator == "$lt":
        return found < number
    return found <= number


def owner_label(owner: str) -> str:
    """Return the hidden first label of an identity's namespaces (no '.', never empty)."""
    return "~" + owner.replace("%", "%25").replace(".", "%2E")
