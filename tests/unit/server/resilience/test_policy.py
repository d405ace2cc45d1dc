"""Which upstream failures are retried, and which count against the circuit."""

import httpx
import pytest

from server.embeddings import errors
from server.resilience.errors import CircuitOpen, StreamBroken
from server.resilience.policy import RetryPolicy, classify, parse_retry_after


def status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError("failed", request=request, response=response)


@pytest.mark.parametrize(
    ("exc", "retry", "failure"),
    [
        (httpx.ConnectError("refused"), True, True),
        (TimeoutError(), True, True),
        (status_error(500), True, True),
        (status_error(503), True, True),
        (status_error(408), True, False),
        (status_error(429), True, False),
        (status_error(400), False, False),
        (status_error(401), False, False),
        (status_error(404), False, False),
        (status_error(422), False, False),
        (ValueError("a bug"), False, False),
        (CircuitOpen("llm-01", 3.0), False, False),
        (StreamBroken("llm-01", "reset"), False, True),
    ],
)
def test_classification(exc: BaseException, retry: bool, failure: bool) -> None:
    verdict = classify(exc)
    assert (verdict.retry, verdict.failure) == (retry, failure)


def test_embedding_provider_errors_are_classified_by_the_servers_own_status() -> None:
    refused = errors.invalid("too long", "input")
    assert not classify(refused).retry
    unknown_model = errors.upstream_failed("Ollama", "404 model not found")
    unknown_model.upstream_status = 404
    assert not classify(unknown_model).retry and not classify(unknown_model).failure
    down = errors.upstream_unavailable("the embedding server", "ClientConnectorError")
    assert classify(down).retry and classify(down).failure
    assert classify(down).retry_after is None  # our own hint to clients, not the server's
    limited = errors.upstream_unavailable("the embedding server", "slow down", retry_after=3)
    limited.upstream_status, limited.upstream_retry_after = 429, 3.0
    assert classify(limited).retry_after == 3.0 and not classify(limited).failure


def test_a_retry_after_beyond_the_cap_is_not_retried() -> None:
    policy = RetryPolicy(retry_after_cap_s=10)
    assert classify(status_error(429, {"Retry-After": "2"}), policy).retry
    long_wait = classify(status_error(429, {"Retry-After": "120"}), policy)
    assert not long_wait.retry and long_wait.retry_after == 120


def test_retry_after_reads_seconds_milliseconds_and_dates() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert parse_retry_after("soon") is None
    assert classify(status_error(503, {"retry-after-ms": "1500"})).retry_after == 1.5
