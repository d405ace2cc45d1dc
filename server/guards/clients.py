"""Whom a request counts against: its identity, or its client's address without one.

`X-Forwarded-For` is believed only from a trusted proxy (`ORCA_TRUSTED_PROXIES`), and then
read from the right: each trusted hop vouches for the one before it, so the client is the
rightmost address that is not a trusted proxy. Anyone can write the leftmost entries, which
is why reading the first one lets a caller pick its own rate-limit key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from server.auth.identity import Identity

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


class ClientAddress:
    """An async FastAPI-style key function returning the client's IP address."""

    def __init__(self, trusted_proxies: Sequence[Network] = ()) -> None:
        self.trusted_proxies = list(trusted_proxies)

    async def __call__(self, request: Request) -> str:
        """Return the address requests from this client are counted under."""
        return self.of(request.scope)

    def of(self, scope: Scope) -> str:
        """Return the client address of an ASGI scope."""
        client = scope.get("client")
        peer = str(client[0]) if client else UNKNOWN
        if not self.trusted_proxies or not self._trusted(_parse(peer)):
            return peer
        candidate = peer
        for hop in reversed(_forwarded_for(scope)):
            address = _parse(hop)
            if address is None:
                break  # garbage: nothing to its left can be vouched for
            candidate = str(address)
            if not self._trusted(address):
                break
        return candidate

    def _trusted(self, address: IPv4Address | IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted_proxies)


def _forwarded_for(scope: Scope) -> list[str]:
    """Return every `X-Forwarded-For` hop, in order, across repeated headers."""
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            hops += [hop.strip() for hop in value.decode("latin-1").split(",")]
    return hops


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


class IdentityOrAddress:
    """Key requests by their authenticated identity, or by client address without one.

    `identify` is the app's authentication dependency (`server.deps.get_identity`), asked
    only on routes that depend on it: a public route (`/`, `/docs`, `/chat`) is counted
    against its address and never authenticates (a project's `@auth.authenticate` is not
    run for it). A request `identify` refuses is counted against its address, so failed
    attempts are limited too; the route's own authentication answers it afterwards with
    the refusal `identify` remembered (401, or 503 when the key store is down), without
    authenticating twice. Anonymous requests (`ORCA_AUTH_MODE=none`) are counted by
    address too: they would otherwise share one counter.
    """

    def __init__(
        self, identify: Callable[[Request], Awaitable[Identity]], address: ClientAddress
    ) -> None:
        self.identify = identify
        self.address = address
        self._asks: dict[int, bool] = {}
        """Per route (by id; routes live as long as the app): whether it depends on `identify`."""

    async def __call__(self, request: Request) -> str:
        """Return `id:<identity>` or `ip:<address>`."""
        identity = None
        if self._route_asks(request.scope.get("route")):
            try:
                identity = await self.identify(request)
            except Exception:  # noqa: BLE001 - the route's own authentication reports it
                identity = None
        if identity is None or identity.kind == "anonymous":
            return "ip:" + self.address.of(request.scope)
        return "id:" + identity.id

    def _route_asks(self, route: Any) -> bool:
        """Return whether the route (or a dependency of it) depends on `identify`."""
        asks = self._asks.get(id(route))
        if asks is None:
            dependant = getattr(route, "dependant", None)
            asks = self._asks[id(route)] = dependant is not None and _depends_on(
                dependant, self.identify
            )
        return asks


def _depends_on(dependant: Any, call: Any) -> bool:
    """Return whether a FastAPI dependant's tree calls `call`."""
    pending = [dependant]
    while pending:
        node = pending.pop()
        if node.call is call:
            return True
        pending.extend(node.dependencies)
    return False
