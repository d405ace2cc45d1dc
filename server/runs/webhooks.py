"""Tell a run's `webhook` URL how the run ended: one POST of the run and its result.

The URL is checked when the run is created (http or https; no loopback, link-local or
private address unless `ORCA_WEBHOOK_ALLOW_PRIVATE`), and again when it is called, since
a name can resolve differently later. Delivery is retried three times with backoff; a
webhook that still fails is logged, never retried forever.

Delivery runs beside the run, not in it (`WebhookSender`): a run's `/wait`, `/join` and
stream end when its outcome is stored, and its worker slot is free again, however long
the receiver takes (up to three attempts of `TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from server.runs.serde import dumps

log = logging.getLogger("orca.runs")
TIMEOUT_S = 10.0


class WebhookRefused(ValueError):
    """The webhook URL may not be called."""


async def check_webhook(url: str, *, allow_private: bool) -> None:
    """Raise WebhookRefused when `url` is not http(s) or reaches a private address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("webhook must be an http or https URL")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except socket.gaierror:
        raise WebhookRefused(f"webhook host {parts.hostname!r} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise WebhookRefused(
                f"webhook host {parts.hostname!r} is a private address; "
                "set ORCA_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )


async def deliver(url: str, payload: dict[str, Any], *, allow_private: bool) -> None:
    """POST `payload` to the webhook, retrying transport errors and 5xx answers."""
    try:
        await check_webhook(url, allow_private=allow_private)
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.5, max=5),
                retry=retry_if_exception_type(httpx.HTTPError),
                reraise=True,
            ):
                with attempt:
                    response = await client.post(
                        url, content=dumps(payload), headers={"Content-Type": "application/json"}
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
