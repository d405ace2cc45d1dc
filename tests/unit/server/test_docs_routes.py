from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "var")
    async with serving(create_app(settings, models=fake_models(), embedder=fake_embedder())) as c:
        yield c


async def test_the_docs_pages_name_only_assets_this_app_serves(client: httpx.AsyncClient) -> None:
    for page, assets in {
        "/docs": ["swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"],
        "/redoc": ["redoc.standalone.js", "favicon.png"],
    }.items():
        response = await client.get(page)
        html = response.text
        assert "https://" not in html, page  # no CDN, no Google Fonts
        # ...and the browser may fetch nothing the bundles name from elsewhere.
        assert "img-src 'self' data:" in response.headers["content-security-policy"], page
        for name in assets:
            assert f'"/docs/static/{name}"' in html, (page, name)
            response = await client.get(f"/docs/static/{name}")
            assert response.status_code == 200, name
            assert int(response.headers["content-length"]) > 0
    assert '"validatorUrl": null' in (await client.get("/docs")).text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


async def test_only_the_docs_bundles_are_served_from_the_static_folder(
    client: httpx.AsyncClient,
) -> None:
    for name in ["nope.js", "..%2F__init__.py", "%2E%2E", "__init__.py"]:
        assert (await client.get(f"/docs/static/{name}")).status_code == 404, name


async def test_the_docs_pages_stay_out_of_the_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "Citadel Orca"
    assert not [path for path in document["paths"] if path.startswith(("/docs", "/redoc"))]
