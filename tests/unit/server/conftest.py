"""The app over fake models, for the tests of a route's answers."""

from collections.abc import AsyncIterator

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Serve the app on the embedded defaults, fake chat and embedding models, in-process."""
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client
