"""Errors in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`.

The status decides what the stock OpenAI client does next: it retries 408, 409, 429 and 5xx
unless told otherwise, and it honours `Retry-After`. So every client mistake carries
`x-should-retry: false`, and every overload or outage carries `Retry-After`.
"""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """A failure to report to the caller, with its HTTP status and OpenAI fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.extra_headers: dict[str, str] = {}
        """More response headers, e.g. `WWW-Authenticate` on a 401."""
        self.upstream_status: int | None = None
        """The provider's own HTTP status, when this error reports one (for the retry policy)."""
        self.upstream_retry_after: float | None = None
        """The provider's own `Retry-After`, when it sent one (the retry loop honours it)."""

    @property
    def type(self) -> str:
        """Return OpenAI's error type for the status."""
        return ERROR_TYPES.get(self.status, "server_error" if self.status >= 500 else "api_error")

    def body(self) -> dict[str, Any]:
        """Return the OpenAI error envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        """Return `Retry-After` for transient failures and `x-should-retry: false` otherwise."""
        if self.retry_after is not None:
            headers = {
                "Retry-After": str(max(1, round(self.retry_after))),
                "x-should-retry": "true",
            }
        elif self.status < 500:
            headers = {"x-should-retry": "false"}
        else:
            headers = {}
        return {**headers, **self.extra_headers}

    def with_message(self, message: str) -> ApiError:
        """Return a copy that says `message` instead."""
        return ApiError(
            self.status, message, param=self.param, code=self.code, retry_after=self.retry_after
        )


class InputsRefused(ApiError):
    """A provider's 400 for particular inputs of a batch; the others may still be embedded."""

    def __init__(self, message: str, indices: list[int], code: str | None = None) -> None:
        super().__init__(400, message, param="input", code=code)
        self.indices = indices


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """Return a 400 for a request the caller must change."""
    return ApiError(400, message, param=param, code=code)


def model_not_found(model: str, known: list[str]) -> ApiError:
    """Return OpenAI's 404 for a model name nobody configured."""
    return ApiError(
        404,
        f"The model {model!r} does not exist. Embedding models here: {', '.join(known)}.",
        param="model",
        code="model_not_found",
    )


def overloaded(message: str, retry_after: float = 1.0) -> ApiError:
    """Return 503 for a full queue: the server, not this caller, is the bottleneck."""
    return ApiError(503, message, code="server_overloaded", retry_after=retry_after)


def upstream_unavailable(what: str, detail: str, retry_after: float = 5.0) -> ApiError:
    """Return 503 for a provider that cannot be reached or is overloaded."""
    return ApiError(
        503,
        f"{what} is unavailable: {detail}",
        code="upstream_unavailable",
        retry_after=retry_after,
    )


def upstream_timeout(what: str, seconds: float) -> ApiError:
    """Return 504 for a provider that did not answer in time."""
    return ApiError(
        504, f"{what} did not answer within {seconds:g}s", code="upstream_timeout", retry_after=5.0
    )


def upstream_failed(what: str, detail: str) -> ApiError:
    """Return 502 for a provider answer we cannot use (5xx, a broken body, a wrong count)."""
    return ApiError(502, f"{what} failed: {detail}", code="upstream_error", retry_after=5.0)


def context_length_exceeded(message: str) -> ApiError:
    """Return OpenAI's 400 for an input longer than the model takes."""
    return invalid(message, param="input", code="context_length_exceeded")
