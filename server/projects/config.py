"""Read `langgraph.json` and decide, for every key, what Orca does with it.

Each key is supported (here, or mapped onto an Orca setting), named in one start-up log
line as not applied (build-time keys of `langgraph build`: Orca runs in the environment it
is started in), or refused with one line saying what to change, when ignoring it would
change what the project's author relied on (encryption, a custom checkpointer, removed
routes). The table is in docs/projects.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JS_SUFFIXES = (".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx")

NOT_APPLIED = {
    "python_version": "Orca runs on the Python it is installed with",
    "node_version": "Orca serves Python graphs only",
    "pip_config_file": "pip's own configuration applies to `orca deps install`",
    "pip_installer": "`orca deps install` uses pip",
    "dockerfile_lines": "Orca builds no image (deploy/ has its own)",
    "image_distro": "Orca builds no image",
    "base_image": "Orca builds no image",
    "api_version": "Orca is the server",
    "keep_pkg_tools": "Orca builds no image",
    "webhooks": "run webhooks follow ORCA_WEBHOOK_ALLOW_PRIVATE",
    "ui": "generative UI components are not served",
    "ui_config": "generative UI components are not served",
}
"""Top-level keys Orca names at start-up and does not apply, with why."""

REFUSED = {
    "encryption": "Orca has no custom at-rest encryption hook: data would be stored in clear",
}
"""Top-level keys whose absence of effect would surprise: start-up stops, saying why."""

KNOWN = {"$schema", "graphs", "env", "dependencies", "store", "checkpointer", "auth", "http"}


class ProjectError(Exception):
    """The project cannot be served as written; the message is one line saying what to fix."""


@dataclass(frozen=True)
class GraphEntry:
    """One `graphs` entry."""

    target: str
    """`./path/to/file.py:attribute` (relative to the config's folder) or `module:attribute`."""
    description: str = ""


@dataclass
class Project:
    """A `langgraph.json`, read and checked, with what Orca applies from it."""

    path: Path
    """The config file (absolute)."""
    graphs: dict[str, GraphEntry]
    env: dict[str, str] = field(default_factory=dict)
    """Variables from `env` (a file's contents, or the mapping)."""
    env_source: str = ""
    """Where `env` came from, for the start-up log line."""
    dependencies: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    """Orca settings the config sets (`store_index`, `auth_path`, `cors_origins`, ...)."""
    http_app: str | None = None
    """`http.app`: a Starlette/FastAPI app mounted beside Orca's routes."""
    not_applied: list[str] = field(default_factory=list)
    """Keys named at start-up as not applied, each `key (why)`."""

    @property
    def root(self) -> Path:
        """Return the config's folder: relative paths in the config start here."""
        return self.path.parent


def read_project(path: Path | str) -> Project:
    """Read and check `langgraph.json` at `path`.

    Raises:
        ProjectError: naming the key and what to change.
    """
    path = Path(path).expanduser().resolve()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"no config file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(f"{path.name}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path.name}: the config must be a JSON object")
    project = Project(path=path, graphs=_graphs(data.get("graphs")))
    for key in data:
        if key in REFUSED:
            raise ProjectError(f"{path.name}: {key!r} is not supported: {REFUSED[key]}; remove it")
        if key in NOT_APPLIED:
            project.not_applied.append(f"{key} ({NOT_APPLIED[key]})")
        elif key not in KNOWN:
            project.not_applied.append(f"{key} (not a key Orca knows)")
    project.env, project.env_source = _env(data.get("env"), project.root, project.not_applied)
    project.dependencies = _dependencies(data.get("dependencies", []))
    _store(data.get("store"), project)
    _checkpointer(data.get("checkpointer"), project)
    _auth(data.get("auth"), project)
    _http(data.get("http"), project)
    return project


def _graphs(value: Any) -> dict[str, GraphEntry]:
    if not isinstance(value, dict) or not value:
        raise ProjectError("'graphs' must map each graph name to 'path/to/file.py:attribute'")
    graphs: dict[str, GraphEntry] = {}
    for name, spec in value.items():
        if isinstance(spec, dict):  # {"path": ..., "description": ...}
            target, description = spec.get("path"), str(spec.get("description") or "")
        else:
            target, description = spec, ""
        if not isinstance(target, str) or ":" not in target:
            raise ProjectError(
                f"graph {name!r}: {target!r} is not 'path/to/file.py:attribute' "
                "or 'module:attribute'"
            )
        if target.rpartition(":")[0].endswith(JS_SUFFIXES):
            raise ProjectError(
                f"graph {name!r}: {target!r} is a JavaScript graph; Orca serves Python graphs "
                "(serve it with the LangGraph.js server)"
            )
        graphs[str(name)] = GraphEntry(target=target, description=description)
    return graphs


def _env(value: Any, root: Path, not_applied: list[str]) -> tuple[dict[str, str], str]:
    if value is None:
        return {}, ""
    if isinstance(value, dict):
        return {str(key): str(item) for key, item in value.items()}, "the config's env mapping"
    if not isinstance(value, str):
        raise ProjectError("'env' must be a path to an env file or a mapping of names to values")
    from dotenv import dotenv_values

    env_path = (root / value).resolve()
    if not env_path.is_file():
        # langgraph-cli warns and carries on; a template's checkout has only `.env.example`.
        not_applied.append(f"env ({value} not found in {root})")
        return {}, ""
    values = dotenv_values(env_path)
    return {key: item for key, item in values.items() if item is not None}, str(env_path)


def _dependencies(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProjectError("'dependencies' must be a list of paths ('.') and package names")
    return list(value)


def _store(value: Any, project: Project) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ProjectError("'store' must be an object with 'index' and/or 'ttl'")
    for key, item in value.items():
        if key in ("index", "ttl"):
            if item is not None:
                project.settings[f"store_{key}"] = item
        else:
            project.not_applied.append(f"store.{key} (not a store option Orca has)")


def _checkpointer(value: Any, project: Project) -> None:
    if not value:
        return
    if not isinstance(value, dict):
        raise ProjectError("'checkpointer' must be an object")
    if value.get("path"):
        raise ProjectError(
            "'checkpointer.path' is not supported: Orca keeps checkpoints in PostgreSQL "
            "(ORCA_POSTGRES_URL) or its SQLite file; remove it"
        )
    if value.get("ttl"):
        project.settings["thread_ttl"] = value["ttl"]  # ORCA_THREAD_TTL, the same keys
    serde = value.get("serde") or {}
    modules = serde.get("allowed_msgpack_modules") if isinstance(serde, dict) else None
    if isinstance(modules, list):
        project.settings["checkpoint_allowed_types"] = [
            ".".join(str(part) for part in entry) for entry in modules
        ]
    for key in value:
        if key not in ("path", "ttl", "serde"):
            project.not_applied.append(f"checkpointer.{key} (not a checkpointer option Orca has)")
    if isinstance(serde, dict) and set(serde) - {"allowed_msgpack_modules"}:
        project.not_applied.append(
            "checkpointer.serde (only allowed_msgpack_modules applies; checkpoints are read "
            "in LangGraph's strict msgpack mode)"
        )


def _auth(value: Any, project: Project) -> None:
    if not value:
        return
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise ProjectError("'auth' must be an object with 'path': './auth.py:auth'")
    project.settings["auth_path"] = value["path"]
    for key in value:
        if key != "path":
            project.not_applied.append(f"auth.{key} (not applied by Orca)")


def _http(value: Any, project: Project) -> None:
    if not value:
        return
    if not isinstance(value, dict):
        raise ProjectError("'http' must be an object")
    for key, item in value.items():
        if key == "app":
            if not isinstance(item, str) or ":" not in item:
                raise ProjectError(f"http.app: {item!r} is not './path/to/file.py:app'")
            project.http_app = item
        elif key.startswith("disable_") or key == "enable_custom_route_auth":
            if item:
                raise ProjectError(
                    f"'http.{key}' is not supported: Orca serves every surface and leaves "
                    "custom routes to the app's own checks; remove it"
                )
        elif key == "cors" and isinstance(item, dict):
            if "allow_origins" in item:
                project.settings["cors_origins"] = list(item["allow_origins"])
            for option in set(item) - {"allow_origins"}:
                project.not_applied.append(f"http.cors.{option} (Orca's CORS rules apply)")
        else:
            project.not_applied.append(f"http.{key} (not an HTTP option Orca has)")
