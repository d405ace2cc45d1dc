"""Who may call the memo agent, and whose threads they see (langgraph.json `auth.path`).

Written as LangGraph's custom-auth tutorial writes it: a bearer token names the user, a
new thread is stamped with its creator as `metadata.owner`, and reading, searching and
running on a thread is filtered on that owner.
"""

from __future__ import annotations

from langgraph_sdk import Auth

auth = Auth()

USERS: dict[str, Auth.types.MinimalUserDict] = {
    "ann-token": {"identity": "ann", "display_name": "Ann"},
    "bob-token": {"identity": "bob", "display_name": "Bob"},
}
"""The known users, by the token each sends."""


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """Return the user `Authorization: Bearer <token>` names, or refuse with 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token not in USERS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid or missing token")
    return USERS[token]


@auth.on.threads.create
async def on_thread_create(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsCreate) -> None:
    """Stamp the creator as the thread's owner (over any owner the caller sent)."""
    metadata = value.setdefault("metadata", {})
    metadata["owner"] = ctx.user.identity


@auth.on.threads.read
async def on_thread_read(
    ctx: Auth.types.AuthContext, value: Auth.types.ThreadsRead
) -> Auth.types.FilterType:
    """Show a thread, its state and its runs to its owner only."""
    return {"owner": ctx.user.identity}


@auth.on.threads.search
async def on_thread_search(
    ctx: Auth.types.AuthContext, value: Auth.types.ThreadsSearch
) -> Auth.types.FilterType:
    """Find only the threads this user owns."""
    return {"owner": ctx.user.identity}


@auth.on.threads.create_run
async def on_run(
    ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate
) -> Auth.types.FilterType:
    """Run only on threads this user owns."""
    return {"owner": ctx.user.identity}
