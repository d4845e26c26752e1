"""Greenhouse's Assessment Partner routes and the candidate page through the API, on both storage backends.

Real model, real SQLite / PostgreSQL + Redis; the full flow with a browser, mail and the PATCH callback is
in ``test_greenhouse_flow.py``.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import RUBRIC, add_key, assert_problem
from browser_support import free_port
from conftest import make_settings
from cryptography.fernet import Fernet
from greenhouse_support import ANSWERS, SHORT_RUBRIC, basic, send_test_body, short_rubric_toml
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from ui_support import csrf_of

from api.app import create_app
from api.db.engine import create_engine, session_factory
from api.db.models import AuditEvent, Invitation, Screening, utcnow
from api.domain import InvalidField
from api.greenhouse_callback import check_callback_url, next_attempt_at
from api.partner_secret import PartnerSecret
from api.settings import Settings

pytestmark = pytest.mark.asyncio
PUBLIC = "https://screening.example"
SECRET = Fernet.generate_key().decode()
GH = "/partners/greenhouse"


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Settings:
    """Settings of the integration: public URL and secret; no SMTP (nothing is mailed); public callbacks only."""
    return make_settings(backend, tmp_path, public_url=PUBLIC, greenhouse_secret=SECRET)


async def _setup(client, key) -> tuple[dict[str, str], dict[str, str]]:
    """An organisation with the short rubric: ``(Greenhouse's Basic headers, hr_admin headers)``."""
    admin = await key("hr_admin")
    uploaded = await client.post("/v1/rubrics", json={"toml": short_rubric_toml()}, headers=admin)
    assert uploaded.status_code == 201, uploaded.text
    return basic(await key("integration")), admin


def _link(interview_id: str) -> str:
    return f"/candidate/{PartnerSecret(SECRET.encode()).candidate_token(interview_id)}"


async def test_list_send_and_status(client, key, db) -> None:
    gh, _ = await _setup(client, key)
    listed = await client.get(f"{GH}/list_tests", headers=gh)
    assert listed.status_code == 200, listed.text
    tests = {t["partner_test_id"]: t["partner_test_name"] for t in listed.json()}
    assert tests[SHORT_RUBRIC] == "Short service check" and RUBRIC in tests

    sent = await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)
    assert sent.status_code == 200, sent.text
    interview = sent.json()["partner_interview_id"]
    assert len(interview) >= 32
    again = await client.post(f"{GH}/send_test", json=send_test_body(first_name="Ada L."), headers=gh)
    assert again.json() == {"partner_interview_id": interview}, "a retried send_test returns the same id"
    other_app = send_test_body(greenhouse_profile_url="https://app.greenhouse.io/people/17681532?application_id=9")
    assert (await client.post(f"{GH}/send_test", json=other_app, headers=gh)).json()[
        "partner_interview_id"
    ] != interview

    status = await client.get(f"{GH}/test_status", params={"partner_interview_id": interview}, headers=gh)
    assert status.json() == {"partner_status": "sent"}
    async with db() as session:
        row = (await session.execute(select(Invitation).where(Invitation.id == interview))).scalar_one()
    assert (row.candidate_id, row.application_id, row.email) == ("17681532", "26234709", "ada@example.com")
    assert row.mail_next_at is None, "no SMTP configured: nothing queued"
    token = PartnerSecret(SECRET.encode()).candidate_token(interview)
    assert token not in repr(row.__dict__), "the link's token is never stored"
    assert row.callback_credential and gh["Authorization"] not in repr(row.__dict__)


async def test_concurrent_identical_sends_make_one_invitation(loop_client, key, db) -> None:
    gh, _ = await _setup(loop_client, key)
    body = send_test_body(email="grace@example.com")
    answers = await asyncio.gather(*(loop_client.post(f"{GH}/send_test", json=body, headers=gh) for _ in range(5)))
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
    assert len({r.json()["partner_interview_id"] for r in answers}) == 1
    async with db() as session:
        rows = (await session.execute(select(Invitation).where(Invitation.email == "grace@example.com"))).all()
    assert len(rows) == 1


async def test_bad_basic_auth_is_401(client, key) -> None:
    gh, _ = await _setup(client, key)
    for headers in (
        {},
        {"Authorization": "Basic " + base64.b64encode(b"scr_nope_nope:").decode()},
        {"Authorization": "Basic %%%not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"x" * 900 + b":").decode()},
    ):
        response = await client.get(f"{GH}/list_tests", headers=headers)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Basic")
    recruiter = basic(await key("recruiter"))
    assert_problem(await client.get(f"{GH}/list_tests", headers=recruiter), 403, "forbidden")
    assert (await client.get(f"{GH}/list_tests", headers=gh)).status_code == 200


async def test_another_organisations_interview_is_404(client, key) -> None:
    gh, _ = await _setup(client, key)
    interview = (await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)).json()["partner_interview_id"]
    other = basic(await key("integration", org="globex"))
    for headers in (other,):
        response = await client.get(f"{GH}/test_status", params={"partner_interview_id": interview}, headers=headers)
        assert_problem(response, 404, "not-found")
    unknown = await client.get(f"{GH}/test_status", params={"partner_interview_id": "nope"}, headers=gh)
    assert_problem(unknown, 404, "not-found")
    assert_problem(await client.get(f"{GH}/test_status", headers=gh), 400, "malformed-request")
    long_id = await client.get(f"{GH}/test_status", params={"partner_interview_id": "x" * 41}, headers=gh)
    assert long_id.status_code in (400, 422)
    links_off = await client.get(f"{GH}/candidate_link", params={"partner_interview_id": interview}, headers=gh)
    assert_problem(links_off, 404, "not-found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"candidate": {"first_name": "Ada"}}, "candidate.email"),
        ({"candidate": {**send_test_body()["candidate"], "email": "not-an-email"}}, "candidate.email"),
        ({"candidate": {**send_test_body()["candidate"], "email": "a@b.c" + "x" * 300}}, "candidate.email"),
        ({"candidate": {**send_test_body()["candidate"], "first_name": "A" * 201}}, "candidate.first_name"),
        ({"candidate": {**send_test_body()["candidate"], "first_name": 7}}, "candidate.first_name"),
        ({"candidate": "Ada"}, "candidate"),
        ({"partner_test_id": 5}, "partner_test_id"),
        ({"partner_test_id": "no-such-test"}, "partner_test_id"),
        ({"url": "ftp://app.greenhouse.io/x"}, "url"),
        ({"url": "http://app.greenhouse.io/x"}, "url"),
        ({"url": "https://" + "a" * 2100}, "url"),
        ({"url": None}, "url"),
        (
            {
                "candidate": {
                    **send_test_body()["candidate"],
                    "greenhouse_profile_url": "https://app.greenhouse.io/people/1",
                }
            },
            "candidate.greenhouse_application_id",
        ),
        (
            {"candidate": {**send_test_body()["candidate"], "greenhouse_application_id": "12a"}},
            "candidate.greenhouse_application_id",
        ),
    ],
)
async def test_hostile_send_test_bodies_name_the_field(client, key, change, field) -> None:
    gh, _ = await _setup(client, key)
    body = {**send_test_body(), **change}
    problem = assert_problem(await client.post(f"{GH}/send_test", json=body, headers=gh), 422, "validation-error")
    assert field in {e["path"] for e in problem["errors"]}, problem


async def test_unknown_fields_are_tolerated_and_bodies_checked(client, key) -> None:
    gh, _ = await _setup(client, key)
    body = send_test_body(greenhouse_application_id=26234709, new_greenhouse_field={"nested": [1, 2]})
    body["something_new"] = "Greenhouse may add fields"
    assert (await client.post(f"{GH}/send_test", json=body, headers=gh)).status_code == 200
    not_json = await client.post(f"{GH}/send_test", content=b"{", headers={**gh, "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.headers["content-type"].startswith("application/problem+json")
    form = await client.post(f"{GH}/send_test", data={"partner_test_id": "x"}, headers=gh)
    assert_problem(form, 415, "unsupported-media-type")


async def _opened(client, key) -> tuple[dict[str, str], dict[str, str], str, str, str]:
    """An invitation whose page was opened: ``(gh headers, hr_admin headers, interview id, link, csrf)``."""
    gh, admin = await _setup(client, key)
    interview = (await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)).json()["partner_interview_id"]
    link = _link(interview)
    page = await client.get(link)
    assert page.status_code == 200, page.text
    return gh, admin, interview, link, csrf_of(page.text)


async def _submitted(client, key) -> tuple[dict[str, str], dict[str, str], str, str, str, dict]:
    """As :func:`_opened`, answered and submitted; also the ``test_status`` afterwards."""
    gh, admin, interview, link, csrf = await _opened(client, key)
    full = {"csrf_token": csrf, "action": "submit", **{f"answer-{q}": t for q, t in ANSWERS.items()}}
    done = await client.post(link, data=full, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("/done"), done.text
    status = await client.get(f"{GH}/test_status", params={"partner_interview_id": interview}, headers=gh)
    return gh, admin, interview, link, csrf, status.json()


async def test_candidate_page_keeps_drafts_and_checks_answers(client, key) -> None:
    gh, _, interview, link, csrf = await _opened(client, key)
    page = await client.get(link)
    assert "Hello Ada" in page.text and "EU AI Act" in page.text and "human review" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    status = await client.get(f"{GH}/test_status", params={"partner_interview_id": interview}, headers=gh)
    assert status.json()["partner_status"] == "started"

    no_csrf = await client.post(link, data={"action": "save", "answer-broken-gift": "x"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    other_csrf = {"csrf_token": PartnerSecret(SECRET.encode()).candidate_csrf("another-token"), "action": "save"}
    assert (await client.post(link, data=other_csrf, follow_redirects=False)).status_code == 403
    draft = {"csrf_token": csrf, "action": "save", "answer-broken-gift": ANSWERS["broken-gift"]}
    assert (await client.post(link, data=draft, follow_redirects=False)).status_code == 303
    assert "sort a replacement on a same-day courier" in (await client.get(link)).text, "the draft is kept"

    incomplete = await client.post(link, data={"csrf_token": csrf, "action": "submit", "answer-broken-gift": "ok"})
    assert incomplete.status_code == 422 and "answer this question before submitting" in incomplete.text
    too_long = {"csrf_token": csrf, "action": "submit", **{f"answer-{q}": "y" * 10_001 for q in ANSWERS}}
    assert (await client.post(link, data=too_long)).status_code == 422
    nul = {"csrf_token": csrf, "action": "save", "answer-broken-gift": "a\x00b"}
    assert (await client.post(link, data=nul)).status_code == 400
    assert (await client.get(f"{GH}/test_status", params={"partner_interview_id": interview}, headers=gh)).json()[
        "partner_status"
    ] == "started", "nothing was submitted"


async def test_submit_scores_closes_the_link_and_completes(client, key) -> None:
    _, admin, _, link, csrf, status = await _submitted(client, key)
    thanks = await client.get(f"{link}/done")
    assert thanks.status_code == 200 and "answers are submitted" in thanks.text
    shown = thanks.text + (await client.get(link)).text
    assert f"{status['partner_score']}" not in shown and "score:" not in shown.lower(), "never a score to the candidate"
    again = {"csrf_token": csrf, "action": "submit", **{f"answer-{q}": t for q, t in ANSWERS.items()}}
    reused = await client.post(link, data=again)
    assert reused.status_code == 409 and "already submitted" in reused.text.lower()
    assert (await client.get(link)).status_code == 409

    assert status["partner_status"] == "complete", status
    screening_id = status["partner_profile_url"].rsplit("/", 1)[-1]
    assert status["partner_profile_url"] == f"{PUBLIC}/ui/screenings/{screening_id}"
    metadata = status["metadata"]
    assert all(isinstance(v, str | int | float | bool) for v in metadata.values())
    assert metadata["rubric"].startswith(f"{SHORT_RUBRIC}@") and "level_ownership" in metadata
    assert metadata["human_review_requested"] is False
    assert not any(text[:40] in str(status) for text in ANSWERS.values()), "never answer text"
    record = (await client.get(f"/v1/screenings/{screening_id}", headers=admin)).json()
    assert (record["candidate_id"], record["application_id"]) == ("17681532", "26234709")
    level = record["report"]["overall"]["level"]
    assert status["partner_score"] == pytest.approx(round(100 * (level - 1) / 4, 1), abs=0.11)
    listed = (await client.get("/v1/screenings", params={"candidate_id": "17681532"}, headers=admin)).json()
    assert len(listed["items"]) == 1, "one record per submission"


async def test_human_review_request_and_a_reviewers_override(client, key, db) -> None:
    gh, _, interview, link, csrf, status = await _submitted(client, key)
    screening_id = status["partner_profile_url"].rsplit("/", 1)[-1]
    review = await client.post(f"{link}/human-review", data={"csrf_token": csrf}, follow_redirects=False)
    assert review.status_code == 303
    assert "request for a human review is recorded" in (await client.get(f"{link}/done")).text
    query = {"partner_interview_id": interview}
    metadata = (await client.get(f"{GH}/test_status", params=query, headers=gh)).json()["metadata"]
    assert metadata["human_review_requested"] is True and metadata["needs_review"] is True
    async with db() as session:
        stored = await session.get(Screening, screening_id)
        actions = [e.action for e in (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()]
    assert stored.status == "needs_review"
    assert {"greenhouse-invited", "greenhouse-submitted", "created", "human-review-requested"} <= set(actions)

    override = {"target": "overall", "action": "override", "level": 5, "reason": "Strong answers on re-reading."}
    reviewed = await client.post(
        f"/v1/screenings/{screening_id}/reviews", json=override, headers=await key("recruiter")
    )
    assert reviewed.status_code == 201, reviewed.text
    status = (await client.get(f"{GH}/test_status", params=query, headers=gh)).json()
    assert status["partner_score"] == 100.0 and status["metadata"]["overall_stands"] == "human"


async def test_expired_and_unknown_links(client, key, db) -> None:
    gh, _ = await _setup(client, key)
    interview = (await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)).json()["partner_interview_id"]
    async with db() as session, session.begin():
        await session.execute(
            update(Invitation).where(Invitation.id == interview).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = await client.get(_link(interview))
    assert expired.status_code == 410 and "expired" in expired.text
    # Greenhouse sends the test again: the same interview, its link open for a new period
    again = await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)
    assert again.status_code == 200 and again.json()["partner_interview_id"] == interview
    assert (await client.get(_link(interview))).status_code == 200
    unknown = await client.get("/candidate/not-a-real-token")
    assert unknown.status_code == 404 and "not valid" in unknown.text
    assert (await client.get("/candidate/" + "x" * 101)).status_code in (400, 404, 422)


async def test_erasure_deletes_invitations(client, key, db) -> None:
    gh, admin = await _setup(client, key)
    interview = (await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)).json()["partner_interview_id"]
    erased = await client.delete("/v1/candidates/17681532", headers=admin)
    assert erased.status_code == 200, erased.text
    async with db() as session:
        assert await session.get(Invitation, interview) is None
    gone = await client.get(f"{GH}/test_status", params={"partner_interview_id": interview}, headers=gh)
    assert_problem(gone, 404, "not-found")
    assert (await client.get(_link(interview))).status_code == 404


async def test_not_configured_is_503_naming_the_setting(tmp_path, scorer) -> None:
    settings = make_settings("embedded", tmp_path)  # no public URL
    async with AsyncTestClient(create_app(settings, scorer=scorer)) as client:
        gh = basic((await add_key(settings, "acme", "integration"))[1])
        problem = assert_problem(
            await client.post(f"{GH}/send_test", json=send_test_body(RUBRIC), headers=gh), 503, "unavailable"
        )
    assert "SCREENING_PUBLIC_URL" in problem["detail"]


async def test_callback_targets_are_checked() -> None:
    for url in (
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.0.0.8/x",
        "https://169.254.169.254/x",
        "https://[::1]/x",
        "http://app.greenhouse.io/x",
        "https://[::ffff:127.0.0.1]/x",
    ):
        with pytest.raises(InvalidField):
            check_callback_url(url, allow_private=False)
    assert check_callback_url("http://127.0.0.1:9/x", allow_private=True)
    now = utcnow()
    delays = [next_attempt_at(now, attempt) for attempt in range(1, 8)]
    assert [round((d - now).total_seconds() / 60) for d in delays[:6]] == [1, 15, 60, 120, 240, 480]
    assert delays[6] is None


async def test_mail_is_retried_while_smtp_is_down_and_links_are_exposed_only_when_allowed(tmp_path, scorer) -> None:
    settings = make_settings(
        "embedded",
        tmp_path,
        public_url=PUBLIC,
        greenhouse_secret=SECRET,
        smtp_url=f"smtp://127.0.0.1:{free_port()}",  # nothing listens there
        expose_candidate_links=True,
        greenhouse_poll_seconds=0.2,
    )
    async with AsyncTestClient(create_app(settings, scorer=scorer)) as client:
        admin = (await add_key(settings, "acme", "hr_admin"))[1]
        gh = basic((await add_key(settings, "acme", "integration"))[1])
        assert (await client.post("/v1/rubrics", json={"toml": short_rubric_toml()}, headers=admin)).status_code == 201
        sent = await client.post(f"{GH}/send_test", json=send_test_body(), headers=gh)
        assert sent.status_code == 200, "send_test answers at once, whatever the mail server does"
        interview = sent.json()["partner_interview_id"]
        engine = create_engine(settings.database_url)
        try:
            for _ in range(100):
                async with session_factory(engine)() as session:
                    row = await session.get(Invitation, interview)
                if row.mail_error:
                    break
                await asyncio.sleep(0.1)
        finally:
            await engine.dispose()
        assert row.mail_error and row.mail_sent_at is None and row.mail_attempts == 1
        assert row.mail_next_at > utcnow() + timedelta(seconds=50), "retried after its backoff"
        exposed = await client.get(f"{GH}/candidate_link", params={"partner_interview_id": interview}, headers=gh)
        assert exposed.json() == {"candidate_url": PUBLIC + _link(interview)}
        other = basic((await add_key(settings, "globex", "integration"))[1])
        hidden = await client.get(f"{GH}/candidate_link", params={"partner_interview_id": interview}, headers=other)
        assert_problem(hidden, 404, "not-found")
