"""A LangGraph project's custom auth, as a team would write it (`langgraph.json` `auth.path`).

Bearer tokens name users. `user-a` and `user-b` are their own identities. `alice` and `bob`
share the identity `acme` (one team, one knowledge base) but each is a `person`: Orca's
ownership alone would show them each other's threads, so only the filters below keep them
apart. `root` holds the `admin` permission, the only one that may delete threads.
Assistants are stamped and filtered by the same owner, and store items live under the
owner's first label. `CALLS` records the path of every request `authenticate` is asked
about (the server runs in the tests' process).
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

USERS: dict[str, dict[str, Any]] = {
    "user-a": {"identity": "user-a", "permissions": ["threads:write"]},
    "user-b": {"identity": "user-b", "permissions": ["threads:write"]},
    "alice": {"identity": "acme", "person": "alice", "display_name": "Alice"},
    "bob": {"identity": "acme", "person": "bob", "display_name": "Bob"},
    "root": {"identity": "root", "permissions": ["admin", "run", "ingest"]},
}


CALLS: list[str] = []
"""The path of each request `authenticate` was asked about, in order."""


@auth.authenticate
async def authenticate(authorization: str | None, path: str) -> Auth.types.MinimalUserDict:
    """Return the user the bearer token names, or refuse with 401."""
    CALLS.append(path)
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token not in USERS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid or missing token")
    return USERS[token]  # type: ignore[return-value]


def owner(ctx: Auth.types.AuthContext) -> str:
    """Return who owns what this user creates: the person, else the identity."""
    return str(ctx.user["person"]) if "person" in ctx.user else ctx.user.identity


@auth.on.threads.create
async def on_thread_create(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Stamp the creator as the thread's owner."""
    metadata = value.setdefault("metadata", {})
    metadata["owner"] = owner(ctx)
    return {"owner": owner(ctx)}


@auth.on.threads.delete
async def on_thread_delete(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
    """Let only admins delete threads."""
    return "admin" in ctx.permissions


@auth.on.threads
async def on_threads(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Show, search, change and run only the threads this user owns."""
    return {"owner": owner(ctx)}


@auth.on.threads.create_run
async def on_run(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Run only on owned threads, and mark who started the run."""
    value.setdefault("metadata", {})["started_by"] = owner(ctx)
    return {"owner": owner(ctx)}


@auth.on.assistants.create
async def on_assistant_create(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Stamp the creator as the assistant's owner."""
    value.setdefault("metadata", {})["owner"] = owner(ctx)
    return {"owner": owner(ctx)}


@auth.on.assistants.update
async def on_assistant_update(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Change only owned assistants, and never their owner."""
    if isinstance(value.get("metadata"), dict):
        value["metadata"]["owner"] = owner(ctx)
    return {"owner": owner(ctx)}


@auth.on.assistants
async def on_assistants(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Show, search and delete only the assistants this user owns."""
    return {"owner": owner(ctx)}


@auth.on.store
async def on_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Keep each person's items under their own first label (LangGraph's own example)."""
    namespace = tuple(value.get("namespace") or ())
    if namespace[:1] != (owner(ctx),):
        value["namespace"] = (owner(ctx), *namespace)


@auth.on.store.put
async def on_store_put(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Refuse writes to `readonly` namespaces; put the rest under the person's label."""
    assert "readonly" not in value["namespace"], "readonly namespaces take no writes"
    await on_store(ctx, value)


@auth.on.store.search
async def on_store_search(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Search the person's own items, and only those not marked `hidden`."""
    await on_store(ctx, value)
    return {"hidden": False}
