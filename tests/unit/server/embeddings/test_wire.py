"""The OpenAI wire format: every refusal names its parameter; base64 is little-endian float32."""

import base64

import numpy as np
import orjson
import pytest

from server.embeddings.errors import ApiError
from server.embeddings.gateway import EmbeddingResult
from server.embeddings.wire import MAX_INPUTS, encode_response, parse_request


def body(**fields: object) -> bytes:
    return orjson.dumps({"model": "embed-01", "input": "hello", **fields})


def refusal(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_request(raw)
    assert caught.value.status == 400
    assert caught.value.headers() == {"x-should-retry": "false"}
    return caught.value


def test_a_string_and_an_array_both_become_texts() -> None:
    assert parse_request(body()).texts == ["hello"]
    request = parse_request(body(input=["a", "b"], encoding_format="base64", dimensions=8))
    assert request.texts == ["a", "b"]
    assert request.encoding_format == "base64"
    assert request.dimensions == 8


def test_defaults_follow_the_spec() -> None:
    request = parse_request(body(encoding_format=None, user="u-1", unknown_knob=True))
    assert request.encoding_format == "float"
    assert request.user == "u-1"


@pytest.mark.parametrize(
    ("raw", "param", "words"),
    [
        (b"{not json", None, "could not parse"),
        (b"[1, 2]", None, "JSON object"),
        (orjson.dumps({"input": "x"}), "model", "model"),
        (orjson.dumps({"model": 3, "input": "x"}), "model", "model"),
        (orjson.dumps({"model": "embed-01"}), "input", "input"),
        (body(input=""), "input", "empty string"),
        (body(input=[]), "input", "empty array"),
        (body(input=["fine", ""]), "input", "input[1]"),
        (body(input=["x"] * (MAX_INPUTS + 1)), "input", "at most 2048"),
        (body(input=["fine", {"text": "x"}]), "input", "input[1]"),
        (body(input={"text": "x"}), "input", "string or an array"),
        (body(encoding_format="int8"), "encoding_format", "'float' and 'base64'"),
        (body(dimensions=0), "dimensions", "positive integer"),
        (body(dimensions="8"), "dimensions", "positive integer"),
        (body(dimensions=True), "dimensions", "positive integer"),
        (body(user=5), "user", "string"),
    ],
)
def test_bad_bodies_get_a_400_naming_the_parameter(
    raw: bytes, param: str | None, words: str
) -> None:
    error = refusal(raw)
    assert error.param == param
    assert words in error.message
    assert set(error.body()["error"]) == {"message", "type", "param", "code"}
    assert error.body()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("token_ids", [[1, 2, 3], [[1, 2], [3]]])
def test_token_ids_are_refused_with_the_langchain_fix(token_ids: object) -> None:
    error = refusal(body(input=token_ids))
    assert error.code == "token_ids_unsupported"
    assert "check_embedding_ctx_length=False" in error.message


def test_base64_is_little_endian_float32_of_the_same_vector() -> None:
    vectors = np.array([[0.0, 0.5, -0.25], [1.0, 0.5, -0.25]], dtype=np.float32)
    result = EmbeddingResult(vectors=vectors, prompt_tokens=7, hits=0, misses=2)
    encoded = orjson.loads(encode_response(result, "embed-01", "base64"))
    decoded = [
        np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in encoded["data"]
    ]
    assert np.array_equal(np.stack(decoded), vectors)
    plain = orjson.loads(encode_response(result, "embed-01", "float"))
    assert plain["data"][1]["embedding"] == [1.0, 0.5, -0.25]
    for document in (encoded, plain):
        assert document["object"] == "list"
        assert document["model"] == "embed-01"
        assert [item["index"] for item in document["data"]] == [0, 1]
        assert {item["object"] for item in document["data"]} == {"embedding"}
        assert document["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
