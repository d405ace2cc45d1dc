"""Prepare the process for a project's code: its `env`, its folders, its installed packages."""

from __future__ import annotations

import logging
import os

from server.projects import dependencies
from server.projects.config import Project, ProjectError
from server.projects.targets import add_to_path

log = logging.getLogger("orca.projects")

_LOADED: set[str] = set()
"""Variables this process took from a project's env (`orca serve` loads it before reading
its settings, then the app again): they count as the project's, not the process's."""


def load_env(project: Project) -> list[str]:
    """Set the project's `env` variables the process does not set already; return their names.

    The process environment wins, as with `langgraph dev` (python-dotenv without
    `override`): an operator can override a value the project committed without editing it.
    """
    applied = [key for key in project.env if key not in os.environ or key in _LOADED]
    for key in applied:
        os.environ[key] = project.env[key]
    _LOADED.update(applied)
    return applied


def prepare(project: Project) -> None:
    """Load `env`, make the project importable, and check its dependencies are installed.

    Raises:
        ProjectError: naming the missing dependencies and the command that installs them.
    """
    applied = load_env(project)
    add_to_path(project.root)  # as `langgraph dev` does with its working folder
    resolved = dependencies.resolve(project)
    for dependency in resolved:
        if dependency.path is not None:
            add_to_path(dependency.path)
    absent = dependencies.missing(project)
    if absent:
        raise ProjectError(
            f"dependencies not installed: {', '.join(absent)}; run "
            f"`orca deps install --config {project.path}`"
        )
    if project.env_source:
        log.info(
            "project env from %s: %d variables set, %d already set by the process",
            project.env_source,
            len(applied),
            len(project.env) - len(applied),
        )
