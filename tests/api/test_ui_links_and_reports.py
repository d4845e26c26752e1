"""Review pages, second part: the list's date filter and level order, one-time sign-in links, HR's
adverse-impact page and the charts. Real database (SQLite, and PostgreSQL for the order and the link's
single use), real model where a screening is scored.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from api_support import EXAMPLES, RUBRIC, add_key, assert_problem, screening_body
from sqlalchemy import select, update
from ui_support import NEEDS_REVIEW_BODY, csrf_of, sign_in

from api import review_link_service
from api.db import repo
from api.db.models import AuditEvent, ModelResult, ReviewLink, Screening, utcnow
from api.domain import LinkRefused, MalformedField
from api.ui.charts import ImpactBar, agreement_scatter, impact_ratio_chart, level_spreads, spread_chart
from api.ui.session import SESSION_COOKIE, LinkToken
from screening.calibration.report import RatedPoint

pytestmark = pytest.mark.asyncio

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SELF_ID = [
    {"sex": "female", "race_ethnicity": "asian"},
    {"sex": "male", "race_ethnicity": "white"},
    {"sex": "female", "race_ethnicity": "white"},
    {"sex": "male", "race_ethnicity": "asian"},
]


def _rows(org: str, level: float | None, created: datetime, candidate: str = "") -> list[Screening | ModelResult]:
    """A screening and, when it has a level, its current model result (two older results disagree)."""
    screening = Screening(
        id=str(uuid.uuid4()),
        org_id=org,
        candidate_id=candidate or f"c-{uuid.uuid4().hex[:6]}",
        application_id="a",
        rubric_id=RUBRIC,
        rubric_version="1.0.0",
        rubric_source="builtin",
        status="scored" if level is not None else "needs_review",
        model_status="scored",
        result_seq=3 if level is not None else 1,
        created_by="k",
        created_at=created,
        updated_at=created,
    )
    if level is None:
        return [screening]
    results = [
        ModelResult(
            screening_id=screening.id,
            seq=seq,
            rubric_version="1.0.0",
            rubric_fingerprint="f",
            model_id="m",
            model_status="scored",
            overall_level=value,
            overall_score=None if value is None else value * 20,
            created_at=created,
        )
        for seq, value in [(1, 5 - level), (2, None), (3, level)]
    ]
    return [screening, *results]


async def _all_pages(session, sort: str, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        rows, cursor = await repo.list_screenings(session, "acme", repo.ListFilters(), cursor, limit, sort)
        seen += [r.id for r in rows]
        if cursor is None:
            return seen


async def test_level_order_pages_stably_with_its_cursor(db) -> None:
    """Ties on the score and on the creation time, unscored rows, another organisation: every order pages
    through each row exactly once, in the order of one query without pages.
    """
    cases = [(2.0, 0), (4.0, 1), (2.0, 2), (None, 3), (3.25, 4), (2.0, 2), (None, 0), (4.0, 5)]
    made = [_rows("acme", level, T0 + timedelta(minutes=minutes)) for level, minutes in cases]
    async with db() as session, session.begin():
        for rows in [*made, _rows("globex", 5.0, T0)]:
            session.add(rows[0])
            await session.flush()
            session.add_all(rows[1:])
    ours = [(rows[0], level) for rows, (level, _) in zip(made, cases, strict=True)]

    def expected(sort: str) -> list[str]:
        newest = sorted(ours, key=lambda p: (p[0].created_at, p[0].id), reverse=True)
        if sort == "newest":
            return [r.id for r, _ in newest]
        scored = [p for p in newest if p[1] is not None]
        scored.sort(key=lambda p: p[1], reverse=sort == "level_desc")  # stable: ties stay newest first
        return [r.id for r, _ in scored] + [r.id for r, level in newest if level is None]

    async with db() as session:
        for sort in repo.SORTS:
            for limit in (1, 2, 3, 100):
                assert await _all_pages(session, sort, limit) == expected(sort), (sort, limit)
        _, cursor = await repo.list_screenings(session, "acme", repo.ListFilters(), None, 2, "level_desc")
        with pytest.raises(MalformedField, match="made for the 'level_desc' order"):
            await repo.list_screenings(session, "acme", repo.ListFilters(), cursor, 2, "newest")
        _, newest = await repo.list_screenings(session, "acme", repo.ListFilters(), None, 2)
        with pytest.raises(MalformedField):
            await repo.list_screenings(session, "acme", repo.ListFilters(), newest, 2, "level_asc")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_list_page_filters_by_day_and_orders_by_level(client, key, db) -> None:
    async with db() as session, session.begin():
        for rows in (_rows("acme", 4.5, T0, "c-high"), _rows("acme", 1.5, T0 + timedelta(days=1, hours=13), "c-low")):
            session.add(rows[0])
            await session.flush()
            session.add_all(rows[1:])
    assert (await sign_in(client, await key("recruiter"))).status_code == 303
    both = await client.get("/ui/screenings", params={"created_from": "2026-11-02", "created_to": "2026-11-03"})
    assert both.status_code == 200 and "2 screenings" in both.text
    first_day = await client.get("/ui/screenings", params={"created_to": "2026-11-02"})
    assert "1 screening:" in first_day.text and "c-high" in first_day.text and "c-low" not in first_day.text
    for sort, order in [("level_asc", ["c-low", "c-high"]), ("level_desc", ["c-high", "c-low"])]:
        shown = await client.get("/ui/screenings", params={"sort": sort, "status": "scored"})
        assert re.findall(r">(c-\w+)</a>", shown.text) == order, sort
        assert f'value="{sort}" selected' in shown.text
    api = await client.get("/v1/screenings", params={"sort": "level_asc"}, headers=await key("recruiter"))
    assert [s["candidate_id"] for s in api.json()["items"]] == ["c-low", "c-high"]
    for field, value in [("created_from", "2026-13-01"), ("created_to", "yesterday"), ("created_from", "0001-01-01")]:
        bad = await client.get("/ui/screenings", params={field: value})
        assert bad.status_code == 400 and field in bad.text and "<h1>" in bad.text, (field, value)
    loud = await client.get("/ui/screenings", params={"sort": "loudest"})
    assert loud.status_code == 422 and "sort" in loud.text  # as the JSON API answers a value not in its enum
    forged = await client.get("/ui/screenings", params={"cursor": "bm9wZQ"})
    assert forged.status_code == 400 and "cursor" in forged.text


async def _needs_review(client, headers) -> str:
    created = await client.post("/v1/screenings", json=NEEDS_REVIEW_BODY, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _open(client, url: str):
    """Open a link as a browser does: its landing page, then its one button (with the page's CSRF token)."""
    parts = urlsplit(url)
    landing = await client.get(f"{parts.path}?{parts.query}")
    if landing.status_code != 200:
        return landing
    token = re.search(r'name="token" value="([^"]+)"', landing.text).group(1)
    form = {"csrf_token": csrf_of(landing.text), "token": token}
    return await client.post(parts.path, data=form, follow_redirects=False)


async def test_one_time_link_opens_one_screening_once(client, key, settings, db) -> None:  # noqa: PLR0915
    ats_id, ats = await add_key(settings, "acme", "integration")
    screening_id = await _needs_review(client, ats)
    other_id = await _needs_review(client, ats)
    path = f"/v1/screenings/{screening_id}/review-links"
    assert_problem(await client.post(path, headers=await key("recruiter")), 403, "forbidden")
    assert_problem(await client.post(path, headers=await key("integration", "globex")), 404, "not-found")
    created = await client.post(path, headers=ats)
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["screening_id"] == screening_id and link["url"].startswith("http://testserver.local/ui/sign-in/link?")
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    landing = await client.get(urlsplit(link["url"]).path + "?" + urlsplit(link["url"]).query)
    assert landing.status_code == 200 and "Open the screening" in landing.text  # a GET uses nothing up
    no_csrf = await client.post("/ui/sign-in/link", data={"token": "x"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    opened = await _open(client, link["url"])
    assert opened.status_code == 303 and opened.headers["location"] == f"/ui/screenings/{screening_id}"
    page = await client.get(opened.headers["location"])
    assert page.status_code == 200 and f"one-time link from key {ats_id}" in page.text  # the header and audit
    review = {"csrf_token": csrf_of(page.text), "target": "ownership", "action": "override", "level": "2"}
    review["reason"] = "Spoke to the candidate."
    saved = await client.post(f"/ui/screenings/{screening_id}/reviews", data=review, follow_redirects=False)
    assert saved.status_code == 303
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 403  # only its screening
    assert (await client.get(f"/ui/screenings/{other_id}", follow_redirects=False)).status_code == 403
    assert (await client.get("/ui/rubrics", follow_redirects=False)).status_code == 403
    assert (await client.get("/ui/sign-in")).status_code == 200, "a link's session may still sign in with a key"

    async with db() as session:
        events = (await session.execute(select(AuditEvent).where(AuditEvent.screening_id == screening_id))).scalars()
        by_action = {e.action: e for e in events}
    assert by_action["review_link_created"].details["link_id"] == link["id"]
    for action in ("review_link_used", "viewed", "reviewed"):
        entry = by_action[action]
        assert (entry.actor_key_id, entry.details["via_link"]) == (ats_id, link["id"]), action

    client.cookies.clear()
    reused = await _open(client, link["url"])
    assert reused.status_code == 410 and "already used" in reused.text
    tampered = link["url"].replace("token=v1.", "token=v1.A")
    assert (await client.get(urlsplit(tampered).path + "?" + urlsplit(tampered).query)).status_code == 404

    stale = (await client.post(path, headers=ats)).json()  # expired in the database before its token says so
    async with db() as session, session.begin():
        await session.execute(
            update(ReviewLink).where(ReviewLink.id == stale["id"]).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await _open(client, stale["url"])).status_code == 410

    fresh = (await client.post(path, headers=ats)).json()
    session_link = (await client.post(path, headers=ats)).json()
    assert (await _open(client, session_link["url"])).status_code == 303
    assert (await client.get(f"/ui/screenings/{screening_id}", follow_redirects=False)).status_code == 200
    revoked = await client.delete(f"/v1/keys/{ats_id}", headers=await key("hr_admin"))
    assert revoked.status_code in (200, 204), revoked.text
    ended = await client.get(f"/ui/screenings/{screening_id}", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/ui/sign-in"), "revoking ends it"
    client.cookies.clear()
    refused = await _open(client, fresh["url"])
    assert refused.status_code == 403 and "revoked" in refused.text


async def test_expired_link_token_is_refused_before_the_database(client, app) -> None:
    token = app.state.ui_signer.new_link_token(str(uuid.uuid4()), int(utcnow().timestamp()) - 1)
    assert (await client.get("/ui/sign-in/link", params={"token": token})).status_code == 410
    assert (await client.get("/ui/sign-in/link", params={"token": "v1.e30.AAAA"})).status_code == 404
    assert (await client.get("/ui/sign-in/link")).status_code == 400
    session_cookie, _ = app.state.ui_signer.new_session("some-key")  # signed, but for another purpose
    assert (await client.get("/ui/sign-in/link", params={"token": session_cookie})).status_code == 404
    client.cookies.set(SESSION_COOKIE, token, path="/ui")  # nor is a link's token a session
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_adverse_impact_page_draws_the_report(client, key) -> None:
    ats, admin = await key("integration"), await key("hr_admin")
    for index, self_id in enumerate(SELF_ID):
        candidate = f"ai-{index}"
        body = screening_body(index % len(EXAMPLES), answers=1, candidate_id=candidate)
        created = await client.post("/v1/screenings", json=body, headers=ats)
        assert created.status_code == 201, created.text
        put = await client.put(f"/v1/candidates/{candidate}/demographics", json=self_id, headers=admin)
        assert put.status_code == 200, put.text
    assert (await sign_in(client, await key("recruiter"))).status_code == 303
    assert (await client.get("/ui/reports/adverse-impact")).status_code == 403
    client.cookies.clear()
    assert (await sign_in(client, admin)).status_code == 303
    empty = await client.get("/ui/reports/adverse-impact")
    assert empty.status_code == 200 and "Choose a rubric" in empty.text
    shown = await client.get("/ui/reports/adverse-impact", params={"rubric_id": RUBRIC, "cut": "3"})
    assert shown.status_code == 200, shown.text
    charts = shown.text.count('role="img"')  # selection per grouping; scoring where a ratio was computed
    assert 3 <= charts <= 6, charts
    summary = re.search(r'<p id="ai-summary">(.*?)</p>', shown.text, re.S).group(1)
    assert "four-fifths line (0.8)" in shown.text, re.findall(r"four-fifths[^<]*", shown.text)
    counted = re.match(r"\s*(\d+) candidates \((\d+) without a score\)", summary)
    assert counted and int(counted.group(1)) + int(counted.group(2)) == len(SELF_ID), summary
    assert "Caveats" in shown.text and "few candidates" in shown.text
    assert not re.search(r"ai-\d", shown.text), "no candidate id on the page"
    bad = await client.get("/ui/reports/adverse-impact", params={"rubric_id": RUBRIC, "cut": "high"})
    assert bad.status_code == 400 and "cut" in bad.text
    off = await client.get("/ui/reports/adverse-impact", params={"rubric_id": RUBRIC, "cut": "9"})
    assert off.status_code == 422 and 'role="alert"' in off.text and "cut" in off.text
    index = await client.get("/ui/rubrics")
    assert index.status_code == 200 and f'href="/ui/rubrics/{RUBRIC}"' in index.text


def test_charts_say_in_words_what_they_draw() -> None:
    points = [
        RatedPoint(dimension_id="d", human=h, before=None, after=a)
        for h, a in [(1, 1.2), (2, 2.6), (3, 2.9), (3, 3.4), (5, 4.1), (4, None)]
    ]
    scatter = str(agreement_scatter(points, 1, 5))
    assert scatter.startswith('<svg class="chart"') and 'role="img"' in scatter and "<title>" in scatter
    assert "5 rated answers" in scatter and "3 of 5 lie within half a level" in scatter
    assert scatter.count("<circle") == 5 and "model = human" in scatter
    spreads = level_spreads(points)
    assert [(s.human_level, s.n, s.median) for s in spreads] == [(1, 1, 1.2), (2, 1, 2.6), (3, 2, 3.15), (5, 1, 4.1)]
    assert "human level 3: median 3.1" in str(spread_chart(spreads, 1, 5))
    assert agreement_scatter([], 1, 5) is None and spread_chart([], 1, 5) is None
    bars = [ImpactBar("female", 0.62), ImpactBar("male", 1.0), ImpactBar("non_binary", None, "small group")]
    chart = str(impact_ratio_chart(bars, 0.8, "selection", "sex"))
    assert "0.62 below 0.8" in chart and "1.00" in chart and "small group" in chart
    assert 'fill="url(#hatch-sex)"' in chart and chart.count("url(#hatch-sex)") == 1, "only the low bar is hatched"
    assert "Below the line: female." in chart and "<script" not in chart
    hostile = str(impact_ratio_chart([ImpactBar("<b>x</b>", 0.5)], 0.8, "a", 'k"><script>'))
    assert "<b>" not in hostile and "<script>" not in hostile


@pytest.mark.parametrize("backend", ["servers"], indirect=True)
async def test_a_link_raced_by_two_workers_opens_one_session(db, settings) -> None:
    """Two requests (two connections, as two workers) open the same link at once: exactly one wins."""
    key_id, _ = await add_key(settings, "acme", "integration")
    rows = _rows("acme", 3.0, T0)
    link = ReviewLink(
        id=str(uuid.uuid4()),
        org_id="acme",
        screening_id=rows[0].id,
        created_by=key_id,
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(minutes=5),
    )
    async with db() as session, session.begin():
        session.add(rows[0])
        await session.flush()
        session.add_all([*rows[1:], link])
    token = LinkToken(link_id=link.id, expires=int(link.expires_at.timestamp()))

    async def attempt() -> str:
        async with db() as session:
            try:
                await review_link_service.consume(session, token)
            except LinkRefused as exc:
                return f"refused {exc.status}"
            return "opened"

    for _ in range(5):  # the loser may read the link before or after the winner commits
        outcomes = sorted(await asyncio.gather(attempt(), attempt()))
        assert outcomes == ["opened", "refused 410"], outcomes
        async with db() as session, session.begin():  # unused again, for the next race
            await session.execute(update(ReviewLink).where(ReviewLink.id == link.id).values(used_at=None))
