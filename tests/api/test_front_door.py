"""The front door's JSON, and the API reference's one viewer: its assets, its headers, the others gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import make_settings
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.reference import ASSETS
from api.ui.front_door import LINKS

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(tmp_path: Path, scorer) -> AsyncIterator[AsyncTestClient]:
    """The app on the embedded backend (these routes do not touch storage beyond readiness)."""
    async with AsyncTestClient(app=create_app(make_settings("embedded", tmp_path), scorer=scorer)) as test_client:
        yield test_client


async def test_the_front_door_answers_json_with_the_same_links(client) -> None:
    response = await client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.headers["vary"] == "Accept"
    body = response.json()
    assert body["service"] == "Attitude screening" and body["version"] == "0.1.0" and body["api_version"] == "1.0.0"
    assert body["links"] == {link.rel: link.href for link in LINKS}
    for href in body["links"].values():  # every link works without a key
        assert (await client.get(href, follow_redirects=False)).status_code == 200, href
    html = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert html.headers["content-type"].startswith("text/html")
    assert all(f'href="{link.href}"' in html.text for link in LINKS)
    assert "script" not in html.text
    assert "default-src 'none'" in html.headers["content-security-policy"]
    assert (await client.get("/")).headers["content-type"].startswith("text/html"), "no Accept: the page"


async def test_one_reference_viewer_served_from_this_host(client) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe" not in policy
    assert "http://" not in page.text and "https://" not in page.text, "no asset from another origin"
    for name, (path, media_type) in ASSETS.items():
        asset = await client.get(f"/schema/assets/{name}")
        assert asset.status_code == 200 and asset.content == path.read_bytes(), name
        assert asset.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert f"/schema/assets/{name}" in page.text
    for missing in ("swagger-editor-bundle.js", "..%2F..%2Fsettings.py", "index.html"):
        assert (await client.get(f"/schema/assets/{missing}")).status_code == 404, missing
    for viewer in ("redoc", "swagger", "elements", "rapidoc", "scalar"):
        assert (await client.get(f"/schema/{viewer}")).status_code == 404, viewer
    assert (await client.get("/schema/openapi.json")).status_code == 200
