"""Open the project of `ORCA_CONFIG` for `create_app`: read, prepare, map onto settings."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import TypeAdapter, ValidationError

from server.projects.config import Project, ProjectError, read_project
from server.projects.environment import prepare
from server.settings import Settings

log = logging.getLogger("orca.projects")

SETTING_OF = {
    "store_index": "store.index",
    "store_ttl": "store.ttl",
    "thread_ttl": "checkpointer.ttl",
    "auth_path": "auth.path",
    "cors_origins": "http.cors.allow_origins",
    "checkpoint_allowed_types": "checkpointer.serde.allowed_msgpack_modules",
}
"""Orca settings a config key maps onto, with the key's name for messages."""


def open_project(settings: Settings) -> tuple[Settings, Project | None]:
    """Return the settings with the project's applied, and the project (None without one).

    The project's `env` is loaded and its folders made importable before any graph is
    imported. A setting given explicitly (an `ORCA_*` variable) wins over the config.

    Raises:
        ProjectError: one line saying what to fix.
    """
    if settings.config is None:
        return settings, None
    project = read_project(settings.config)
    prepare(project)
    settings = project_settings(settings, project)
    log.info(
        "project %s: graphs %s%s",
        project.path,
        sorted(project.graphs),
        f", http.app {project.http_app}" if project.http_app else "",
    )
    if project.not_applied:
        log.warning("%s: keys not applied: %s", project.path.name, "; ".join(project.not_applied))
    return settings, project


def project_settings(settings: Settings, project: Project) -> Settings:
    """Return `settings` with the values the config maps onto, where not set explicitly.

    Raises:
        ProjectError: a key this Orca has no setting for, or a value the setting refuses.
    """
    fields = type(settings).model_fields
    updates: dict[str, Any] = {}
    for name, value in project.settings.items():
        key = SETTING_OF.get(name, name)
        if name not in fields:
            raise ProjectError(f"{project.path.name}: {key!r} is not supported by this Orca")
        if name in settings.model_fields_set:
            log.info(
                "%s: ORCA_%s is set, so %s is not applied", project.path.name, name.upper(), key
            )
            continue
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(fields[name].annotation or Any)
            updates[name] = adapter.validate_python(value)
        except ValidationError as error:
            problem = error.errors()[0]["msg"]
            raise ProjectError(f"{project.path.name}: {key}: {problem}") from None
    if "auth_path" in updates and "auth_base_dir" in fields:
        updates["auth_base_dir"] = project.root  # its relative file path starts there
    return settings.model_copy(update=updates) if updates else settings
