"""Webhook URLs a run may name, and deliveries beside the runs."""

import asyncio
import ipaddress
from typing import Any

import pytest

from server.runs import webhooks
from server.runs.webhooks import WebhookRefused, WebhookSender, check_webhook


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "http://127.0.0.1:9/hook",
        "http://198.51.100.7/hook",
        "http://[::1]/h",
        # IPv6 forms that carry 127.0.0.1, which `is_global` alone let through
        "http://[::127.0.0.1]/h",
        "http://[::ffff:0:127.0.0.1]/h",
        "http://[2002:7f00:1::]/h",
        "http://[64:ff9b::7f00:1]/h",
        "http://[64:ff9b::a00:1]/h",
        "http://224.0.0.1/h",
        "http://[ff02::1]/h",
    ],
)
async def test_non_http_and_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefused):
        await check_webhook(url, allow_private=False)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::", "::8.8.8.8"]
)
def test_public_addresses_and_ipv6_forms_of_them_are_public(address: str) -> None:
    assert webhooks.is_public(ipaddress.ip_address(address))


async def test_private_addresses_pass_when_allowed() -> None:
    await check_webhook("http://127.0.0.1:9/hook", allow_private=True)


async def test_shutdown_waits_for_deliveries_then_cancels_the_late_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delivered: list[str] = []
    stuck = asyncio.Event()

    async def deliver(url: str, payload: dict[str, Any], *, allow_private: bool) -> None:
        if url.endswith("stuck"):
            await stuck.wait()
        delivered.append(url)

    monkeypatch.setattr(webhooks, "deliver", deliver)
    sender = WebhookSender(allow_private=False)
    sender.send("https://example.com/quick", {})
    sender.send("https://example.com/stuck", {})
    await sender.aclose(timeout_s=0.05)
    assert delivered == ["https://example.com/quick"]
    assert not stuck.is_set()
    await sender.aclose(timeout_s=0.05)  # nothing left: returns at once


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host", "sni"),
    [
        ("http://hooks.example.com/a?b=1", "203.0.113.5", "http://203.0.113.5/a?b=1", None, None),
        (
            "https://u:p@hooks.example.com:8443/a",
            "2001:db8::5",
            "https://u:p@[2001:db8::5]:8443/a",
            "hooks.example.com:8443",
            "hooks.example.com",
        ),
    ],
)
def test_a_checked_webhook_is_called_at_the_address_the_check_found(
    url: str, address: str, sent_to: str, host: str | None, sni: str | None
) -> None:
    call = webhooks.pinned(url, address)
    assert call.url == sent_to
    assert call.headers["Host"] == (host or "hooks.example.com")
    assert call.extensions == ({"sni_hostname": sni} if sni else {})
    assert webhooks.pinned(url, None).url == url  # private addresses allowed: by name


async def test_delivery_does_not_resolve_the_name_again(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[tuple[str, bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        host = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"host:"))
        received.append((host.decode(), head))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    async def checked(url: str, *, allow_private: bool) -> str:
        return "127.0.0.1"  # what the check found; the name below resolves to nothing

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(webhooks, "check_webhook", checked)
    async with server:
        await webhooks.deliver(f"http://hooks.invalid:{port}/hook", {}, allow_private=False)
    assert [host for host, _ in received] == [f"Host: hooks.invalid:{port}"]
