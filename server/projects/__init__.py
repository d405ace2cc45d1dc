"""Serve a LangGraph project (`langgraph.json`) unchanged: `orca serve --config langgraph.json`.

`config` reads the file and says, per key, what Orca does with it; `targets` imports graph
and app targets in both forms (`./path.py:attr`, `module:attr`); `environment` loads the
project's `env` and makes its folders importable; `dependencies` checks (and
`orca deps install` installs) `dependencies`; `workflows` turns the graphs into registry
entries that every surface serves; `http` mounts `http.app` beside Orca's routes.
"""

from server.projects.config import Project, ProjectError, read_project

__all__ = ["Project", "ProjectError", "read_project"]
