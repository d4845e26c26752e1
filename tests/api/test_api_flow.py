"""The whole ATS flow: create, read, list, paginate, audit; idempotent retries."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from api_support import BUILTIN_VERSION, RUBRIC, assert_problem, raw_report, screening_body
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from api.db.models import IdempotencyKey, Screening
from screening.report import CandidateReport

pytestmark = pytest.mark.asyncio


async def test_ats_flow(client, key, scorer) -> None:
    ats = await key("integration")
    recruiter = await key("recruiter")
    created = await client.post("/v1/screenings", json=screening_body(0), headers=ats)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["candidate_id"] == "cand-001"
    assert record["application_id"] == "app-cand-001"
    assert record["rubric_id"] == RUBRIC and record["rubric_version"] == BUILTIN_VERSION
    assert record["created_at"] and record["updated_at"]
    report = msgspec.json.decode(raw_report(created.content), type=CandidateReport)
    assert report.candidate_id == "cand-001"
    assert report.overall.score is not None and report.dimensions and report.answers
    assert report.provenance.rubric_id == RUBRIC
    assert record["status"] == report.status
    assert record["decision"]["overall"] == {
        "dimension_id": "overall",
        "model_level": report.overall.level,
        "human_level": None,
        "level": report.overall.level,
        "stands": "model",
        "review_id": None,
    }
    assert [h["seq"] for h in record["history"]] == [1]

    read = await client.get(f"/v1/screenings/{record['id']}", headers=recruiter)
    assert read.status_code == 200
    assert raw_report(read.content) == raw_report(created.content)

    listed = await client.get("/v1/screenings", params={"candidate_id": "cand-001"}, headers=ats)
    assert [item["id"] for item in listed.json()["items"]] == [record["id"]]
    assert listed.json()["items"][0]["overall_score"] == report.overall.score
    for params in ({"application_id": "nope"}, {"rubric_id": "other"}, {"candidate_id": "cand-002"}):
        assert (await client.get("/v1/screenings", params=params, headers=ats)).json()["items"] == []
    same_status = await client.get("/v1/screenings", params={"status": record["status"]}, headers=ats)
    assert len(same_status.json()["items"]) == 1
    after = await client.get("/v1/screenings", params={"created_after": record["created_at"]}, headers=ats)
    assert len(after.json()["items"]) == 1
    before = await client.get("/v1/screenings", params={"created_before": record["created_at"]}, headers=ats)
    assert before.json()["items"] == []

    audit = await client.get(f"/v1/screenings/{record['id']}/audit", headers=recruiter)
    entries = audit.json()["entries"]
    assert [e["action"] for e in entries] == ["created", "viewed"]
    assert entries[1]["actor_role"] == "recruiter" and entries[1]["at"]


async def test_pagination_with_cursor(client, key) -> None:
    ats = await key("integration")
    ids = []
    for n in range(3):
        body = screening_body(n % 3)
        response = await client.post("/v1/screenings", json=body, headers=ats)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    first = (await client.get("/v1/screenings", params={"limit": 2}, headers=ats)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await client.get("/v1/screenings", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ats)
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert {i["id"] for i in first["items"] + second["items"]} == set(ids)
    assert first["items"][0]["created_at"] >= first["items"][1]["created_at"] >= second["items"][0]["created_at"]
    bad = await client.get("/v1/screenings", params={"cursor": "not-a-cursor"}, headers=ats)
    assert_problem(bad, 400, "malformed-request")


async def test_idempotent_retries(client, key, db) -> None:
    ats = await key("integration")
    headers = {**ats, "Idempotency-Key": "retry-1"}
    first = await client.post("/v1/screenings", json=screening_body(0), headers=headers)
    again = await client.post("/v1/screenings", json=screening_body(0), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    conflict = await client.post("/v1/screenings", json=screening_body(1), headers=headers)
    assert_problem(conflict, 409, "idempotency-conflict")

    sessions = db
    async with sessions() as session:
        count = (await session.execute(select(func.count()).select_from(Screening))).scalar()
    assert count == 1

    # the database, not only the cache, refuses a second use of a key
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                session.add(
                    IdempotencyKey(org_id="acme", key="retry-1", request_sha256="x", screening_id=first.json()["id"])
                )


async def test_idempotency_survives_cache_loss(client, key, settings, scorer) -> None:
    ats = {**(await key("integration")), "Idempotency-Key": "db-backed"}
    first = await client.post("/v1/screenings", json=screening_body(0), headers=ats)
    # a new app with empty caches (new memory store, or a new Redis namespace) on the same database
    fresh = msgspec.structs.replace(settings, redis_prefix="fresh-" + settings.redis_prefix)
    async with AsyncTestClient(app=create_app(fresh, scorer=scorer)) as other:
        again = await other.post("/v1/screenings", json=screening_body(0), headers=ats)
        assert again.json()["id"] == first.json()["id"]
        conflict = await other.post("/v1/screenings", json=screening_body(1), headers=ats)
        assert_problem(conflict, 409, "idempotency-conflict")


async def test_concurrent_retries_make_one_record(loop_client, key, db) -> None:
    ats = {**(await key("integration")), "Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(loop_client.post("/v1/screenings", json=screening_body(2), headers=ats) for _ in range(3))
    )
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with db() as session:
        assert (await session.execute(select(func.count()).select_from(Screening))).scalar() == 1
