"""HR's pages and the one-time link in a real browser: Debian's Chromium, a real uvicorn server, a real
calibration by the real model. No request may leave the host; axe-core finds no serious or critical
violation. Screenshots in ``tests/artifacts/`` (ignored by git): ``ui-rubric.png``, ``ui-calibration.png``,
``ui-adverse-impact.png``, ``ui-link.png``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from api_support import EXAMPLES, add_key, screening_body
from browser_support import ARTIFACTS, assert_accessible, assert_fits_a_phone, open_browser, serve
from conftest import make_settings
from synthetic_policy import jsonl, policy_gold_lines, policy_rubric_dict
from ui_support import NEEDS_REVIEW_BODY, token_of

from api.app import create_app

POLICY = "parcel-policy"
SELF_ID = [
    {"sex": "female", "race_ethnicity": "asian"},
    {"sex": "male", "race_ethnicity": "white"},
    {"sex": "female", "race_ethnicity": "white"},
    {"sex": "male", "race_ethnicity": "black_or_african_american"},
]


@pytest.fixture
def served(tmp_path: Path, scorer) -> Iterator[tuple[str, Any]]:
    """The app in a real uvicorn server, with few bootstrap resamples (the intervals are not under test)."""
    settings = make_settings("embedded", tmp_path, calibration_resamples=50)
    with serve(create_app(settings, scorer=scorer)) as base:
        yield base, settings


def _call(method: str, url: str, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    response = httpx.request(method, url, headers=headers, timeout=300, **kwargs)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


def _calibrate(base: str, admin: dict[str, str]) -> str:
    """Upload the parcel-policy rubric and calibrate it with a small gold set; the finished calibration's id."""
    _call("POST", f"{base}/v1/rubrics", admin, json={"toml": tomli_w.dumps(policy_rubric_dict())})
    gold = jsonl(policy_gold_lines(per_level=4)).decode("utf-8")
    created = _call("POST", f"{base}/v1/rubrics/{POLICY}/calibrations", admin, json={"gold": gold, "folds": 3})
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        shown = _call("GET", f"{base}/v1/rubrics/{POLICY}/calibrations/{created['id']}", admin)
        if shown["status"] in ("done", "failed"):
            assert shown["status"] == "done", shown["error"]
            return created["id"]
        time.sleep(1)
    raise AssertionError("the calibration did not finish in 10 minutes")


def _self_identified_screenings(base: str, ats: dict[str, str], admin: dict[str, str]) -> None:
    for index, self_id in enumerate(SELF_ID):
        candidate = f"hr-{index}"
        body = screening_body(index % len(EXAMPLES), answers=1, candidate_id=candidate)
        _call("POST", f"{base}/v1/screenings", ats, json=body)
        _call("PUT", f"{base}/v1/candidates/{candidate}/demographics", admin, json=self_id)


def _hr_pages(page: Any, base: str, admin_token: str, calibration_id: str) -> None:
    page.goto(f"{base}/ui/rubrics")
    page.get_by_label("API key").fill(admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/ui/rubrics")
    assert_accessible(page)
    page.get_by_role("link", name="Parcel", exact=False).first.click()
    page.wait_for_url(f"{base}/ui/rubrics/{POLICY}")
    assert page.get_by_role("heading", name="Questions and reference responses").count() == 1
    page.locator("details summary").first.click()  # the anchors per level open by keyboard or pointer
    assert "Level 5" in page.locator("details").first.inner_text()
    assert_accessible(page)
    page.screenshot(path=str(ARTIFACTS / "ui-rubric.png"), full_page=True)

    page.locator(f'a[href="/ui/rubrics/{POLICY}/calibrations/{calibration_id}"]').click()
    page.wait_for_url(f"{base}/ui/rubrics/{POLICY}/calibrations/{calibration_id}")
    plots = page.locator("figure svg[role=img]")
    assert plots.count() == 2, "the agreement scatter and the spread per human level"
    assert "rated answers" in plots.first.get_attribute("aria-label")
    assert page.locator("#spread-table tbody tr").count() >= 3, "the numbers beside the box plot"
    assert_accessible(page)
    page.screenshot(path=str(ARTIFACTS / "ui-calibration.png"), full_page=True)

    page.get_by_role("link", name="Adverse impact").first.click()
    page.wait_for_url(f"{base}/ui/reports/adverse-impact")
    page.get_by_label("Rubric").select_option("customer-service-attitude")
    page.get_by_label(re.compile("^Cut")).fill("3")
    page.get_by_role("button", name="Show the report").click()
    page.wait_for_url(re.compile(r"/ui/reports/adverse-impact\?rubric_id=customer-service-attitude"))
    charts = page.locator("figure svg[role=img]")
    assert charts.count() >= 2 and "four-fifths line" in charts.first.get_attribute("aria-label")
    assert page.locator("table.impact").count() == 3, "sex, race/ethnicity and both"
    assert_accessible(page)
    page.screenshot(path=str(ARTIFACTS / "ui-adverse-impact.png"), full_page=True)
    assert_fits_a_phone(page)
    page.screenshot(path=str(ARTIFACTS / "ui-adverse-impact-phone.png"), full_page=True)


def _link_flow(browser: Any, base: str, ats: dict[str, str]) -> None:
    """An ATS's deep link: one click past the landing page, on the screening, in the ATS key's name; once."""
    screening = _call("POST", f"{base}/v1/screenings", ats, json=NEEDS_REVIEW_BODY)
    link = _call("POST", f"{base}/v1/screenings/{screening['id']}/review-links", ats)
    page = browser.new_page()
    page.goto(link["url"])
    assert_accessible(page)
    page.get_by_role("button", name="Open the screening").click()
    page.wait_for_url(f"{base}/ui/screenings/{screening['id']}")
    assert "one-time link from key" in page.locator(".who").inner_text()
    assert "near-copy of one of the rubric" in page.locator(".reasons").inner_text()
    assert "review_link_used" in page.locator("table.audit").inner_text()
    assert_accessible(page)
    page.screenshot(path=str(ARTIFACTS / "ui-link.png"), full_page=True)
    again = browser.new_page()
    assert again.goto(link["url"]).status == 410
    assert "already used" in again.locator("main").inner_text()
    assert_accessible(again)


def test_hr_pages_and_link_in_the_browser(served: tuple[str, Any]) -> None:
    base, settings = served
    keys = {role: asyncio.run(add_key(settings, "acme", role))[1] for role in ("hr_admin", "integration", "recruiter")}
    calibration_id = _calibrate(base, keys["hr_admin"])
    _self_identified_screenings(base, keys["integration"], keys["hr_admin"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open_browser() as browser:
        _hr_pages(
            browser.new_page(viewport={"width": 1280, "height": 900}), base, token_of(keys["hr_admin"]), calibration_id
        )
        _link_flow(browser, base, keys["integration"])
        assert browser.outside_requests == [], "no request leaves the host"
