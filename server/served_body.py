"""Check a LangServe run request before LangServe reads it, so a bad one is 422, not 500.

LangServe 0.3 validates run bodies only in part. Schemathesis found these answered with 500
(`tests/unit/server/test_openapi_fuzz.py`):

- a body that is not UTF-8: `request.json()` raises `UnicodeDecodeError`, and LangServe
  catches only `JSONDecodeError`;
- `"config": null`, or a `batch` config that is neither an object nor a list of them;
- `batch` inputs that fail validation: they are validated outside LangServe's translation
  of validation errors;
- messages whose LangChain validators raise `TypeError` (e.g. a tool call with unknown
  keys) instead of a validation error;
- strings with lone surrogates, integers beyond 64 bits, NaN, more than `MAX_NESTING` levels
  of nesting: valid in Python's JSON, but neither the checkpointer (msgpack) nor LangServe's
  event stream (orjson) can write them.

The body is parsed with `Request.json()`, whose result Starlette keeps, so LangServe reuses
this parse instead of reading the body again.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from langserve.lzstring import LZString
from pydantic import BaseModel, ValidationError

from server.auth.identity import ANONYMOUS
from server.deps import resources_of
from server.run_policy import MAX_BATCH_RUNS, RunRefused

NUL_MESSAGE = "text with a NUL character (U+0000), which the database cannot store; remove it"
SINGLE_RUN_ENDPOINTS = {"invoke", "stream", "stream_log", "stream_events"}
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
MAX_NESTING = 128
"""Most levels of arrays and objects a body may nest (`[[1]]` is two). orjson, which writes
the event streams and jsonb, stops at 255 (`Recursion limit reached`: a thread with 600
levels of metadata was a 500), and the stores wrap a value in a few levels of their own."""
CONTAINERS = (dict, list)
NESTING_MESSAGE = f"JSON nested deeper than {MAX_NESTING} levels of arrays and objects"


class RunBodyCheck:
    """FastAPI dependency checking the body of a workflow's run endpoints."""

    def __init__(self, workflow: str, request_type: type[BaseModel]) -> None:
        self.workflow = workflow
        self.request_type = request_type

    async def __call__(self, request: Request) -> None:
        """Refuse a run body LangServe would fail on.

        Raises:
            RequestValidationError: 422, saying what is wrong and where.
        """
        endpoint = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method != "POST" or endpoint not in {*SINGLE_RUN_ENDPOINTS, "batch"}:
            return
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
            raise invalid((), "Invalid JSON body: send JSON text in UTF-8") from None
        unstorable = find_unstorable(body)
        if unstorable is not None:
            raise invalid(*unstorable)
        if not isinstance(body, dict):
            raise invalid((), "the body must be a JSON object")
        in_path = path_config(request)  # the `/c/{config_hash}/` routes' config
        if (unstorable := find_unstorable(in_path)) is not None:
            where, problem = unstorable
            raise invalid(("config_hash", *where), problem)
        if endpoint == "batch":
            self._check_batch(body, _thread_of(in_path))
            inputs = body["inputs"]
        else:
            _check_config(body.get("config", {}), ("config",))
            self._check_input(body.get("input"), ("input",))
            inputs = [body.get("input")]
        identity = getattr(request.state, "identity", ANONYMOUS)
        policy = resources_of(request.app).policy
        for run_input in inputs:
            try:
                policy.check_input(self.workflow, run_input, identity)
            except RunRefused as refused:
                if refused.status == 403:
                    raise HTTPException(403, str(refused)) from None
                raise invalid(("input", "paths"), str(refused)) from None

    def _check_batch(self, body: dict[str, Any], path_thread: str | None) -> None:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise invalid(("inputs",), "'inputs' must be a list of inputs")
        if len(inputs) > MAX_BATCH_RUNS:
            raise invalid(("inputs",), f"a batch is at most {MAX_BATCH_RUNS} inputs")
        config = body.get("config", {})
        if isinstance(config, list):
            if len(config) != len(inputs):
                raise invalid(("config",), "give one config per input, or a single config")
            for index, item in enumerate(config):
                _check_config(item, ("config", index))
        else:
            _check_config(config, ("config",))
        for index, item in enumerate(inputs):
            self._check_input(item, ("inputs", index))
        _check_batch_threads(config, len(inputs), path_thread)

    def _check_input(self, value: Any, where: tuple[Any, ...]) -> None:
        try:
            self.request_type.model_validate(value)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            for error in errors:
                error["loc"] = ("body", *where, *error["loc"])
            raise RequestValidationError(errors) from None
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # LangChain's message validators raise these for shapes they do not expect.
            raise invalid(where, f"not a valid input: {type(exc).__name__}: {exc}") from None


def _check_batch_threads(
    config: dict[str, Any] | list[Any], count: int, path_thread: str | None
) -> None:
    """Refuse a batch that names one thread for two of its inputs.

    A batch runs its inputs at once and a thread runs one run at a time: the first input
    ran and the batch answered 409, losing the others' answers. An input's thread is its
    config's, else the one the route's config hash names.
    """
    configs = config if isinstance(config, list) else [config] * count
    named = [_thread_of(item) or path_thread for item in configs]
    taken = [thread for thread in named if thread is not None]
    if len(taken) != len(set(taken)):
        where = ("config",) if isinstance(config, dict) else ("config", named.index(taken[0]))
        raise invalid(
            (*where, "configurable", "thread_id"),
            "a batch runs its inputs at once, and a thread runs one at a time: give each "
            "input its own thread_id (a list of configs), or none",
        )


def path_config(request: Request) -> dict[str, Any]:
    """Return the config of a `/c/{config_hash}/` route, as LangServe decodes it.

    {} elsewhere, or when it cannot be read: LangServe then answers 400 itself.
    """
    config_hash = request.path_params.get("config_hash")
    if not config_hash:
        return {}
    try:
        unpacked = LZString.decompressFromEncodedURIComponent(config_hash)  # type: ignore[no-untyped-call]
        parsed = json.loads(unpacked)
    except Exception:  # noqa: BLE001 - LZString fails in many ways on text it did not write
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _thread_of(config: dict[str, Any]) -> str | None:
    configurable = config.get("configurable")
    thread = configurable.get("thread_id") if isinstance(configurable, dict) else None
    return thread if isinstance(thread, str) else None


def _check_config(config: Any, where: tuple[Any, ...]) -> None:
    if not isinstance(config, dict):
        raise invalid(where, "a config must be an object")


def find_unstorable(value: Any) -> tuple[tuple[Any, ...], str] | None:
    """Return where `value` holds something a checkpoint or event stream cannot write."""
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if not _is_utf8(item):
                return where, "text with a lone surrogate (not valid Unicode)"
            if "\x00" in item:
                return where, NUL_MESSAGE
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= UINT64_MAX:
                return where, "an integer beyond 64 bits"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return where, "NaN or infinity (not JSON)"
        elif len(where) >= MAX_NESTING and isinstance(item, dict | list):
            return where, NESTING_MESSAGE
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _is_utf8(key):
                    return where, "a key with a lone surrogate (not valid Unicode)"
                if "\x00" in key:
                    return where, NUL_MESSAGE
                pending.append((child, (*where, key)))
        elif isinstance(item, list):
            pending.extend((child, (*where, index)) for index, child in enumerate(item))
    return None


def nesting(parsed: Any, *, stop_past: int = MAX_NESTING) -> int:
    """Return how many levels of arrays and objects parsed JSON nests (at most `stop_past` + 1).

    Level by level, looking only at containers (exact types: a JSON parser's output).
    """
    level = [parsed] if type(parsed) in CONTAINERS else []
    depth = 0
    while level and depth <= stop_past:
        depth += 1
        inner: list[Any] = []
        for container in level:
            for child in container.values() if type(container) is dict else container:
                if type(child) in CONTAINERS:
                    inner.append(child)
        level = inner
    return depth


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def invalid(where: tuple[Any, ...], message: str) -> RequestValidationError:
    """Return a 422 in FastAPI's validation format, located in the body."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *where), "msg": message, "input": None}]
    )
