"""Hostile input: deny by default, bounded parsing, no 500s, and nothing reaches the database or the model.

Every case here once answered 500 (or blocked the server); each must now be a clear 4xx problem.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time

import msgspec
import pytest
from api_support import assert_problem, screening_body
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth import BASIC_AUTH_PATHS, PUBLIC_PATHS

pytestmark = pytest.mark.asyncio

JSON = {"content-type": "application/json"}


def _scorings(app) -> float:
    """How many candidates the app's model has scored (the scoring histogram's count)."""
    samples = app.state.services.metrics.scoring.collect()[0].samples
    return sum(s.value for s in samples if s.name.endswith("_count"))


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: f"some-{m.group(1)}", path)


async def test_every_route_needs_a_key_except_the_public_ones(settings, scorer) -> None:
    # one refused request per route: more than a minute's allowance of failed authentications from one address
    unlimited = msgspec.structs.replace(settings, auth_failures_per_minute=0)
    app = create_app(unlimited, scorer=scorer)
    async with AsyncTestClient(app=app) as client:
        await _walk_routes_without_a_key(app, client)


async def _walk_routes_without_a_key(app, client) -> None:
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(PUBLIC_PATHS):
            continue
        if route.path.startswith("/ui"):  # the review pages: session sign-in instead (test_ui_pages walks them)
            continue
        if route.path == "/":  # the front door: public links only (test_front_door)
            continue
        if route.path.startswith("/candidate/"):  # the link's token is the credential (test_greenhouse)
            continue
        challenge = "Basic" if route.path.startswith(BASIC_AUTH_PATHS) else "Bearer"
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            response = await client.request(method, _concrete(route.path), content=b"{}", headers=JSON)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"].startswith(challenge)
            checked += 1
    assert checked >= 12
    for public in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json"):
        assert (await client.get(public)).status_code == 200, public
    counted = (await client.get("/metrics")).text
    assert 'route="/v1/screenings",status="401"' in counted and 'status="500"' not in counted, (
        "refusals counted as sent"
    )


async def test_only_the_documented_key_header_counts(client, key) -> None:
    token = (await key("recruiter"))["Authorization"].removeprefix("Bearer ")
    assert_problem(await client.get("/v1/rubrics", headers={"X-Api-Key": token}), 401, "unauthorized")
    assert_problem(await client.get("/v1/rubrics", headers={"Authorization": f"Basic {token}"}), 401, "unauthorized")
    assert (await client.get("/v1/rubrics", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_failed_authentications_are_rate_limited_per_address(client, settings) -> None:
    limit = settings.auth_failures_per_minute
    if time.time() % 60 > 50:  # the limit counts per clock minute: do not straddle two
        await asyncio.sleep(61 - time.time() % 60)
    statuses = [
        (await client.get("/v1/screenings", headers={"Authorization": f"Bearer scr_guess_{i}"})).status_code
        for i in range(limit + 2)
    ]
    assert statuses[:limit] == [401] * limit
    problem = assert_problem(
        await client.get("/v1/screenings", headers={"Authorization": "Bearer scr_guess"}), 429, "rate-limited"
    )
    assert "failed authentications" in problem["detail"]


async def test_deeply_nested_json_is_a_400_with_or_without_a_key(client, key) -> None:
    ats = await key("integration")
    nested = b"[" * 10_000 + b"]" * 10_000
    assert_problem(await client.post("/v1/screenings", content=nested, headers=JSON), 401, "unauthorized")
    problem = assert_problem(
        await client.post("/v1/screenings", content=nested, headers={**ats, **JSON}), 400, "malformed-request"
    )
    assert "nested" in problem["detail"]
    inside = msgspec.json.encode(screening_body())[:-1] + b', "x": ' + b"{" * 100 + b"}" * 100 + b"}"
    assert_problem(
        await client.post("/v1/screenings", content=inside, headers={**ats, **JSON}), 400, "malformed-request"
    )


async def test_unterminated_escaped_strings_are_scanned_in_linear_time(client, key) -> None:
    recruiter = await key("recruiter")
    body = b'"' + b'\\"' * 400_000  # 800 KB: one open string of escaped quotes
    start = time.perf_counter()
    response = await client.post("/v1/screenings/x/reviews", content=body, headers={**recruiter, **JSON})
    assert response.status_code == 400 and time.perf_counter() - start < 2


async def test_invalid_utf8_is_a_400(client, key) -> None:
    ats = await key("integration")
    body = msgspec.json.encode(screening_body()).replace(b'"cand-001"', b'"cand-\xff\xfe001"', 1)
    assert b"\xff" in body
    problem = assert_problem(
        await client.post("/v1/screenings", content=body, headers={**ats, **JSON}), 400, "malformed-request"
    )
    assert "UTF-8" in problem["detail"]


async def test_json_only_with_a_json_content_type(client, key) -> None:
    ats = await key("integration")
    body = msgspec.json.encode(screening_body())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = await client.post("/v1/screenings", content=body, headers={**ats, "content-type": content_type})
        assert_problem(response, 415, "unsupported-media-type")
    ok = await client.post(
        "/v1/screenings", content=body, headers={**ats, "content-type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 201, ok.text


async def test_nul_characters_are_refused_before_scoring(client, key, app) -> None:
    ats, recruiter = await key("integration"), await key("recruiter")
    scored_before = _scorings(app)
    for field in ("candidate_id", "application_id"):
        body = screening_body(**{field: "cand\u0000-1"})
        problem = assert_problem(await client.post("/v1/screenings", json=body, headers=ats), 422, "validation-error")
        assert problem["errors"][0]["path"] == field
    body = screening_body()
    body["answers"] = [{**body["answers"][0], "text": body["answers"][0]["text"] + "\u0000"}]
    problem = assert_problem(await client.post("/v1/screenings", json=body, headers=ats), 422, "validation-error")
    assert problem["errors"][0]["path"] == "answers[0].text"
    assert _scorings(app) == scored_before, "nothing reached the model"
    problem = assert_problem(
        await client.get("/v1/screenings", params={"candidate_id": "a\u0000b"}, headers=recruiter),
        422,
        "validation-error",
    )
    assert problem["errors"][0]["path"] == "query.candidate_id"
    assert_problem(await client.get("/v1/screenings/abc%00def", headers=recruiter), 400, "malformed-request")
    admin = await key("hr_admin")
    problem = assert_problem(
        await client.post("/v1/keys", json={"role": "recruiter", "name": "x\u0000"}, headers=admin),
        422,
        "validation-error",
    )
    assert problem["errors"][0]["path"] == "name"


async def test_extreme_dates_and_tampered_cursors(client, key) -> None:
    recruiter = await key("recruiter")
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1066-10-14T09:00:00Z"):
        for name in ("created_after", "created_before"):
            problem = assert_problem(
                await client.get("/v1/screenings", params={name: value}, headers=recruiter), 422, "validation-error"
            )
            assert problem["errors"][0]["path"] == name
    naive = await client.get("/v1/screenings", params={"created_after": "2020-01-01T00:00:00"}, headers=recruiter)
    assert naive.status_code == 200, "a date without an offset is read as UTC"
    for created in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "not a date"):
        tampered = base64.urlsafe_b64encode(msgspec.json.encode([created, "x"])).decode().rstrip("=")
        response = await client.get("/v1/screenings", params={"cursor": tampered}, headers=recruiter)
        assert_problem(response, 400, "malformed-request")
    assert_problem(
        await client.get("/v1/screenings", params={"cursor": "%%%"}, headers=recruiter), 400, "malformed-request"
    )


async def test_hostile_rubric_toml_is_refused_quickly_and_does_not_block_the_server(loop_client, key) -> None:
    admin = await key("hr_admin")
    hostile = {
        "nested arrays": "a = " + "[" * 5_000 + "]" * 5_000,
        "nested inline tables": "a = " + "{b = " * 2_000 + "1" + "}" * 2_000,
        "a 40,000-part dotted key": ".".join(["k"] * 40_000) + " = 1",
        "a very long key": "k" * 5_000 + " = 1",
        "depth hidden behind an escaped quote": 'a = """ \\""" """\nb = ' + "[" * 2_000 + "]" * 2_000 + '\nc = """ """',
    }
    for shape, toml in hostile.items():
        health = asyncio.create_task(loop_client.get("/healthz"))
        start = time.perf_counter()
        response = await loop_client.post("/v1/rubrics/validate", json={"toml": toml}, headers=admin)
        elapsed = time.perf_counter() - start
        problem = assert_problem(response, 422, "invalid-rubric")
        assert problem["errors"][0]["path"].startswith("line "), shape
        assert elapsed < 5, f"{shape} took {elapsed:.1f} s"
        assert (await health).status_code == 200


async def test_concurrent_retries_with_one_key_score_once(loop_client, key, app) -> None:
    ats = await key("integration")
    before = _scorings(app)
    headers = {**ats, "Idempotency-Key": "race-1"}
    responses = await asyncio.gather(
        *(loop_client.post("/v1/screenings", json=screening_body(), headers=headers) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}, responses[0].text
    assert len({r.json()["id"] for r in responses}) == 1
    assert _scorings(app) - before == 1, "the duplicates waited for the first instead of running the model"


async def test_nul_characters_that_only_appear_after_decoding(client, key) -> None:
    recruiter, admin = await key("recruiter"), await key("hr_admin")
    cursor = base64.urlsafe_b64encode(msgspec.json.encode(["2024-01-01T00:00:00+00:00", "a\u0000b"])).decode()
    response = await client.get("/v1/screenings", params={"cursor": cursor.rstrip("=")}, headers=recruiter)
    assert_problem(response, 400, "malformed-request")
    toml = 'id = "x"\nversion = "1"\ntitle = "T\\u0000"\n'
    problem = assert_problem(
        await client.post("/v1/rubrics", json={"toml": toml}, headers=admin), 422, "invalid-rubric"
    )
    assert problem["errors"][0]["path"] == "title"
