"""The OpenAI embeddings wire format: parse a request body once, write the answer once.

Follows `CreateEmbeddingRequest` / `CreateEmbeddingResponse` of OpenAI's OpenAPI spec.
Where this server chooses (the spec leaves room), it says so here:
- Token-id input (`[int]`, `[[int]]`) is refused with 400: ids belong to one tokenizer
  (tiktoken's for OpenAI), and re-reading them as text would embed garbage.
- Unknown fields are ignored, so clients that add provider-specific knobs still work.
- `encoding_format: null` means the default, `float`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from server.embeddings.errors import invalid
from server.embeddings.gateway import EmbeddingResult

MAX_INPUTS = 2048
EncodingFormat = Literal["float", "base64"]

TOKEN_IDS_REFUSED = (
    "input holds token ids; this server embeds text only, because ids are specific to one "
    "tokenizer. Send the texts themselves (with LangChain's OpenAIEmbeddings, set "
    "check_embedding_ctx_length=False)."
)


@dataclass(frozen=True)
class EmbeddingRequest:
    """A validated `POST /v1/embeddings` body."""

    model: str
    texts: list[str]
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = None
    user: str | None = None


def parse_request(body: bytes) -> EmbeddingRequest:
    """Parse and validate a request body.

    Raises:
        ApiError: 400 naming the parameter to fix.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid(
            "We could not parse the JSON body of your request. Send a JSON object with "
            "`model` and `input`."
        ) from None
    if not isinstance(document, dict):
        raise invalid("The request body must be a JSON object with `model` and `input`.")
    model = document.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("You must provide a model parameter (a string).", param="model")
    if "input" not in document:
        raise invalid("You must provide an input parameter.", param="input")
    encoding_format = document.get("encoding_format") or "float"
    if encoding_format not in ("float", "base64"):
        raise invalid(
            f"Invalid value for 'encoding_format': {encoding_format!r}. "
            "Supported values are 'float' and 'base64'.",
            param="encoding_format",
        )
    return EmbeddingRequest(
        model=model,
        texts=_texts(document["input"]),
        encoding_format=encoding_format,
        dimensions=_dimensions(document.get("dimensions")),
        user=_user(document.get("user")),
    )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        if not value:
            raise invalid("'$.input' is invalid: input cannot be an empty string.", "input")
        return [value]
    if not isinstance(value, list):
        raise invalid("'$.input' must be a string or an array of strings.", param="input")
    if not value:
        raise invalid("'$.input' is invalid: input cannot be an empty array.", param="input")
    if len(value) > MAX_INPUTS:
        raise invalid(
            f"'$.input' has {len(value)} items; at most {MAX_INPUTS} inputs per request.",
            param="input",
        )
    for index, item in enumerate(value):
        if isinstance(item, str):
            if not item:
                raise invalid(
                    f"'$.input[{index}]' is invalid: input cannot be an empty string.", "input"
                )
            continue
        if isinstance(item, int | list) and not isinstance(item, bool):
            raise invalid(TOKEN_IDS_REFUSED, param="input", code="token_ids_unsupported")
        raise invalid(f"'$.input[{index}]' must be a string.", param="input")
    return value


def _dimensions(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid("dimensions must be a positive integer.", param="dimensions")
    return value


def _user(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise invalid("user must be a string.", param="user")


def encode_response(result: EmbeddingResult, model: str, encoding_format: EncodingFormat) -> bytes:
    """Write the response body; vectors stay float32 until this point."""
    vectors = result.vectors
    if encoding_format == "base64":
        little_endian = vectors.astype("<f4", copy=False)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(row.tobytes()).decode("ascii"),
            }
            for i, row in enumerate(little_endian)
        ]
    else:
        data = [
            {"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(vectors)
        ]
    tokens = result.prompt_tokens
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
