"""Each graph's input JSON schema and its validator, computed once per graph.

Measured on the `echo` test graph (2 busy cores): `get_input_jsonschema()` takes 30-60 ms
and `jsonschema.validate` (which checks the schema and builds a validator on every call)
about 390 ms for LangChain's message schema, against 3 ms for a built validator; an MCP
tool call took 536 ms with both per call and 34 ms with them cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from server.runs.service import Graph


@lru_cache(maxsize=256)
def input_schema(graph: Graph) -> dict[str, Any]:
    """Return the graph's input JSON schema (shared: do not change it)."""
    return dict(graph.get_input_jsonschema())


@lru_cache(maxsize=256)
def input_validator(graph: Graph) -> jsonschema.protocols.Validator:
    """Return a validator of the graph's input, reading `oneOf` as `anyOf`.

    LangChain's message schema lists the message classes under `oneOf`, and a plain
    `{"role": "user", "content": ...}` fits several of them, which `oneOf` forbids; the
    graph accepts it.
    """
    schema = _any_of(input_schema(graph))
    validator: jsonschema.protocols.Validator = jsonschema.validators.validator_for(schema)(schema)
    return validator


def _any_of(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_any_of(item) for item in schema]
    return schema
