"""Whom a request counts against: X-Forwarded-For only from trusted proxies."""

from ipaddress import ip_network
from typing import Any

import pytest
from fastapi import Depends
from fastapi.routing import APIRoute
from starlette.requests import Request

from server.auth.authenticate import unauthorized
from server.auth.identity import ANONYMOUS, Identity
from server.guards.clients import ClientAddress, IdentityOrAddress

PROXIES = [ip_network("100.64.0.0/10"), ip_network("127.0.0.1/32")]


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 4321),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # From a trusted proxy: the rightmost address that is not a trusted proxy.
        ("100.64.0.2", ["198.51.100.7"], "198.51.100.7"),
        ("100.64.0.2", ["6.6.6.6, 198.51.100.7, 100.64.0.3"], "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6", "198.51.100.7"], "198.51.100.7"),  # repeated headers
        # Garbage stops the walk at the last address a trusted hop vouched for.
        ("100.64.0.2", ["198.51.100.7, not-an-ip, 100.64.0.3"], "100.64.0.3"),
        # Only trusted hops: the leftmost of them.
        ("100.64.0.2", ["100.64.0.5, 100.64.0.3"], "100.64.0.5"),
        # Without the header, the proxy itself.
        ("100.64.0.2", [], "100.64.0.2"),
        # From an untrusted peer the header cannot pick the key.
        ("203.0.113.9", ["198.51.100.7"], "203.0.113.9"),
        ("::1", ["198.51.100.7"], "::1"),
    ],
)
def test_the_client_address(peer: str, forwarded: list[str], client: str) -> None:
    assert ClientAddress(PROXIES).of(scope(peer, *forwarded)) == client


def test_with_no_trusted_proxy_the_header_is_ignored() -> None:
    assert ClientAddress().of(scope("127.0.0.1", "198.51.100.7")) == "127.0.0.1"


def test_a_scope_without_a_client_is_unknown() -> None:
    assert ClientAddress(PROXIES).of({"type": "http", "headers": []}) == "unknown"


def routed(peer: str, identify: Any | None) -> Request:
    """Return a request to a route that depends on `identify` (None: a public route)."""

    async def endpoint() -> None:
        return None

    dependencies = [Depends(identify)] if identify is not None else []
    return Request({**scope(peer), "route": APIRoute("/x", endpoint, dependencies=dependencies)})


async def test_an_identity_is_the_key_and_anonymous_or_refused_callers_their_address() -> None:
    address = ClientAddress()

    async def as_alice(request: Request) -> Identity:
        return Identity(id="alice", kind="api_key")

    async def as_anyone(request: Request) -> Identity:
        return ANONYMOUS

    async def refused(request: Request) -> Identity:
        raise unauthorized("the API key is not valid")

    for identify, key in ((as_alice, "id:alice"), (as_anyone, "ip:198.51.100.7")):
        assert await IdentityOrAddress(identify, address)(routed("198.51.100.7", identify)) == key
    key_of = IdentityOrAddress(refused, address)
    assert await key_of(routed("198.51.100.7", refused)) == "ip:198.51.100.7"


async def test_a_public_route_is_keyed_by_address_without_authenticating() -> None:
    asked: list[Request] = []

    async def as_alice(request: Request) -> Identity:
        asked.append(request)
        return Identity(id="alice", kind="api_key")

    key_of = IdentityOrAddress(as_alice, ClientAddress())
    assert await key_of(routed("198.51.100.7", None)) == "ip:198.51.100.7"
    assert await key_of(Request(scope("198.51.100.7"))) == "ip:198.51.100.7"  # no route
    assert asked == []


async def test_when_authentication_fails_on_its_side_the_address_is_the_key() -> None:
    async def key_store_down(request: Request) -> Identity:
        raise ConnectionError("PostgreSQL is down")

    key = IdentityOrAddress(key_store_down, ClientAddress())
    assert await key(routed("198.51.100.7", key_store_down)) == "ip:198.51.100.7"
