"""A project's `langgraph_sdk.Auth`: loading it, mapping its user, asking its handlers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import Auth
from starlette.requests import Request

from server.app import create_app
from server.auth.identity import Identity
from server.auth.langgraph_auth import (
    AuthPathError,
    Denied,
    ProjectAuthenticator,
    authorize,
    load_project_auth,
    matches,
)
from server.auth.langgraph_auth.authorize import equality_part
from server.auth.langgraph_auth.user import BadUser, identity_of, user_fields
from server.embeddings.errors import ApiError
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models

PROJECT = Path(__file__).parents[3] / "data" / "project_auth"


def request(
    headers: dict[str, str] | None = None, body: bytes = b"", path: str = "/threads/t-1"
) -> Request:
    """Return a request as a route sees it (Starlette keeps the body it reads)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"limit=3",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "path_params": {"thread_id": "t-1"},
    }
    return Request(scope, receive)


# Mapping -------------------------------------------------------------------------
def test_a_string_is_the_identity_with_the_default_scopes() -> None:
    identity = identity_of("user-a", Auth())
    assert (identity.id, identity.tenant, identity.kind) == ("user-a", "user-a", "custom")
    assert identity.scopes == {"run", "ingest"} and not identity.is_admin
    assert identity.user is not None and identity.user.permissions == ()


def test_permissions_naming_orca_scopes_are_the_scopes() -> None:
    admin = identity_of({"identity": "u", "permissions": ["admin", "run", "threads:write"]}, Auth())
    assert admin.scopes == {"admin", "run"} and admin.is_admin
    assert admin.user is not None and admin.user.permissions == ("admin", "run", "threads:write")
    only_ingest = identity_of({"identity": "u", "permissions": "ingest"}, Auth())
    assert only_ingest.scopes == {"ingest"}
    other = identity_of({"identity": "u", "permissions": ["threads:write"]}, Auth())
    assert other.scopes == {"run", "ingest"}


def test_the_user_keeps_every_field_for_the_handlers() -> None:
    identity = identity_of({"identity": "acme", "person": "alice", "display_name": "A"}, Auth())
    user = identity.user
    assert user is not None
    assert (user.identity, user.display_name, user.is_authenticated) == ("acme", "A", True)
    assert user["person"] == "alice" and user.person == "alice" and "person" in user
    assert set(user) == {"identity", "person", "display_name", "permissions", "is_authenticated"}
    assert identity == Identity("acme", "custom", identity.scopes)  # the user is not compared


def test_an_object_with_an_identity_is_a_user() -> None:
    user = Auth.types.StudioUser("dev", is_authenticated=True)
    fields = user_fields(user)
    assert fields["identity"] == "dev" and fields["permissions"] == ["authenticated"]


@pytest.mark.parametrize(
    "result",
    [None, 42, "", "   ", {"name": "x"}, {"identity": 3}, {"identity": "u", "permissions": [1]}],
)
def test_a_result_naming_no_user_is_refused(result: Any) -> None:
    with pytest.raises(BadUser):
        user_fields(result)


# Loading -------------------------------------------------------------------------
def test_a_file_target_loads_relative_to_the_base_folder() -> None:
    auth = load_project_auth("./auth.py:auth", PROJECT)
    assert isinstance(auth, Auth) and auth._authenticate_handler is not None
    assert load_project_auth(str(PROJECT / "auth.py") + ":auth") is not auth  # absolute path


def test_a_module_target_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PROJECT))
    try:
        assert isinstance(load_project_auth("auth:auth"), Auth)
    finally:
        sys.modules.pop("auth", None)


async def test_a_bad_target_stops_start_up_with_one_error(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        auth_path="./missing.py:auth",
        auth_base_dir=tmp_path,
    )
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    with pytest.raises(AuthPathError, match="ORCA_AUTH_PATH: no file"):
        async with app.router.lifespan_context(app):
            pass


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("auth.py", "is not './file.py:attr'"),
        ("./missing.py:auth", "no file"),
        ("./auth.py:nothing", "'nothing' is nothing, not a langgraph_sdk.Auth"),
        ("./auth.py:USERS", "is a dict, not a langgraph_sdk.Auth"),
        ("no_such_module_here:auth", "importing it failed: ModuleNotFoundError"),
    ],
)
def test_a_bad_target_says_what_is_wrong(target: str, says: str) -> None:
    with pytest.raises(AuthPathError, match=says.replace("(", r"\(").replace(".", r"\.")):
        load_project_auth(target, PROJECT)


def test_an_auth_without_authenticate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from langgraph_sdk import Auth\nauth = Auth()\n")
    with pytest.raises(AuthPathError, match="no @auth.authenticate handler"):
        load_project_auth("./a.py:auth", tmp_path)


def test_a_module_that_fails_to_import_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("raise RuntimeError('no secret set')\n")
    with pytest.raises(AuthPathError, match="RuntimeError: no secret set"):
        load_project_auth("./a.py:auth", tmp_path)


# Authenticating ------------------------------------------------------------------
async def test_the_handler_gets_what_it_names() -> None:
    auth = Auth()
    seen: dict[str, Any] = {}

    @auth.authenticate
    async def authenticate(
        authorization: str | None,
        headers: dict[bytes, bytes],
        path: str,
        method: str,
        body: Any,
        path_params: dict[str, str],
        query_params: dict[str, str],
    ) -> str:
        seen.update(locals())
        return "user-a"

    sent = request({"Authorization": "Bearer t", "X-Team": "acme"}, json.dumps({"a": 1}).encode())
    identity = await ProjectAuthenticator(auth).identify(sent)
    assert identity.id == "user-a"
    assert seen["authorization"] == "Bearer t" and seen["headers"][b"x-team"] == b"acme"
    assert (seen["path"], seen["method"], seen["body"]) == ("/threads/t-1", "POST", {"a": 1})
    assert seen["path_params"] == {"thread_id": "t-1"} and seen["query_params"] == {"limit": "3"}
    assert await sent.json() == {"a": 1}  # the route still reads the body


async def test_an_http_exception_is_its_status_and_a_bug_is_a_logged_500() -> None:
    auth = load_project_auth("./auth.py:auth", PROJECT)
    with pytest.raises(ApiError) as refused:
        await ProjectAuthenticator(auth).identify(request({"Authorization": "Bearer nope"}))
    assert (refused.value.status, refused.value.message) == (401, "Invalid or missing token")
    assert refused.value.headers()["WWW-Authenticate"].startswith("Bearer")

    broken = Auth()

    @broken.authenticate
    async def authenticate() -> Any:
        return {"no": "identity"}

    with pytest.raises(ApiError) as failed:
        await ProjectAuthenticator(broken).identify(request())
    assert failed.value.status == 500 and "logged" in failed.value.message


# Authorizing ---------------------------------------------------------------------
def identity_with(auth: Auth, **user: Any) -> Identity:
    return identity_of({"identity": "user-a", **user}, auth)


async def test_the_most_specific_handler_answers() -> None:
    auth = Auth()
    calls: list[str] = []

    @auth.on
    async def everything(ctx: Auth.types.AuthContext, value: Any) -> bool:
        calls.append(f"global {ctx.resource}.{ctx.action}")
        return True

    @auth.on.threads
    async def threads(ctx: Auth.types.AuthContext, value: Any) -> bool:
        calls.append(f"threads.{ctx.action}")
        return True

    @auth.on.threads.create
    async def create(ctx: Auth.types.AuthContext, value: Any) -> bool:
        calls.append("threads.create")
        return True

    @auth.on(resources="crons", actions="search")
    async def cron_search(ctx: Auth.types.AuthContext, value: Any) -> bool:
        calls.append("crons.search")
        return True

    identity = identity_with(auth)
    for resource, action in [
        ("threads", "create"),
        ("threads", "read"),
        ("crons", "search"),
        ("store", "put"),
    ]:
        await authorize(identity, resource, action, {})
    assert calls == ["threads.create", "threads.read", "crons.search", "global store.put"]


async def test_results_become_filters_refusals_or_errors() -> None:
    auth = Auth()

    @auth.on.threads.create
    async def stamp(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
        value.setdefault("metadata", {})["owner"] = ctx.user.identity
        return {"owner": ctx.user.identity}

    @auth.on.threads.delete
    async def deny(ctx: Auth.types.AuthContext, value: Any) -> bool:
        return "admin" in ctx.permissions

    @auth.on.threads.update
    async def asserting(ctx: Auth.types.AuthContext, value: Any) -> None:
        assert value.get("metadata", {}).get("locked") is not True, "the thread is locked"

    @auth.on.threads.search
    async def teapot(ctx: Auth.types.AuthContext, value: Any) -> None:
        raise Auth.exceptions.HTTPException(status_code=418, detail="no searching today")

    @auth.on.assistants
    async def nonsense(ctx: Auth.types.AuthContext, value: Any) -> Any:
        return "yes"

    identity = identity_with(auth)
    value: dict[str, Any] = {"metadata": {"topic": "x"}}
    assert await authorize(identity, "threads", "create", value) == {"owner": "user-a"}
    assert value["metadata"] == {"topic": "x", "owner": "user-a"}
    with pytest.raises(Denied) as denied:
        await authorize(identity, "threads", "delete", {"thread_id": "t"})
    assert denied.value.status == 403
    assert (
        await authorize(identity_with(auth, permissions=["admin"]), "threads", "delete", {}) is None
    )
    with pytest.raises(Denied, match="the thread is locked"):
        await authorize(identity, "threads", "update", {"metadata": {"locked": True}})
    with pytest.raises(ApiError) as teapot_error:
        await authorize(identity, "threads", "search", {})
    assert (teapot_error.value.status, teapot_error.value.message) == (418, "no searching today")
    with pytest.raises(ApiError) as bug:
        await authorize(identity, "assistants", "read", {})
    assert bug.value.status == 500
    assert await authorize(identity, "crons", "read", {}) is None  # no handler: allowed


async def test_identities_from_elsewhere_are_not_asked() -> None:
    assert await authorize(Identity("k", "api_key"), "threads", "delete", {}) is None


def test_filters_match_metadata() -> None:
    metadata = {"owner": "a", "tags": ["x", "y"], "none": None}
    assert matches(metadata, None) and matches(metadata, {})
    assert matches(metadata, {"owner": "a", "tags": {"$contains": "x"}})
    assert matches(metadata, {"owner": {"$eq": "a"}, "tags": {"$contains": ["x", "y"]}})
    assert matches(metadata, {"none": None})
    assert not matches(metadata, {"owner": "b"})
    assert not matches(metadata, {"missing": None})  # absent is not null
    assert not matches(metadata, {"tags": {"$contains": "z"}})
    assert not matches(metadata, {"owner": {"$contains": "a"}})  # not a list
    assert not matches(None, {"owner": "a"})
    assert equality_part({"a": 1, "b": {"$eq": 2}, "c": {"$contains": 3}}) == (
        {"a": 1, "b": 2},
        {"c": {"$contains": 3}},
    )
