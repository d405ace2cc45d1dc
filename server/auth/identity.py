"""Who is calling: every request is served as one identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from server.auth.scopes import ADMIN, DEFAULT_SCOPES

if TYPE_CHECKING:
    from server.auth.langgraph_auth.user import ProjectUser


@dataclass(frozen=True)
class Identity:
    """An authenticated caller; `id` owns threads and is the Qdrant tenant."""

    id: str
    kind: Literal["anonymous", "api_key", "clerk", "custom"]
    scopes: frozenset[str] = DEFAULT_SCOPES
    """What the caller may do (`server.auth.scopes`)."""
    user: ProjectUser | None = field(default=None, compare=False, repr=False)
    """The project's own user (`ORCA_AUTH_PATH`), whose `@auth.on` handlers authorize this
    caller (`server.auth.langgraph_auth.authorize`); None for every other kind."""

    @property
    def tenant(self) -> str:
        """Return whose documents this caller may see and write."""
        return self.id

    @property
    def is_admin(self) -> bool:
        """Return whether the caller may have the server read files on its own disk."""
        return ADMIN in self.scopes


ANONYMOUS = Identity(id="public", kind="anonymous")
"""Everyone, when auth is off: one shared tenant and every thread shared."""
