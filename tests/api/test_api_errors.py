"""Every error is problem details: auth, roles, limits, validation, unknown ids, rate limits."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from api_support import add_key, assert_problem, screening_body
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.db.engine import create_engine
from api.db.models import ApiKey, utcnow

pytestmark = pytest.mark.asyncio


async def test_authentication_and_roles(client, key, settings) -> None:
    assert_problem(await client.get("/v1/screenings"), 401, "unauthorized")
    assert_problem(
        await client.get("/v1/screenings", headers={"Authorization": "Bearer scr_nope"}), 401, "unauthorized"
    )
    key_id, headers = await add_key(settings, "acme", "recruiter")
    assert (await client.get("/v1/screenings", headers=headers)).status_code == 200
    engine = create_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(ApiKey.__table__.update().where(ApiKey.id == key_id).values(revoked_at=utcnow()))
    await engine.dispose()
    assert_problem(await client.get("/v1/screenings", headers=headers), 401, "unauthorized")
    recruiter = await key("recruiter")
    assert_problem(await client.post("/v1/screenings", json=screening_body(), headers=recruiter), 403, "forbidden")
    assert_problem(await client.post("/v1/rubrics", json={"toml": "x"}, headers=recruiter), 403, "forbidden")
    x_api_key = {"X-API-Key": recruiter["Authorization"].removeprefix("Bearer ")}
    assert_problem(await client.get("/v1/rubrics", headers=x_api_key), 401, "unauthorized")  # one documented header


async def test_request_validation(client, key) -> None:
    ats = await key("integration")

    async def post(body):
        return await client.post("/v1/screenings", json=body, headers=ats)

    problem = assert_problem(await post({**screening_body(), "shoe_size": 44}), 422, "validation-error")
    assert [e["path"] for e in problem["errors"]] == ["shoe_size"]
    bad_answer = screening_body()
    bad_answer["answers"] = [{"question_id": "broken-gift", "text": "x", "mood": "happy"}]
    problem = assert_problem(await post(bad_answer), 422, "validation-error")
    assert problem["errors"][0]["path"] == "answers[0].mood"
    problem = assert_problem(await post({"candidate_id": "c"}), 422, "validation-error")
    assert problem["errors"]

    problem = assert_problem(await post(screening_body(rubric={"id": "no-such-rubric"})), 422, "unknown-rubric")
    assert "no-such-rubric" in problem["detail"] and problem["errors"][0]["path"] == "rubric.id"
    problem = assert_problem(
        await post(screening_body(rubric={"id": "customer-service-attitude", "version": "9.9"})), 422, "unknown-rubric"
    )
    assert problem["errors"][0]["path"] == "rubric.version"

    unknown_question = screening_body()
    unknown_question["answers"] = [{"question_id": "made-up-question", "text": "I would help them."}]
    problem = assert_problem(await post(unknown_question), 422, "invalid-answers")
    assert problem["errors"][0]["path"] == "answers[0].question_id"
    assert "made-up-question" in problem["errors"][0]["message"]
    problem = assert_problem(await post(screening_body(answers=0)), 422, "validation-error")  # the schema: minItems 1
    assert problem["errors"][0]["path"] == "answers"

    malformed = await client.post(
        "/v1/screenings", content=b"{not json", headers={**ats, "content-type": "application/json"}
    )
    assert_problem(malformed, 400, "malformed-request")
    assert_problem(await client.get("/v1/screenings/does-not-exist", headers=ats), 404, "not-found")
    assert_problem(await client.delete("/v1/screenings"), 405, "method-not-allowed")


async def test_limits(settings, scorer) -> None:
    small = msgspec.structs.replace(settings, max_body_bytes=4096, max_answers=2, max_answer_chars=100)
    _, ats = await add_key(small, "acme", "integration")
    async with AsyncTestClient(app=create_app(small, scorer=scorer)) as client:
        body = screening_body()
        body["answers"] = [{"question_id": "broken-gift", "text": "I would help. " * 20}]
        problem = assert_problem(await client.post("/v1/screenings", json=body, headers=ats), 422, "validation-error")
        assert problem["errors"][0]["path"] == "answers[0].text"
        body["answers"] = [{"question_id": q, "text": "I would help."} for q in ("a", "b", "c")]
        problem = assert_problem(await client.post("/v1/screenings", json=body, headers=ats), 422, "validation-error")
        assert problem["errors"][0]["path"] == "answers"
        body["answers"] = [{"question_id": "broken-gift", "text": "x" * 5000}]
        assert_problem(await client.post("/v1/screenings", json=body, headers=ats), 413, "payload-too-large")


async def test_rate_limit_per_key(settings, scorer) -> None:
    if time.time() % 60 > 45:  # the limit counts per clock minute: do not straddle two
        await asyncio.sleep(61 - time.time() % 60)
    limited = msgspec.structs.replace(settings, rate_limit_per_minute=3)
    _, first = await add_key(limited, "acme", "recruiter")
    _, second = await add_key(limited, "acme", "recruiter")
    async with AsyncTestClient(app=create_app(limited, scorer=scorer)) as client:
        for _ in range(3):
            assert (await client.get("/v1/screenings", headers=first)).status_code == 200
        problem = assert_problem(await client.get("/v1/screenings", headers=first), 429, "rate-limited")
        assert "3 requests a minute" in problem["detail"]
        response = await client.get("/v1/screenings", headers=first)
        assert 1 <= int(response.headers["retry-after"]) <= 61
        assert (await client.get("/v1/screenings", headers=second)).status_code == 200
    async with AsyncTestClient(app=create_app(limited, scorer=scorer)) as other_instance:
        shared = await other_instance.get("/v1/screenings", headers=first)
    # with Redis the limit holds across instances; embedded, each process counts for itself
    assert shared.status_code == (200 if limited.embedded else 429)
