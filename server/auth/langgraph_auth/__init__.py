"""A LangGraph project's own auth (`langgraph.json` `auth.path`, `ORCA_AUTH_PATH`).

`load_project_auth` imports the project's `langgraph_sdk.Auth`; `ProjectAuthenticator`
makes its `@auth.authenticate` handler decide who calls on every surface; `authorize`
asks its `@auth.on` handlers, in the one service that owns each resource.
"""

from server.auth.langgraph_auth.authenticate import ProjectAuthenticator
from server.auth.langgraph_auth.authorize import Denied, Filters, authorize, matches
from server.auth.langgraph_auth.load import AuthPathError, load_project_auth

__all__ = [
    "AuthPathError",
    "Denied",
    "Filters",
    "ProjectAuthenticator",
    "authorize",
    "load_project_auth",
    "matches",
]
