"""Load the project's `langgraph_sdk.Auth` named by `ORCA_AUTH_PATH`, once, at start-up."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth


class AuthPathError(ValueError):
    """`ORCA_AUTH_PATH` names no `Auth` instance; the message says what to fix."""


def load_project_auth(target: str, base_dir: Path | None = None) -> Auth:
    """Import `./file.py:attr` (relative to `base_dir`, else the working folder) or `module:attr`.

    The forms are langgraph.json's `auth.path`: a file path (it starts with `.` or `/`, or
    ends in `.py`) or a dotted module on `sys.path`. The attribute must be an `Auth` with an
    `@auth.authenticate` handler: without one every request would pass unauthenticated.

    Raises:
        AuthPathError: naming the target and what is wrong with it.
    """
    where, _, attribute = target.strip().rpartition(":")
    if not where or not attribute:
        raise AuthPathError(f"ORCA_AUTH_PATH={target!r} is not './file.py:attr' or 'module:attr'")
    try:
        if where.startswith((".", "/")) or where.endswith(".py"):
            module = _import_file(Path(where), base_dir)
        else:
            module = importlib.import_module(where)
    except AuthPathError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the user's module is a start-up error
        raise AuthPathError(
            f"ORCA_AUTH_PATH={target!r}: importing it failed: {type(error).__name__}: {error}"
        ) from error
    found: Any = getattr(module, attribute, None)
    if not isinstance(found, Auth):
        kind = "nothing" if found is None else f"a {type(found).__name__}"
        raise AuthPathError(
            f"ORCA_AUTH_PATH={target!r}: {attribute!r} is {kind}, not a langgraph_sdk.Auth"
        )
    if found._authenticate_handler is None:
        raise AuthPathError(
            f"ORCA_AUTH_PATH={target!r}: the Auth has no @auth.authenticate handler; "
            "add one (every request is authenticated by it)"
        )
    return found


def _import_file(path: Path, base_dir: Path | None) -> Any:
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise AuthPathError(f"ORCA_AUTH_PATH: no file {str(path)!r}")
    # A name unique per file, so two projects' `auth.py` never share a module entry.
    name = "orca_project_auth_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AuthPathError(f"ORCA_AUTH_PATH: cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
