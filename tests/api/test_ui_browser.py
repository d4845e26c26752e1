"""The review pages in a real browser: Debian's Chromium driven by Playwright against a real uvicorn server.

No request may leave the host, and axe-core finds no serious or critical violation on any page.
Screenshots go to ``tests/artifacts/`` (ignored by git): ``ui-screenings.png``, ``ui-screening.png``,
``ui-screenings-phone.png``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import add_key
from browser_support import ARTIFACTS, assert_accessible, assert_fits_a_phone, open_browser, serve
from conftest import make_settings
from ui_support import NEEDS_REVIEW_BODY, token_of

from api.app import create_app


@pytest.fixture
def served(tmp_path: Path, scorer) -> Iterator[tuple[str, Any]]:
    """The app (session scorer, SQLite) in a real uvicorn server on a free port: ``(base URL, settings)``."""
    settings = make_settings("embedded", tmp_path)
    with serve(create_app(settings, scorer=scorer)) as base:
        yield base, settings


def _create(base: str, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = httpx.post(f"{base}/v1/screenings", json={**NEEDS_REVIEW_BODY, **changes}, headers=headers, timeout=120)
    assert response.status_code == 201, response.text
    return response.json()


def _sign_in(page: Any, base: str, path: str, token: str, lands: str) -> None:
    page.goto(f"{base}{path}")
    assert "/ui/sign-in?next=" in page.url, "an unauthenticated page goes to sign-in, remembering where"
    assert_accessible(page)
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{lands}")


def _check_list(page: Any) -> Any:
    """Counts, needs-review first, labelled filters, visible keyboard focus; the needs-review section."""
    assert "1 needs review" in page.locator("#counts").inner_text()
    needing = page.locator("section", has=page.get_by_role("heading", name=re.compile("Needs review first")))
    assert needing.get_by_role("link", name="cand-ui-1").count() == 1
    assert_accessible(page)
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused[0] == "Skip to content" and focused[1] != "none", "focus is visible"
    page.screenshot(path=str(ARTIFACTS / "ui-screenings.png"), full_page=True)
    return needing


def _check_evidence(page: Any) -> None:
    """Reasons first, evidence marked in the answers in words, matched references in <details>."""
    assert "near-copy of one of the rubric" in page.locator(".reasons").inner_text()
    assert page.locator("mark.seg").count() >= 3
    assert page.locator("mark.seg .tag-evidence").first.inner_text().strip()
    assert page.locator("mark.seg .tag-red_flag").count() >= 1, "the red flag is marked in place, in words"
    details = page.locator("details").first
    details.locator("summary").click()
    assert "reference" in details.inner_text()
    assert_accessible(page)
    assert "Model" in page.locator('tr[data-target="ownership"] .stands').inner_text()


def _override(page: Any, screening_id: str) -> None:
    """Override one dimension with a reason: the decision changes and the audit trail says so."""
    page.get_by_label("Level to review").select_option("ownership")
    page.get_by_label("Override with my level").check()
    page.get_by_label(re.compile("^Level \\(")).fill("2")
    page.get_by_label(re.compile("^Reason")).fill("Copied the model answer; asked about it in the interview.")
    page.get_by_role("button", name="Record review").click()
    page.wait_for_url(re.compile(f"/ui/screenings/{screening_id}#decision$"))
    row = page.locator('tr[data-target="ownership"]')
    assert "Human review" in row.locator(".stands").inner_text()
    assert "2.0 of 5" in row.inner_text()
    audit = page.locator("table.audit").inner_text()
    assert "reviewed" in audit and "override" in audit
    page.screenshot(path=str(ARTIFACTS / "ui-screening.png"), full_page=True)


def _check_phone_width(page: Any, base: str) -> None:
    page.goto(f"{base}/ui/screenings")
    assert_fits_a_phone(page)
    page.screenshot(path=str(ARTIFACTS / "ui-screenings-phone.png"), full_page=True)


def test_recruiter_reviews_a_screening_in_the_browser(served: tuple[str, Any]) -> None:
    base, settings = served
    keys = {
        name: asyncio.run(add_key(settings, org, role))[1]
        for name, org, role in [
            ("ats", "acme", "integration"),
            ("recruiter", "acme", "recruiter"),
            ("other_ats", "globex", "integration"),
        ]
    }
    record = _create(base, keys["ats"])
    assert record["status"] == "needs_review"
    foreign = _create(base, keys["other_ats"], candidate_id="cand-globex")
    recruiter = token_of(keys["recruiter"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _sign_in(page, base, "/ui/screenings", recruiter, "/ui/screenings")
        _check_list(page).get_by_role("link", name="cand-ui-1").click()
        page.wait_for_url(f"{base}/ui/screenings/{record['id']}")
        _check_evidence(page)
        _override(page, record["id"])

        # refusals: another organisation's deep link is 404; a form without its CSRF token is 403
        assert page.goto(f"{base}/ui/screenings/{foreign['id']}").status == 404
        forged = page.request.post(
            f"{base}/ui/screenings/{record['id']}/reviews",
            form={"target": "overall", "action": "override", "level": "1", "reason": "No token here"},
            max_redirects=0,
        )
        assert forged.status == 403
        _check_phone_width(page, base)

        # a deep link (an ATS's partner_profile_url) signs in and lands on the page
        deep = f"/ui/screenings/{record['id']}"
        _sign_in(browser.new_page(), base, deep, recruiter, deep)
        assert browser.outside_requests == [], "no request leaves the host"
