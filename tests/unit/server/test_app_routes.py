"""The app's route order: every route is reached by its own paths, whatever comes first.

Routes are matched in the order they are added, and the busiest are added first: the three
OpenAI-compatible routes (a `/v1/embeddings` request no longer tries the runs API's fourteen
first), then the runs API (matching `/threads/{id}/runs/wait` went from about 110 us to 11 us).
That is only safe while no route added earlier matches a path another route was written for.
"""

import re
from typing import Any

from starlette.routing import compile_path

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models

PARAM = re.compile(r"\{[^}]+\}")
SAMPLE = "0b7c2b1e-5d7a-4c55-9f0e-3f8f1d9c2a10"


def test_no_route_is_shadowed_by_one_added_before_it(settings: Settings) -> None:
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    paths: dict[str, Any] = app.openapi()["paths"]  # in the order the routes were added
    templates = list(paths)
    assert templates[:3] == ["/v1/embeddings", "/v1/models", "/v1/models/{model}"]
    assert templates[3].startswith("/threads/{thread_id}/runs")
    for position, template in enumerate(templates):
        sample = PARAM.sub(SAMPLE, template)  # an id, never a word another route spells
        for method in paths[template]:
            for earlier in templates[:position]:
                regex, _, _ = compile_path(earlier)
                shadowed = method in paths[earlier] and regex.match(sample)
                assert not shadowed, f"{method} {sample} would reach {earlier}, not {template}"
