"""What a caller may set and send for a run: the one check every surface calls.

LangServe, AG-UI, the threads-and-runs API and `/v1/orchestrate` build a run's `Context`
here and check its input here, so a rule (a collection name, a model alias, a top-k ceiling,
who may read server files) is written once. The ingest graph checks server paths again where
it reads them (`graphs/ingest/nodes.py`), so a state update or a new surface cannot go around
it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from graphs.context import Context
from server.auth.identity import Identity
from server.auth.scopes import INGEST, RUN
from server.settings import Settings
from tools.files import PathRefused, readable_files

COLLECTION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Qdrant collection names a caller may choose (ASCII: Qdrant puts them in URLs and paths)."""
MAX_TOP_K = 50
MAX_BATCH_RUNS = 100
"""Most runs one batch request starts (the runs API's `/runs/batch`, LangServe's `batch`);
`ORCA_RATE_LIMIT_RUNS` counts each of them."""
CALLER_SETTINGS = {
    "chat_model": "Chat model alias: llm-01 or llm-02.",
    "embedding_model": "Embedding model alias.",
    "collection": "Qdrant collection (letters, digits, '-' and '_'; at most 64).",
    "top_k": f"Passages to retrieve (1 to {MAX_TOP_K}).",
}
"""The per-run settings a caller may set, with what each means; the rest is server-set."""
WORKFLOW_SCOPES = {"ingest": INGEST}
"""The scope a workflow needs instead of `run`: an `ingest`-only key feeds the knowledge
base and runs nothing else."""


class RunRefused(ValueError):
    """The caller may not start this run as asked; the message says what to change."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status
        """403 for a missing scope, 422 for a setting or input to change."""


@dataclass(frozen=True)
class RunPolicy:
    """The server's defaults and what callers may choose, from the process settings."""

    defaults: Context
    chat_models: tuple[str, ...]
    embedding_models: tuple[str, ...]
    ingest_roots: tuple[Path, ...] = ()
    input_types: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    """What a run's input must fit, by workflow (`WorkflowSpec.run_input_type`)."""

    def context(
        self, given: Mapping[str, Any] | None, identity: Identity, *, strict: bool = True
    ) -> Context:
        """Return the run's context: the caller's settings, checked, and the server's values.

        Args:
            given: The caller's settings (`context`, or LangServe's `configurable`).
            identity: The caller; it sets `tenant` and `server_files`.
            strict: Refuse keys that are not caller settings (False where they share a
                mapping with others, as LangServe's `configurable` does).

        Raises:
            RunRefused: naming the setting and what it may be.
        """
        given = {key: value for key, value in (given or {}).items() if value not in (None, "")}
        unknown = sorted(set(given) - set(CALLER_SETTINGS))
        if strict and unknown:
            raise RunRefused(f"context keys {unknown} are not known; use {list(CALLER_SETTINGS)}")
        chosen = {key: given[key] for key in CALLER_SETTINGS if key in given}
        self._check(chosen)
        return replace(
            self.defaults, **chosen, tenant=identity.tenant, server_files=identity.is_admin
        )

    def _check(self, chosen: Mapping[str, Any]) -> None:
        if "chat_model" in chosen and chosen["chat_model"] not in self.chat_models:
            raise RunRefused(
                f"unknown chat_model {chosen['chat_model']!r}; use one of {list(self.chat_models)}"
            )
        if "embedding_model" in chosen and chosen["embedding_model"] not in self.embedding_models:
            raise RunRefused(f"unknown embedding_model; use one of {list(self.embedding_models)}")
        top_k = chosen.get("top_k", self.defaults.top_k)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise RunRefused(f"top_k must be a whole number from 1 to {MAX_TOP_K}")
        collection = chosen.get("collection", self.defaults.collection)
        if not isinstance(collection, str) or not COLLECTION.fullmatch(collection):
            raise RunRefused("collection must be 1 to 64 ASCII letters, digits, '-' or '_'")

    def check_input(self, workflow: str, run_input: Any, identity: Identity) -> None:
        """Refuse a run the caller's scopes do not allow, or server paths it may not read.

        Raises:
            RunRefused: 403 for a missing scope, 422 for a path outside the ingest roots.
        """
        scope = WORKFLOW_SCOPES.get(workflow, RUN)
        if scope not in identity.scopes:
            raise RunRefused(
                f"this credential lacks the {scope!r} scope needed to run {workflow!r}",
                status=403,
            )
        if workflow != "ingest" or not isinstance(run_input, Mapping):
            return
        paths = run_input.get("paths") or []
        if not paths:
            return
        if not identity.is_admin:
            raise RunRefused(
                "ingesting files on the server's disk (paths) needs the admin scope; send "
                "their contents in 'files' instead (`orca ingest PATH` does)",
                status=403,
            )
        if not isinstance(paths, Sequence) or isinstance(paths, str):
            raise RunRefused("paths must be a list of absolute server paths")
        try:
            readable_files([str(path) for path in paths], self.ingest_roots)
        except PathRefused as refused:
            raise RunRefused(str(refused)) from None

    def check_fit(self, workflow: str, run_input: Any) -> None:
        """Refuse a run's input its workflow's input type does not take (no input: resumed).

        A string where `ingest` takes a list of texts was ingested one character at a time,
        and a number as `rag`'s question failed the run with a TypeError, on every surface
        but LangServe, which checked the same type.

        Raises:
            RunRefused: 422 naming each field and what is wrong with it.
        """
        input_type = self.input_types.get(workflow)
        if input_type is None or run_input is None:
            return
        try:
            input_type.model_validate(run_input)
        except ValidationError as invalid:
            problems = invalid.errors(include_url=False, include_input=False)
            raise RunRefused(
                f"input does not fit {workflow!r}: "
                + "; ".join(f"{_where(p['loc'])}: {p['msg']}" for p in problems)
            ) from None


def _where(loc: Sequence[int | str]) -> str:
    """Return a field's place in the input, e.g. `input.files[0].text`."""
    return "input" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def default_context(settings: Settings) -> Context:
    """Return the context a run gets for every setting its caller leaves out."""
    return Context(
        embedding_model=settings.embedding_alias,
        collection=settings.collection,
        top_k=settings.top_k,
    )
