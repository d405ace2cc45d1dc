"""Tell a run's `webhook` URL how the run ended: one POST of the run and its result.

The URL is checked when the run is created (http or https; no loopback, link-local,
private or multicast address, nor an IPv6 one that carries such an IPv4 address, unless
`ORCA_WEBHOOK_ALLOW_PRIVATE`), and again when it is called, since
a name can resolve differently later. The call then goes to the address that check found,
not to the name resolved once more: a name that answered a public address to the check and
a loopback one to the connection (DNS rebinding) would otherwise reach this host's own
services. The request still names the host (`Host`, and TLS's SNI and certificate check).
Delivery is retried three times with backoff; a webhook that still fails is logged, never
retried forever.

Delivery runs beside the run, not in it (`WebhookSender`): a run's `/wait`, `/join` and
stream end when its outcome is stored, and its worker slot is free again, however long
the receiver takes (up to three attempts of `TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from server.runs.serde import dumps

log = logging.getLogger("orca.runs")
TIMEOUT_S = 10.0
NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""The well-known NAT64 prefix: its last 32 bits are the IPv4 address a gateway reaches."""
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
"""Deprecated IPv4-compatible addresses (`::127.0.0.1`): the last 32 bits are IPv4 too."""
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(ValueError):
    """The webhook URL may not be called."""


async def check_webhook(url: str, *, allow_private: bool) -> str | None:
    """Return the address to call `url` at; None when private addresses are allowed.

    Raises:
        WebhookRefused: `url` is not http(s), does not resolve, or reaches a private address.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("webhook must be an http or https URL")
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except socket.gaierror:
        raise WebhookRefused(f"webhook host {parts.hostname!r} does not resolve") from None
    for info in infos:
        if not is_public(ipaddress.ip_address(info[4][0])):
            raise WebhookRefused(
                f"webhook host {parts.hostname!r} is a private address; "
                "set ORCA_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )
    return str(infos[0][4][0])


def is_public(address: Address) -> bool:
    """Whether `address` is a public unicast address, and so is every IPv4 address it carries.

    `is_global` alone passed `::127.0.0.1`, `::ffff:0:127.0.0.1`, 6to4's `2002:7f00:1::`,
    NAT64's `64:ff9b::7f00:1` and multicast `224.0.0.1`.
    """
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(is_public(inner) for inner in embedded_ipv4(address))
    return True


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Return the IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64...)."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64 or address in IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    # `::ffff:0:a.b.c.d` (SIIT's IPv4-translated form) is not `ipv4_mapped`.
    if int(address) >> 32 == 0xFFFF0000:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]


@dataclass(frozen=True)
class PinnedCall:
    """A webhook request aimed at a checked address, still naming its host."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


def pinned(url: str, address: str | None) -> PinnedCall:
    """Return the request for `url` sent to `address` (or by name, when None)."""
    headers = {"Content-Type": "application/json"}
    parts = urlsplit(url)
    if address is None or parts.hostname is None:
        return PinnedCall(url, headers, {})
    host = f"[{address}]" if ":" in address else address
    userinfo, _, named = parts.netloc.rpartition("@")  # `named`: the host as written, port too
    netloc = f"{host}:{parts.port}" if parts.port else host
    netloc = f"{userinfo}@{netloc}" if userinfo else netloc
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return PinnedCall(
        urlunsplit(parts._replace(netloc=netloc)), headers | {"Host": named}, extensions
    )


async def deliver(url: str, payload: dict[str, Any], *, allow_private: bool) -> None:
    """POST `payload` to the webhook, retrying transport errors and 5xx answers."""
    try:
        call = pinned(url, await check_webhook(url, allow_private=allow_private))
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.5, max=5),
                retry=retry_if_exception_type(httpx.HTTPError),
                reraise=True,
            ):
                with attempt:
                    response = await client.post(
                        call.url,
                        content=dumps(payload),
                        headers=call.headers,
                        extensions=call.extensions,
                    )
                    if response.status_code >= 500:
                        response.raise_for_status()
    except (httpx.HTTPError, WebhookRefused) as error:
        log.warning("webhook %s failed: %s", url, error)


class WebhookSender:
    """Deliver webhooks in the background; at shutdown, give those under way a moment."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._deliveries: set[asyncio.Task[None]] = set()

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Start delivering `payload` to `url`; failures are logged by `deliver`."""
        task = asyncio.create_task(deliver(url, payload, allow_private=self.allow_private))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def aclose(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the deliveries under way, then cancel the rest."""
        if not self._deliveries:
            return
        _, late = await asyncio.wait(set(self._deliveries), timeout=timeout_s)
        for task in late:
            log.warning("webhook delivery cut short by shutdown")
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
