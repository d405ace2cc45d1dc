"""`threads.search(extract={alias: path})`: a value picked out of each thread found.

langgraph-sdk 0.4.14 sends it and langgraph-api answers it: every thread of the page gets
`extracted`, alias → the value at `path` (`values.messages[-1].content`), or None where the
path leads nowhere. A list lets a UI show a thread's last message without its whole state.
The paths are checked as the reference checks them, so what it refuses is a 422 here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from server.runs.lookup import RunRejected
from server.runs.schema import ThreadField

ROOTS = ("config", "interrupts", "metadata", "values")
"""Where a path may start: the thread's JSON fields (Orca's threads have no `config`, so
a path there finds None)."""
MAX_PATHS = 10
ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""An alias is an identifier: it becomes a key of `extracted` (and a column in SQL)."""
STEP = re.compile(r"\.|\[")


def check_extract(extract: Mapping[str, str]) -> None:
    """Refuse what langgraph-api refuses (422): too many paths, bad aliases, bad roots.

    Raises:
        RunRejected: naming the alias or path to change.
    """
    if len(extract) > MAX_PATHS:
        raise RunRejected(f"extract: at most {MAX_PATHS} paths, got {len(extract)}")
    if reserved := sorted(set(extract) & set(get_args(ThreadField))):
        raise RunRejected(f"extract: aliases cannot be a thread's field names: {reserved}")
    for alias, path in extract.items():
        if not ALIAS.fullmatch(alias):
            raise RunRejected(
                f"extract: alias {alias!r} must be an identifier (letters, digits, underscores)"
            )
        if STEP.split(path)[0] not in ROOTS:
            raise RunRejected(
                f"extract: path {path!r} of {alias!r} must start with one of {list(ROOTS)}"
            )


def extract_path(thread: Mapping[str, Any], path: str) -> Any:
    """Return the value at `path` in a public thread (`a.b[0][-1].c`), or None."""
    root, *steps = STEP.split(path)
    found: Any = thread.get(root) if root in ROOTS else None
    for step in steps:
        if found is None:
            return None
        if not step:
            continue
        if step.startswith("_"):  # as the reference: no private keys
            return None
        if step.endswith("]"):
            found = _item(found, step[:-1])
        elif isinstance(found, Mapping):
            found = found.get(step)
        else:
            return None
    return found


def _item(found: Any, index: str) -> Any:
    """Return `found[index]` of a list, or None (not a list, not an integer, out of range)."""
    if not isinstance(found, list):
        return None
    try:
        return found[int(index)]
    except (ValueError, IndexError):
        return None


def extracted(thread: Mapping[str, Any], extract: Mapping[str, str]) -> dict[str, Any]:
    """Return `extracted` of a public thread: alias → the value at its path."""
    return {alias: extract_path(thread, path) for alias, path in extract.items()}
