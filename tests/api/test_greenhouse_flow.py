"""The whole Greenhouse flow with real parts: a fake Greenhouse (Litestar under uvicorn) that records the PATCH
and then reads ``test_status``, a real SMTP server (aiosmtpd) that receives the candidate's email, and the
candidate answering in Debian's Chromium (JavaScript off, then on) against the service under uvicorn.

No request may leave the host; axe-core finds no serious or critical violation on any candidate page.
Screenshots: ``tests/artifacts/candidate-page.png``, ``candidate-done.png``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import httpx
from api_support import add_key
from browser_support import ARTIFACTS, free_port, open_browser, serious_axe_violations, serve
from conftest import make_settings
from greenhouse_support import (
    ANSWERS,
    SHORT_RUBRIC,
    FakeGreenhouse,
    basic,
    link_in,
    mailbox,
    send_test_body,
    short_rubric_toml,
)
from sqlalchemy import select

from api.app import create_app
from api.db.engine import create_engine, session_factory
from api.db.models import Invitation, utcnow

UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.outerHTML)"""
TEST_ID = 12345


def _check(page, axe: bool = True) -> None:
    """Labels on every control; axe-core (it needs the page's timers, so only where JavaScript is on)."""
    assert page.evaluate(UNLABELLED_JS) == [], "every answer box has a label"
    if axe:
        assert serious_axe_violations(page) == []


async def _invitation(url: str, interview: str) -> Invitation:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return (await session.execute(select(Invitation).where(Invitation.id == interview))).scalar_one()
    finally:
        await engine.dispose()


def _answer_in_browser(browser, link: str) -> None:
    """Save a draft with JavaScript off, come back with it on, submit with a gap, then complete."""
    page = browser.new_page(javascript=False)
    page.goto(link)
    assert "Hello Ada" in page.content() and "EU AI Act" in page.content()
    _check(page, axe=False)
    page.screenshot(path=str(ARTIFACTS / "candidate-page.png"), full_page=True)
    page.fill("#answer-broken-gift", ANSWERS["broken-gift"])
    page.click("button[value=save]")
    assert page.locator(".saved").is_visible(), "saving says so"
    page.context.close()

    page = browser.new_page()
    page.goto(link)
    assert page.input_value("#answer-broken-gift") == ANSWERS["broken-gift"], "the draft came back"
    _check(page)
    page.click("button[value=submit]")
    assert page.locator("#errors").is_visible() and page.get_attribute("#answer-sales-needs-figures", "aria-invalid")
    _check(page)
    page.fill("#answer-sales-needs-figures", ANSWERS["sales-needs-figures"])
    page.set_default_timeout(180_000)  # submitting scores the answers with the real model
    page.click("button[value=submit]")
    page.wait_for_url("**/done")
    assert "Thank you" in page.content()
    _check(page)
    page.screenshot(path=str(ARTIFACTS / "candidate-done.png"), full_page=True)
    response = page.goto(link)
    assert response.status == 409 and "Already submitted" in page.content(), "the link is closed after submitting"
    _check(page)
    page.context.close()


def test_the_greenhouse_flow(tmp_path: Path, scorer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    greenhouse = FakeGreenhouse(fail_first=1)
    greenhouse.screening_base = base
    with mailbox() as box, serve(greenhouse.app) as greenhouse_base:
        settings = make_settings(
            "embedded",
            tmp_path,
            public_url=base,
            smtp_url=f"smtp://127.0.0.1:{box.port}",
            mail_from="screening@acme.example",
            allow_private_callbacks=True,  # the fake Greenhouse listens on loopback
            greenhouse_poll_seconds=0.2,
        )
        app = create_app(settings, scorer=scorer)
        admin = asyncio.run(add_key(settings, "acme", "hr_admin"))[1]
        gh = basic(asyncio.run(add_key(settings, "acme", "integration"))[1])
        with serve(app, port), open_browser() as browser:
            assert (
                httpx.post(f"{base}/v1/rubrics", json={"toml": short_rubric_toml()}, headers=admin).status_code == 201
            )
            tests = httpx.get(f"{base}/partners/greenhouse/list_tests", headers=gh).json()
            assert SHORT_RUBRIC in {t["partner_test_id"] for t in tests}

            callback = f"{greenhouse_base}/integrations/testing_partners/take_home_tests/{TEST_ID}"
            body = send_test_body(callback=callback)
            sent = httpx.post(f"{base}/partners/greenhouse/send_test", json=body, headers=gh)
            assert sent.status_code == 200, sent.text
            interview = sent.json()["partner_interview_id"]
            greenhouse.interview_ids[TEST_ID] = interview
            retried = httpx.post(f"{base}/partners/greenhouse/send_test", json=body, headers=gh)
            assert retried.json()["partner_interview_id"] == interview

            message = box.wait(1)[0]
            assert message["To"] == "ada@example.com" and message["From"] == "screening@acme.example"
            link = link_in(message)
            assert link.startswith(f"{base}/candidate/")
            time.sleep(1)
            assert len(box.messages) == 1, "a retried send_test sends no second email"

            _answer_in_browser(browser, link)

            deadline = time.monotonic() + 60
            while not greenhouse.patches:
                assert time.monotonic() < deadline, "no PATCH arrived"
                time.sleep(0.1)
            first = greenhouse.patches[0]
            assert first["auth"] == gh["Authorization"] and first["body"] == b"", "Basic with the key, no body"
            time.sleep(1)
            assert len(greenhouse.patches) == 1 and not greenhouse.statuses, "the retry waits for its backoff"
            app.state.greenhouse_work.clock = lambda: utcnow() + timedelta(minutes=2)  # past the 1-minute backoff

            status = greenhouse.wait_for_status()
            assert browser.outside_requests == []

    _check_result(status, asyncio.run(_invitation(settings.database_url, interview)), base)


def _check_result(status: dict, row: Invitation, base: str) -> None:
    """What Greenhouse read after the PATCH, and the invitation's outboxes: all done, the key dropped."""
    assert status["status"] == 200, status
    result = status["json"]
    assert result["partner_status"] == "complete"
    assert result["partner_profile_url"].startswith(f"{base}/ui/screenings/")
    assert 0 <= result["partner_score"] <= 100
    assert result["metadata"]["rubric"].startswith(f"{SHORT_RUBRIC}@")
    assert all(isinstance(v, str | int | float | bool) for v in result["metadata"].values())
    assert ANSWERS["broken-gift"][:30] not in status["text"]
    assert row.callback_done_at is not None and row.callback_attempts == 2 and row.callback_credential is None
    assert row.mail_sent_at is not None and row.mail_attempts == 1 and row.state == "scored"
