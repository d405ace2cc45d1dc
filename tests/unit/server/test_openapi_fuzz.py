"""Schemathesis against the app's OpenAPI schema, in-process: no input may cause a 5xx.

Every operation in `/openapi.json` gets positive cases (valid by the schema) and negative
ones (invalid on purpose; operations with nothing to make invalid get none), derandomized
and few per operation, so the run is the same every time and stays under a minute.
`POST /agui/{workflow}` also gets cases for each chat workflow by name: its path parameter
is any string, so generated names alone only ever reach the 404.

Nothing is excluded. LangServe's streaming operations are read like the others
(Schemathesis' ASGI client reads event streams); its playground is not in the schema.
Rate limits are off here: hundreds of requests from one client would otherwise be 429s.

Schemathesis' pytest plugin is not used: its fixture loader reads `Node._nodeid`, gone in
pytest 9, and its eager loader would build the app at import. The operations are driven
through `APIOperation.as_strategy` with Hypothesis instead, and an app exception escaping
through ASGI (a 500 under a server) counts as a failure too.
"""

from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans

from graphs import REGISTRY
from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models

EXAMPLES_PER_OPERATION = 3
"""Per operation and mode; a few hundred cases in all (counted in the test)."""
AGUI_EXAMPLES = 5
"""Per chat workflow and mode, on top."""
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    run: Any,
    **fixed: Any,
) -> None:
    """Run `run(case)` on `examples` derandomized cases of `operation` in `mode`."""

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the budget stays fixed
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def each(case: Any) -> None:
        run(case)

    try:
        each()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to make invalid (no parameters, no body): no negative cases


# The app's own use of `random` (retry jitter, ids) while it answers a case, between two
# draws of Schemathesis' strategies, looks to Hypothesis like a strategy using `random`.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", rate_limit="", rate_limit_runs="")
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    cases: Counter[str] = Counter()
    failures: list[str] = []

    def call(label: str) -> Any:
        def run(case: Any) -> None:
            cases[label] += 1
            try:
                response = case.call()
            except Exception as exc:  # noqa: BLE001 - an app exception is a 500 under a server
                failures.append(f"{label}: {type(exc).__name__}: {exc}\n{case.as_curl_command()}")
                return
            if response.status_code >= 500:
                failures.append(
                    f"{label}: {response.status_code} {response.text[:300]}\n"
                    f"{case.as_curl_command()}"
                )

        return run

    try:
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            for mode in MODES:
                fuzz(operation, mode, EXAMPLES_PER_OPERATION, call(operation.label))
        agui = schema["/agui/{workflow}"]["POST"]
        for name in (name for name, spec in REGISTRY.items() if spec.chat):
            for mode in MODES:
                fixed = {"path_parameters": {"workflow": name}}
                fuzz(agui, mode, AGUI_EXAMPLES, call(f"POST /agui/{name}"), **fixed)
    finally:
        shutdown_lifespans()

    print(
        f"\nSchemathesis: {sum(cases.values())} cases, {len(operations)} operations "
        f"(+ POST /agui/{{workflow}} per chat workflow), {len(failures)} failures"
    )
    assert not failures, "\n\n".join(failures[:10])
    assert {operation.label for operation in operations} <= set(cases)  # every one was called
    assert sum(cases.values()) >= 200
