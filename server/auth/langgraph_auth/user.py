"""What a project's `@auth.authenticate` returns, and the Orca `Identity` it becomes.

The mapping (docs/security.md, "Custom auth"):

- the user's `identity` (a returned string, or the `identity` of a dict or object) is
  `Identity.id`: the owner of threads and runs, and the Qdrant tenant;
- `permissions` reach the project's own handlers as `ctx.permissions`; those naming an Orca
  scope (`run`, `ingest`, `admin`) are the identity's scopes, and a user whose permissions
  name none gets `run ingest` (what an API key made without `--scope` gets);
- every other field (`display_name`, `is_authenticated`, `email`, ...) stays on the user
  the handlers see as `ctx.user` (attribute or item access, as LangGraph's own user).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.auth.identity import Identity
from server.auth.scopes import DEFAULT_SCOPES, SCOPES

if TYPE_CHECKING:
    from langgraph_sdk import Auth


class BadUser(TypeError):
    """`@auth.authenticate` returned something that names no user (a server-side bug)."""


@dataclass(frozen=True, eq=False)
class ProjectUser:
    """The authenticated user as the project's handlers see it (LangGraph's `BaseUser`)."""

    data: Mapping[str, Any]
    """What `@auth.authenticate` returned, as a dict with `identity` and `permissions`."""
    auth: Auth = field(repr=False)
    """The project's `Auth`, whose `@auth.on` handlers authorize this user."""

    @property
    def identity(self) -> str:
        """Return the user's unique id."""
        return str(self.data["identity"])

    @property
    def display_name(self) -> str:
        """Return the user's display name (its identity unless given)."""
        return str(self.data.get("display_name") or self.identity)

    @property
    def is_authenticated(self) -> bool:
        """Return whether the user is authenticated (True unless the handler said otherwise)."""
        return bool(self.data.get("is_authenticated", True))

    @property
    def permissions(self) -> Sequence[str]:
        """Return the permissions the handler granted."""
        return tuple(self.data.get("permissions", ()))

    def __getitem__(self, key: str) -> Any:
        """Return a field of the user (`ctx.user["email"]`)."""
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        """Return whether the user has the field."""
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        """Iterate over the user's field names."""
        return iter(self.data)

    def __getattr__(self, name: str) -> Any:
        """Return any other field as an attribute (`ctx.user.email`), as langgraph-api does."""
        data = object.__getattribute__(self, "data")
        if name in data:
            return data[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return the user's fields (JSON-ready when the handler returned JSON-ready values)."""
        return dict(self.data)


def user_fields(result: Any) -> dict[str, Any]:
    """Normalise what `@auth.authenticate` returned into the user's fields.

    Accepted, as langgraph-api accepts them: a non-empty string (the identity), a mapping
    with a string `identity`, or an object with an `identity` attribute (`MinimalUser`,
    `BaseUser`); `permissions` must be a list of strings (a single string is one).

    Raises:
        BadUser: saying what was returned instead.
    """
    if isinstance(result, str):
        fields: dict[str, Any] = {"identity": result}
    elif isinstance(result, Mapping):
        fields = dict(result)
    elif hasattr(result, "identity"):
        fields = {
            name: getattr(result, name)
            for name in ("identity", "display_name", "is_authenticated", "permissions")
            if hasattr(result, name)
        }
    else:
        raise BadUser(f"returned a {type(result).__name__}; return a user id or a user dict")
    identity = fields.get("identity")
    if not isinstance(identity, str) or not identity.strip():
        raise BadUser("returned a user without a non-empty string `identity`")
    permissions = fields.get("permissions") or []
    if isinstance(permissions, str):
        permissions = [permissions]
    if not isinstance(permissions, Sequence) or not all(isinstance(p, str) for p in permissions):
        raise BadUser("returned `permissions` that are not a list of strings")
    fields["permissions"] = list(permissions)
    fields.setdefault("display_name", identity)
    fields.setdefault("is_authenticated", True)
    return fields


def scopes_of(permissions: Sequence[str]) -> frozenset[str]:
    """Return the Orca scopes the permissions grant (`run ingest` when they name none)."""
    named = frozenset(p for p in permissions if p in SCOPES)
    return named or DEFAULT_SCOPES


def identity_of(result: Any, auth: Auth) -> Identity:
    """Return the Orca identity of what `@auth.authenticate` returned.

    Raises:
        BadUser: when the result names no user.
    """
    user = ProjectUser(user_fields(result), auth)
    return Identity(id=user.identity, kind="custom", scopes=scopes_of(user.permissions), user=user)
