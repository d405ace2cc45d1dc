"""Webhook URLs a run may name, and deliveries beside the runs."""

import asyncio
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
    ],
)
async def test_non_http_and_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefused):
        await check_webhook(url, allow_private=False)


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
