"""What an identity may do: scopes carried by API keys and Clerk tokens.

- `run`: start runs of every workflow but `ingest`, and use its own threads.
- `ingest`: write to its own knowledge base (the `ingest` workflow, with texts it sends);
  a key with `ingest` alone does that and runs nothing else.
- `admin`: besides, have the server read files on its own disk (`paths` of `ingest`), and
  only under `ORCA_INGEST_ROOTS`.

A key made without `--scope` gets `DEFAULT_SCOPES`, so ordinary work needs no flags; the
anonymous identity of `ORCA_AUTH_MODE=none` gets `ORCA_ANONYMOUS_SCOPES`.
"""

from __future__ import annotations

from collections.abc import Iterable

RUN = "run"
INGEST = "ingest"
ADMIN = "admin"
SCOPES = (RUN, INGEST, ADMIN)
DEFAULT_SCOPES = frozenset({RUN, INGEST})


class UnknownScope(ValueError):
    """A scope name that is not one of `SCOPES`."""


def parse_scopes(value: str | Iterable[str]) -> frozenset[str]:
    """Read scopes given as a list or a space/comma separated string.

    Raises:
        UnknownScope: naming the scope that is not known.
    """
    names = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    unknown = sorted({str(name) for name in names} - set(SCOPES))
    if unknown:
        raise UnknownScope(f"unknown scopes {unknown}; use {list(SCOPES)}")
    return frozenset(str(name) for name in names)


def known_scopes(value: object) -> frozenset[str]:
    """Keep the known scopes of a token claim (a list or a string), ignoring the rest."""
    if isinstance(value, str):
        names: list[object] = list(value.replace(",", " ").split())
    elif isinstance(value, list | tuple):
        names = list(value)
    else:
        return frozenset()
    return frozenset(name for name in names if isinstance(name, str) and name in SCOPES)


def format_scopes(scopes: Iterable[str]) -> str:
    """Write scopes in their canonical order, space separated (as they are stored)."""
    held = set(scopes)
    return " ".join(name for name in SCOPES if name in held)
