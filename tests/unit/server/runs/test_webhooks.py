"""Webhook URLs a run may name."""

import pytest

from server.runs.webhooks import WebhookRefused, check_webhook


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
