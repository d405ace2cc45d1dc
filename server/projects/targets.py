"""Import a `langgraph.json` target: `./path/to/file.py:attribute` or `module:attribute`.

A file inside a package (folders with `__init__.py`) is imported under its dotted name with
the folder above the top package on `sys.path`, so `from react_agent.context import Context`
and relative imports work and the module is the one its own package imports (one copy of
each class). A file outside any package, or a package installed as a copy elsewhere (pip
without `-e`), is imported under a name of its own, as LangGraph's server does, its folder on
`sys.path` for its sibling imports.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from server.projects.config import ProjectError

log = logging.getLogger("orca.projects")


def is_file_target(location: str) -> bool:
    """Return whether the part before `:` names a file rather than a module."""
    return location.endswith(".py") or "/" in location or "\\" in location


def import_target(root: Path, target: str, *, owner: str) -> Any:
    """Return the object `target` names, with paths relative to `root`.

    Raises:
        ProjectError: one line naming `owner` (e.g. "graph 'agent'") and what to fix.
    """
    location, _, attribute = target.rpartition(":")
    if not location or not attribute:
        raise ProjectError(f"{owner}: {target!r} is not 'path/to/file.py:attribute'")
    try:
        if is_file_target(location):
            module = _import_file(root, location, owner)
        else:
            module = importlib.import_module(location)
    except ProjectError:
        raise
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        hint = (
            f" ({_where(error)})"
            if top and importlib.util.find_spec(top) is not None  # the package's own module
            else "; add the package to 'dependencies' and run `orca deps install --config "
            "<langgraph.json>`"
        )
        raise ProjectError(f"{owner}: importing {location!r} failed: {error}{hint}") from None
    except BaseException as error:  # the project's own code runs here: any failure is its own
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ProjectError(
            f"{owner}: importing {location!r} failed: {type(error).__name__}: {error} "
            f"({_where(error)})"
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ProjectError(f"{owner}: {location!r} has no {attribute!r}") from None


def _import_file(root: Path, location: str, owner: str) -> ModuleType:
    path = (root / location).resolve()
    if not path.is_file():
        raise ProjectError(f"{owner}: no file {location!r} in {root}")
    top = path.parent
    while (top / "__init__.py").is_file():
        top = top.parent
    if top != path.parent:  # inside a package: import it under its dotted name
        add_to_path(top)
        name = ".".join(path.relative_to(top).with_suffix("").parts)
        module = importlib.import_module(name)
        found = Path(module.__file__ or "").resolve()
        if found == path:
            return module
        # Installed without -e: the package is a copy elsewhere. Serve the file named (as
        # LangGraph's server does); its imports of the package reach the installed copy.
        log.warning(
            "%s: %s is served from %s, but `import %s` gives the installed copy %s; "
            "install the project editable (`orca deps install`) to serve one copy",
            owner,
            location,
            path,
            name,
            found,
        )
    else:
        add_to_path(path.parent)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"orca_project_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProjectError(f"{owner}: {location!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and typing look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def add_to_path(folder: Path) -> None:
    """Make `folder` importable, after what is already (the project never shadows Orca)."""
    entry = str(folder)
    if entry not in sys.path:
        sys.path.append(entry)


def _where(error: BaseException) -> str:
    """Return `file:line` of the innermost frame of the error, for the one-line message."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    if traceback is None:
        return "no traceback"
    return f"{traceback.tb_frame.f_code.co_filename}:{traceback.tb_lineno}"
