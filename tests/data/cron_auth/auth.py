"""A project's custom auth with rules for crons (`@auth.on.crons`), for the cron tests.

`alice` and `bob` share the identity `acme`, so Orca's ownership alone would show them each
other's crons; the handler stamps the creator in the cron's metadata and filters by it.
`mallory` may not create crons at all.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

PEOPLE = {"alice", "bob", "mallory"}


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """Return the person the bearer token names (all of team `acme`), or 401."""
    token = (authorization or "").removeprefix("Bearer ")
    if token not in PEOPLE:
        raise Auth.exceptions.HTTPException(status_code=401, detail="unknown token")
    return {"identity": "acme", "person": token}  # type: ignore[typeddict-unknown-key]


@auth.on.crons
async def on_crons(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Stamp the creator; show each person only their own crons."""
    person = str(ctx.user["person"])
    if ctx.action == "create":
        if person == "mallory":
            return False
        value.setdefault("metadata", {})["person"] = person
    return {"person": person}
