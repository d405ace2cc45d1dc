"""Schemathesis over real HTTP against a PostgreSQL-backed server, rate limits lifted.

Two passes over every operation of `/openapi.json`:

- generated cases (positive and negative, derandomized; Schemathesis' strings include
  U+0000), as the in-process fuzz test does, but through uvicorn, so a stream that
  declares a chunked body and then breaks shows up as an exception here;
- each operation's first positive case again with U+0000 put into every string it sends
  (path, query and body): PostgreSQL cannot store it, so each must be a 4xx, never a 5xx.

A limited run would leave most operations untested: 111 of 113 mostly answered 429.
"""

from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase

from graphs import REGISTRY
from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, live_server
from tests.unit.server.test_openapi_fuzz import MODES, fuzz

pytestmark = [
    pytest.mark.integration,
    # The server runs in a thread of this process, and its own use of `random` (retry
    # jitter, ids) between a strategy's draws looks to Hypothesis like a strategy using it.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

EXAMPLES = 3


def with_nul(value: Any) -> Any:
    """Return `value` with U+0000 inserted into every string in it (keys kept)."""
    if isinstance(value, str):
        return value[:1] + "\x00" + value[1:]
    if isinstance(value, dict):
        return {key: with_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_nul(item) for item in value]
    return value


def first_positive_case(operation: Any) -> Any:
    found: list[Any] = []

    @hypothesis.settings(
        max_examples=1,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=MODES[0]))
    def take(case: Any) -> None:
        found.append(case)

    take()
    return found[0]


def json_rpc_error(response: Any) -> bool:
    """Whether the answer is a JSON-RPC error (the A2A and MCP doors' refusals)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0" and "error" in body


def test_no_request_breaks_a_stream_or_gets_a_server_error(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", postgres_url=postgres_url, rate_limit="", rate_limit_runs=""
    )
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    cases: Counter[str] = Counter()
    failures: list[str] = []
    nul_answers: Counter[int] = Counter()
    nul_accepted: list[str] = []

    def check(label: str, case: Any) -> int | None:
        cases[label] += 1
        try:
            response = case.call(timeout=60)
            response.content  # read to the end: a broken chunked body raises here  # noqa: B018
        except Exception as exc:  # noqa: BLE001 - a broken stream or connection is the failure
            failures.append(f"{label}: {type(exc).__name__}: {exc}\n{case.as_curl_command()}")
            return None
        if response.status_code >= 500:
            failures.append(
                f"{label}: {response.status_code} {response.text[:300]}\n{case.as_curl_command()}"
            )
        if response.status_code < 400 and json_rpc_error(response):
            return 400  # a JSON-RPC door refuses with 200 and an `error` member: a refusal
        return int(response.status_code)

    with live_server(app) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            for mode in MODES:
                fuzz(operation, mode, EXAMPLES, lambda case, op=operation: check(op.label, case))
        agui = schema["/agui/{workflow}"]["POST"]
        for name in (name for name, spec in REGISTRY.items() if spec.chat):
            for mode in MODES:
                fixed = {"path_parameters": {"workflow": name}}
                fuzz(agui, mode, EXAMPLES, lambda case: check("POST /agui", case), **fixed)
        for operation in operations:
            case = first_positive_case(operation)
            nul_strings = False
            for part in ("path_parameters", "query", "body"):
                original = getattr(case, part, None)
                if original and with_nul(original) != original:
                    setattr(case, part, with_nul(original))
                    nul_strings = True
            if nul_strings:
                status = check(f"{operation.label} with U+0000", case)
                if status is not None:
                    nul_answers[status] += 1
                    if status < 400:
                        nul_accepted.append(operation.label)

    print(f"\n{sum(cases.values())} cases over {len(operations)} operations; U+0000: {nul_answers}")
    assert not failures, "\n\n".join(failures[:10])
    assert sum(cases.values()) >= 300
    assert sum(nul_answers.values()) >= 40
    # Embedding texts are hashed, never stored: the only place U+0000 is accepted, as OpenAI does.
    assert set(nul_accepted) <= {"POST /v1/embeddings"}, nul_accepted
