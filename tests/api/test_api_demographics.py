"""Demographic self-identification: hr_admin only, per organisation, never in a record, export or audit, erased."""

from __future__ import annotations

import json

import pytest
from api_support import assert_problem, screening_body
from sqlalchemy import select

from api.db.models import AuditEvent, DemographicRecord

pytestmark = pytest.mark.asyncio

SELF_ID = {"sex": "female", "race_ethnicity": "two_or_more_races"}


async def test_recorded_apart_and_never_shown_with_the_record(client, key, db) -> None:
    ats, recruiter, admin = await key("integration"), await key("recruiter"), await key("hr_admin")
    created = await client.post("/v1/screenings", json=screening_body(), headers=ats)
    assert created.status_code == 201
    path = "/v1/candidates/cand-001/demographics"
    assert_problem(await client.put(path, json=SELF_ID, headers=recruiter), 403, "forbidden")
    assert_problem(await client.get(path, headers=admin), 404, "not-found")
    recorded = await client.put(path, json=SELF_ID, headers=admin)
    assert recorded.status_code == 200 and recorded.json()["sex"] == "female"
    assert (await client.get(path, headers=admin)).json()["race_ethnicity"] == "two_or_more_races"
    assert_problem(await client.get(path, headers=recruiter), 403, "forbidden")
    problem = assert_problem(await client.put(path, json={"sex": "robot"}, headers=admin), 422, "validation-error")
    assert problem["errors"][0]["path"] == "sex"

    record_id = created.json()["id"]
    shown = [
        (await client.get(f"/v1/screenings/{record_id}", headers=admin)).text,
        (await client.get(f"/v1/screenings/{record_id}/export", headers=admin)).text,
        (await client.get(f"/v1/screenings/{record_id}/audit", headers=admin)).text,
    ]
    for text in shown:
        assert "two_or_more_races" not in text and "female" not in text

    other_org = await key("hr_admin", org="globex")
    assert_problem(await client.get(path, headers=other_org), 404, "not-found")


async def test_erased_with_the_candidate(client, key, db) -> None:
    ats, admin = await key("integration"), await key("hr_admin")
    await client.post("/v1/screenings", json=screening_body(), headers=ats)
    await client.put("/v1/candidates/cand-001/demographics", json=SELF_ID, headers=admin)
    await client.put("/v1/candidates/only-self-id/demographics", json={"sex": "male"}, headers=admin)

    assert (await client.delete("/v1/candidates/cand-001", headers=admin)).status_code == 200
    erased_alone = await client.delete("/v1/candidates/only-self-id", headers=admin)
    assert erased_alone.status_code == 200 and erased_alone.json()["erased_screenings"] == 0
    async with db() as session:
        assert (await session.execute(select(DemographicRecord))).first() is None
    assert_problem(await client.get("/v1/candidates/cand-001/demographics", headers=admin), 404, "not-found")
    assert_problem(await client.delete("/v1/candidates/only-self-id", headers=admin), 404, "not-found")


async def test_withdrawn_on_request(client, key, db) -> None:
    admin = await key("hr_admin")
    path = "/v1/candidates/cand-9/demographics"
    await client.put(path, json=SELF_ID, headers=admin)
    assert (await client.delete(path, headers=admin)).status_code == 204
    assert_problem(await client.delete(path, headers=admin), 404, "not-found")
    async with db() as session:
        events = (await session.execute(select(AuditEvent))).scalars().all()
    assert [e.action for e in events] == ["demographics_recorded", "demographics_deleted"]
    assert "female" not in json.dumps([e.details for e in events]), "the audit says that, never what"
