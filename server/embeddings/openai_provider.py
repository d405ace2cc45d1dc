"""Any OpenAI-compatible `/v1/embeddings` server behind the `Embedder` protocol.

The hot path uses one pooled aiohttp session, asks for base64 (a quarter of the bytes of
JSON floats, decoded straight into float32) and parses with orjson. On this machine a
Starlette passthrough reached about 3,000 req/s with aiohttp against about 365 with httpx
on the same stub, which is why this provider does not use the OpenAI SDK.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import numpy as np
import orjson

from server.embeddings import errors
from server.embeddings.provider import Embedded, ModelInfo, apportion, unit_rows
from server.shown_url import shown_url

RETRY_AFTER_CAP_S = 60.0


class OpenAIEmbedder:
    """One model on an OpenAI-compatible server, e.g. vLLM, TEI, llama.cpp or OpenAI."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        model: str,
        *,
        url: str,
        api_key: str,
        timeout_s: float,
        version: str = "",
        truncate: bool = False,
        max_input_tokens: int | None = None,
        max_concurrency: int = 4,
    ) -> None:
        self.session = session
        self.model = model
        self.base_url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(5.0, timeout_s))
        self.timeout_s = timeout_s
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.version = version or "unversioned"
        self.truncate = truncate
        self.max_input_tokens = max_input_tokens
        self.max_concurrency = max_concurrency
        self.min_busy_batch = 1
        self.label = f"openai:{model}@{shown_url(self.base_url)}"
        self._info: ModelInfo | None = None

    @property
    def _what(self) -> str:
        return f"the embedding server at {shown_url(self.base_url)}"

    async def describe(self) -> ModelInfo:
        """Return the model's identity; its size is learnt from one probe embedding."""
        if self._info is None:
            probe = await self.embed(["dimension probe"])
            self._info = ModelInfo(
                provider="openai",
                model=self.model,
                version=self.version,
                dimensions=int(probe.vectors.shape[1]),
                truncate=self.truncate,
                max_input_tokens=self.max_input_tokens,
            )
        return self._info

    async def embed(self, texts: list[str]) -> Embedded:
        """Embed in one request, asking for base64 float32."""
        body = orjson.dumps({"model": self.model, "input": texts, "encoding_format": "base64"})
        try:
            async with self.session.post(
                f"{self.base_url}/embeddings", data=body, headers=self.headers, timeout=self.timeout
            ) as response:
                payload = await response.read()
                if response.status >= 400:
                    raise self._refusal(response.status, payload, response.headers)
        except TimeoutError as exc:
            raise errors.upstream_timeout(self._what, self.timeout_s) from exc
        except aiohttp.ClientError as exc:
            raise errors.upstream_unavailable(self._what, type(exc).__name__) from exc
        return self._parse(payload, texts)

    def _parse(self, payload: bytes, texts: list[str]) -> Embedded:
        try:
            document = orjson.loads(payload)
            items = sorted(document["data"], key=lambda item: item["index"])
            vectors = np.stack([_decode(item["embedding"]) for item in items])
            total = int((document.get("usage") or {}).get("prompt_tokens") or 0)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise errors.upstream_failed(self._what, f"unreadable answer ({exc})") from exc
        if len(vectors) != len(texts):
            raise errors.upstream_failed(self._what, f"{len(vectors)} vectors for {len(texts)}")
        return Embedded(vectors=unit_rows(vectors), tokens=apportion(total, texts))

    def _refusal(self, status: int, payload: bytes, headers: Any) -> errors.ApiError:
        error = self._explain(status, _error_message(payload), headers)
        # The retry policy reads the server's own status and Retry-After, not ours.
        error.upstream_status = status
        if headers.get("Retry-After"):
            error.upstream_retry_after = _retry_after(headers.get("Retry-After"))
        return error

    def _explain(self, status: int, message: str, headers: Any) -> errors.ApiError:
        if status in (429, 503):
            retry_after = _retry_after(headers.get("Retry-After"))
            return errors.upstream_unavailable(self._what, message, retry_after=retry_after)
        if status == 400:
            code = "context_length_exceeded" if "context" in message.lower() else None
            return errors.invalid(f"The embedding server refused: {message}", "input", code)
        return errors.upstream_failed(self._what, f"{status} {message}")

    async def ping(self) -> None:
        """GET `/models` on the server."""
        async with self.session.get(
            f"{self.base_url}/models", headers=self.headers, timeout=self.timeout
        ) as response:
            if response.status >= 500:
                raise RuntimeError(f"{shown_url(self.base_url)}/models answered {response.status}")

    async def aclose(self) -> None:
        """Close the session and wait for its sockets to go (aiohttp's advice)."""
        await self.session.close()
        await asyncio.sleep(0)


def _decode(embedding: Any) -> np.ndarray:
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4").astype(np.float32)
    return np.asarray(embedding, dtype=np.float32)  # a server that ignores encoding_format


def _error_message(payload: bytes) -> str:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload[:200].decode(errors="replace")
    error = document.get("error", document) if isinstance(document, dict) else document
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or error)
    return str(error)


def _retry_after(value: str | None) -> float:
    """Return a capped `Retry-After` in seconds (seconds form; dates fall back to 5)."""
    try:
        return min(max(float(value or 5), 1.0), RETRY_AFTER_CAP_S)
    except ValueError:
        return 5.0
