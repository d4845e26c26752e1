"""Review pages without a browser: sign-in and out, cookie flags, CSRF, ``next``, roles and tenant isolation."""

from __future__ import annotations

import re
from urllib.parse import quote

import msgspec
import pytest
from api_support import add_key
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from ui_support import NEEDS_REVIEW_BODY, csrf_of, sign_in, token_of

from api.app import create_app
from api.db.engine import create_engine
from api.db.models import ApiKey, AuditEvent, utcnow
from api.ui.session import PRE_SESSION_COOKIE, SESSION_COOKIE, CookieSigner, safe_next
from api.ui.views import bar
from screening.report import ScaleInfo

pytestmark = pytest.mark.asyncio


async def _needs_review(client, key, org: str = "acme") -> dict:
    response = await client.post("/v1/screenings", json=NEEDS_REVIEW_BODY, headers=await key("integration", org))
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["status"] == "needs_review"
    return record


def _set_cookie(response, name: str) -> str:
    found = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[0]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_sign_in_session_cookie_and_sign_out(client, key) -> None:
    recruiter = await key("recruiter")
    signed = await sign_in(client, recruiter)
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/screenings"
    cookie = _set_cookie(signed, SESSION_COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert "max-age=28800" in cookie and "secure" not in cookie  # plain http here; see the https test
    assert token_of(recruiter).lower() not in cookie, "the cookie holds the key id, never the token"
    listing = await client.get("/ui/screenings", follow_redirects=False)
    assert listing.status_code == 200 and "Screenings" in listing.text
    assert listing.headers["content-security-policy"].startswith("default-src 'none'")
    assert listing.headers["cache-control"] == "no-store"
    out = await client.post("/ui/sign-out", data={"csrf_token": csrf_of(listing.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
    assert "max-age=0" in _set_cookie(out, SESSION_COOKIE).lower()
    client.cookies.clear()
    after = await client.get("/ui/screenings", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/ui/sign-in?next=")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_cookie_is_secure_over_https(app, key) -> None:
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        signed = await sign_in(client, await key("hr_admin"))
        assert signed.status_code == 303
        assert "secure" in _set_cookie(signed, SESSION_COOKIE).lower()


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_bad_revoked_and_integration_keys_are_refused(client, key, settings) -> None:
    bad = await sign_in(client, {"Authorization": "Bearer scr_nothing_here"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    assert SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    integration = await sign_in(client, await key("integration"))
    assert integration.status_code == 403 and "Integration keys cannot sign in" in integration.text
    assert SESSION_COOKIE not in integration.headers.get("set-cookie", "")

    key_id, headers = await add_key(settings, "acme", "recruiter")
    assert (await sign_in(client, headers)).status_code == 303
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 200
    engine = create_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(ApiKey.__table__.update().where(ApiKey.id == key_id).values(revoked_at=utcnow()))
    await engine.dispose()
    revoked = await client.get("/ui/screenings", follow_redirects=False)
    assert revoked.status_code == 303, "a revoked key ends its session at the next request"
    again = await sign_in(client, await key("recruiter"))  # the stale cookie must not block a new sign-in
    assert again.status_code == 303, again.text
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 200


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(client, key) -> None:
    assert (await sign_in(client, await key("recruiter"))).status_code == 303
    copied = client.cookies.get(SESSION_COOKIE)
    listing = await client.get("/ui/screenings")
    token = csrf_of(listing.text)
    assert (await client.post("/ui/sign-out", data={"csrf_token": token}, follow_redirects=False)).status_code == 303
    client.cookies.set(SESSION_COOKIE, copied, path="/ui")
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 303
    replayed = await client.post("/ui/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert replayed.status_code == 403


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_limits_apply_before_any_key_is_looked_up_and_to_pages(settings, scorer, key) -> None:
    recruiter = await key("recruiter")
    locking = create_app(msgspec.structs.replace(settings, auth_failures_per_minute=2), scorer=scorer)
    async with AsyncTestClient(app=locking) as client:
        for _ in range(2):
            assert (await sign_in(client, {"Authorization": "Bearer scr_wrong"})).status_code == 401
        locked = await sign_in(client, recruiter)  # a valid key gets no answer either while locked out
        assert locked.status_code == 429 and "retry-after" in locked.headers
        assert SESSION_COOKIE not in locked.headers.get("set-cookie", "")
    limiting = create_app(msgspec.structs.replace(settings, rate_limit_per_minute=3), scorer=scorer)
    async with AsyncTestClient(app=limiting) as client:
        assert (await sign_in(client, recruiter)).status_code == 303
        statuses = [(await client.get("/ui/screenings", follow_redirects=False)).status_code for _ in range(5)]
        assert statuses[-1] == 429, statuses
        refused = await client.get("/ui/screenings", follow_redirects=False)
        assert refused.headers["content-security-policy"].startswith("default-src 'none'")
        assert refused.headers["cache-control"] == "no-store" and "retry-after" in refused.headers


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_cookie_secure_setting_holds_behind_a_tls_proxy(settings, scorer, key) -> None:
    app = create_app(msgspec.structs.replace(settings, cookie_secure=True), scorer=scorer)
    async with AsyncTestClient(app=app) as client:  # the app sees plain http, as behind a proxy that ends TLS
        form = await client.get("/ui/sign-in")
        assert "secure" in _set_cookie(form, PRE_SESSION_COOKIE).lower()


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_forged_or_expired_cookie_is_no_session(client, key, app) -> None:
    assert (await sign_in(client, await key("recruiter"))).status_code == 303
    value = client.cookies.get(SESSION_COOKIE)
    version, body, signature = value.split(".")
    client.cookies.set(SESSION_COOKIE, f"{version}.{body}x.{signature}", path="/ui")
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 303
    signer: CookieSigner = app.state.ui_signer
    data = signer.session(value)
    expired, _ = signer.new_session(data.key_id, now=0)
    client.cookies.set(SESSION_COOKIE, expired, path="/ui")
    assert (await client.get("/ui/screenings", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_every_page_needs_a_session(app, client) -> None:
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/ui") or route.path.startswith("/ui/static"):
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: f"some-{m.group(1)}", route.path)
        for handler in route.route_handlers:
            if handler.opt.get("ui_public"):
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                response = await client.request(method, path, data={"x": "1"}, follow_redirects=False)
                expected = 303 if method == "GET" else 403  # a POST without a session has no CSRF token either
                assert response.status_code == expected, (method, path, response.status_code)
                checked += 1
    assert checked >= 5
    assert (await client.get("/ui/static/ui.css")).status_code == 200


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/screenings/abc?x=1", "/ui/screenings/abc?x=1"),
        ("/ui", "/ui"),
        ("https://evil.example/ui/screenings", "/ui/screenings"),
        ("//evil.example/ui", "/ui/screenings"),
        ("/\\evil.example", "/ui/screenings"),
        ("/v1/screenings", "/ui/screenings"),
        ("javascript:alert(1)", "/ui/screenings"),
        ("/ui/x\r\nSet-Cookie: a=b", "/ui/screenings"),
        ("", "/ui/screenings"),
        ("/ui/../v1/screenings", "/ui/screenings"),
        ("/ui/%2e%2e//evil.example", "/ui/screenings"),
        ("/ui/screenings/abc/reviews", "/ui/screenings/abc"),  # a form's target: back to its page
        ("/ui/sign-out", "/ui/screenings"),
    ],
)
def test_next_accepts_only_relative_ui_paths(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_bar_places_levels_on_the_scale() -> None:
    scale = ScaleInfo(min=1, max=5, labels=("a", "b", "c", "d", "e"))
    assert bar(3.0, scale).percent == 50.0 and bar(3.0, scale).text == "3.0 of 5"
    assert bar(None, scale).text == "no level" and bar(9, scale).percent == 100.0


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_deep_link_sign_in_and_open_redirect_refused(client, key) -> None:
    recruiter = await key("recruiter")
    deep = await client.get("/ui/screenings/some-id", follow_redirects=False)
    assert deep.headers["location"] == f"/ui/sign-in?next={quote('/ui/screenings/some-id', safe='')}"
    landed = await sign_in(client, recruiter, "/ui/screenings/some-id")
    assert landed.headers["location"] == "/ui/screenings/some-id"
    client.cookies.clear()
    evil = await sign_in(client, recruiter, "https://evil.example/")
    assert evil.headers["location"] == "/ui/screenings"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_csrf_is_required_on_every_form(client, key) -> None:
    recruiter = await key("recruiter")
    form = await client.get("/ui/sign-in")
    no_token = await client.post("/ui/sign-in", data={"api_key": token_of(recruiter)}, follow_redirects=False)
    assert no_token.status_code == 403 and "security token" in no_token.text
    wrong = {"api_key": token_of(recruiter), "csrf_token": csrf_of(form.text) + "x"}
    assert (await client.post("/ui/sign-in", data=wrong, follow_redirects=False)).status_code == 403
    assert (await sign_in(client, recruiter)).status_code == 303
    review = {"target": "overall", "action": "override", "level": "2", "reason": "Spoke to referees."}
    refused = await client.post("/ui/screenings/some-id/reviews", data=review, follow_redirects=False)
    assert refused.status_code == 403
    as_json = await client.post("/ui/sign-out", json={"csrf_token": "x"}, follow_redirects=False)
    assert as_json.status_code == 415


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_review_through_the_page_and_tenant_isolation(client, key, db) -> None:
    record = await _needs_review(client, key)
    page_url = f"/ui/screenings/{record['id']}"
    assert (await sign_in(client, await key("recruiter", "globex"))).status_code == 303
    other = await client.get(page_url, follow_redirects=False)
    assert other.status_code == 404 and "Not found" in other.text and "cand-ui-1" not in other.text
    listing = await client.get("/ui/screenings")
    assert "cand-ui-1" not in listing.text
    csrf = csrf_of(listing.text)
    review = {"csrf_token": csrf, "target": "overall", "action": "override", "level": "2", "reason": "Not ours"}
    assert (await client.post(f"{page_url}/reviews", data=review, follow_redirects=False)).status_code == 404

    client.cookies.clear()
    assert (await sign_in(client, await key("recruiter"))).status_code == 303
    listing = await client.get("/ui/screenings?status=needs_review")
    assert "cand-ui-1" in listing.text and "1 needs review" in listing.text
    page = await client.get(page_url)
    assert page.status_code == 200
    assert "near-copy of one of the rubric" in page.text and '<mark class="seg' in page.text
    csrf = csrf_of(page.text)
    missing_reason = {"csrf_token": csrf, "target": "ownership", "action": "override", "level": "2"}
    shown = await client.post(f"{page_url}/reviews", data=missing_reason, follow_redirects=False)
    assert shown.status_code == 422 and 'role="alert"' in shown.text
    off_scale = {**missing_reason, "level": "9", "reason": "Too high"}
    assert (await client.post(f"{page_url}/reviews", data=off_scale, follow_redirects=False)).status_code == 422
    done = {**missing_reason, "reason": "Copied the reference; asked in interview."}
    saved = await client.post(f"{page_url}/reviews", data=done, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{page_url}#decision"
    after = (await client.get(page_url)).text
    row = re.search(r'<tr data-target="ownership">.*?</tr>', after, re.S).group(0)
    assert "2.0 of 5" in row and "Human review" in row
    async with db() as session:
        actions = [
            e.action
            for e in (await session.execute(select(AuditEvent).where(AuditEvent.screening_id == record["id"])))
            .scalars()
            .all()
        ]
    assert actions.count("reviewed") == 1 and "viewed" in actions
    api = await client.get(f"/v1/screenings/{record['id']}", headers=await key("recruiter"))
    ownership = next(d for d in api.json()["decision"]["dimensions"] if d["dimension_id"] == "ownership")
    assert ownership["stands"] == "human" and ownership["human_level"] == 2.0


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_hr_pages_need_hr_admin(client, key) -> None:
    assert (await sign_in(client, await key("recruiter"))).status_code == 303
    assert (await client.get("/ui/rubrics/customer-service-attitude")).status_code == 403
    client.cookies.clear()
    assert (await sign_in(client, await key("hr_admin"))).status_code == 303
    rubric = await client.get("/ui/rubrics/customer-service-attitude")
    assert rubric.status_code == 200 and "Level 5" in rubric.text and "broken-gift" in rubric.text
    assert (await client.get("/ui/rubrics/no-such-rubric")).status_code == 404
    assert (await client.get("/ui/rubrics/customer-service-attitude/calibrations/nope")).status_code == 404
