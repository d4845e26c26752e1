"""The front door and the API reference in a real browser, on a machine cut off from the internet.

Debian's Chromium (Playwright) against a real uvicorn server; every non-loopback request is blocked and
recorded, and none may be tried. axe-core finds no serious or critical violation. The front door is plain
HTML, so it must also work with JavaScript off; the reference needs JavaScript and says so without it.
Screenshots go to ``tests/artifacts/``: ``reference.png``, ``front-door.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import ARTIFACTS, open_browser, serious_axe_violations, serve
from conftest import make_settings

from api.app import create_app
from api.ui.front_door import LINKS


@pytest.fixture
def served(tmp_path: Path, scorer) -> Iterator[str]:
    """The app (session scorer, SQLite) in a real uvicorn server on a free loopback port: its base URL."""
    with serve(create_app(make_settings("embedded", tmp_path), scorer=scorer)) as base:
        yield base


def _watch(page: Any) -> list[str]:
    """Collect the page's script errors and console errors (a CSP refusal is one)."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    return problems


def _operations(base: str) -> list[tuple[str, str]]:
    document = httpx.get(f"{base}/schema/openapi.json").json()
    return [
        (re.sub(r"\s", "_", operation["tags"][0]), operation["operationId"])  # Swagger UI's id: spaces as _
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]


def test_the_api_reference_renders_every_operation_offline(served: str) -> None:
    operations = _operations(served)
    assert len(operations) >= 25
    with open_browser() as browser:
        page = browser.new_page()
        problems = _watch(page)
        page.goto(f"{served}/schema")
        page.wait_for_selector(".opblock", timeout=60_000)
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.title() == "API reference · Attitude screening API"
        assert page.locator(".opblock").count() == len(operations)
        for tag, operation_id in operations:
            assert page.locator(f"#operations-{tag}-{operation_id}").count() == 1, operation_id
        assert page.get_by_role("link", name="Attitude screening").get_attribute("href") == "/"
        assert serious_axe_violations(page) == []

        for operation in ("screenings-createScreening", "keys-createKey", "system-readyz"):  # opened: their details
            page.click(f"#operations-{operation} .opblock-summary-control")
            page.wait_for_selector(f"#operations-{operation} .responses-table", timeout=10_000)
        page.click("#operations-system-readyz .try-out__btn")  # a call from the page goes to this host
        page.click("#operations-system-readyz .execute")
        live = page.wait_for_selector("#operations-system-readyz .live-responses-table", timeout=10_000)
        assert '"status": "' in live.inner_text()
        assert serious_axe_violations(page) == []
        page.click(".btn.authorize")  # the dialog where a key is entered
        page.wait_for_selector(".modal-ux", timeout=10_000)
        assert serious_axe_violations(page) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "reference.png"))
        assert problems == [], "no script error and no resource refused by the Content-Security-Policy"
    assert browser.outside_requests == [], "nothing left the host"


def test_the_api_reference_without_javascript_points_to_the_document(served: str) -> None:
    with open_browser() as browser:
        page = browser.new_page(javascript=False)
        page.goto(f"{served}/schema")
        notice = page.locator("noscript")
        assert "needs JavaScript" in page.content()
        assert notice.count() == 1
        assert page.get_by_role("link", name="OpenAPI document (JSON)").first.get_attribute("href") == (
            "/schema/openapi.json"
        )
    assert browser.outside_requests == []


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_the_front_door_leads_everywhere(served: str, javascript: bool) -> None:
    with open_browser() as browser:
        page = browser.new_page(javascript=javascript)
        response = page.goto(f"{served}/")
        assert response.status == 200
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.title() == "Welcome · Attitude screening"
        assert page.get_by_role("heading", level=1).inner_text() == "Attitude screening"
        assert "Version 0.1.0" in page.locator(".meta").inner_text()
        for link in LINKS:
            assert page.get_by_role("link", name=link.title).get_attribute("href") == link.href, link.rel
        page.get_by_role("link", name="Sign in to the review pages").click()
        assert page.url == f"{served}/ui/sign-in"
        page.goto(f"{served}/")
        page.get_by_role("link", name="Readiness").click()
        assert '"status":"ready"' in page.content().replace(" ", "")
        page.goto(f"{served}/")
        if javascript:
            assert serious_axe_violations(page) == []
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "front-door.png"))
    assert browser.outside_requests == []
