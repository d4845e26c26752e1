"""Human reviews beside the model, re-scoring that never overwrites them, and erasure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import EXAMPLES, assert_problem, raw_report, screening_body
from sqlalchemy import select

from api.db.models import AuditEvent, ModelResult, Review, Screening

pytestmark = pytest.mark.asyncio


async def _create(client, key, example: int = 0) -> dict:
    response = await client.post("/v1/screenings", json=screening_body(example), headers=await key("integration"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_reviews_survive_rescoring(client, key, db) -> None:
    ats = await key("integration")
    created = await client.post("/v1/screenings", json=screening_body(0), headers=ats)
    record = created.json()
    recruiter = await key("recruiter")
    url = f"/v1/screenings/{record['id']}"
    dimension = next(d for d in record["decision"]["dimensions"] if d["model_level"] is not None)

    override = await client.post(
        f"{url}/reviews",
        headers=recruiter,
        json={"target": "overall", "action": "override", "level": 2.0, "reason": "Spoke to referees."},
    )
    assert override.status_code == 201, override.text
    confirm = await client.post(
        f"{url}/reviews",
        headers=recruiter,
        json={"target": dimension["dimension_id"], "action": "confirm", "reason": "Agree with it."},
    )
    assert confirm.status_code == 201, confirm.text
    reviewed = confirm.json()
    assert reviewed["status"] == "reviewed"
    overall = reviewed["decision"]["overall"]
    assert overall["stands"] == "human" and overall["human_level"] == 2.0
    assert overall["model_level"] == record["decision"]["overall"]["model_level"]
    confirmed = next(d for d in reviewed["decision"]["dimensions"] if d["dimension_id"] == dimension["dimension_id"])
    assert confirmed["stands"] == "human" and confirmed["human_level"] == dimension["model_level"]
    assert [r["action"] for r in reviewed["reviews"]] == ["override", "confirm"]
    assert reviewed["reviews"][0]["reason"] == "Spoke to referees."

    rescored = await client.post(f"{url}/rescore", headers=recruiter)
    assert rescored.status_code == 200, rescored.text
    after = rescored.json()
    assert [h["seq"] for h in after["history"]] == [1, 2]
    assert [h["current"] for h in after["history"]] == [False, True]
    assert after["reviews"] == reviewed["reviews"]
    assert after["status"] == "reviewed"
    assert after["decision"]["overall"]["stands"] == "human"
    assert after["decision"]["overall"]["level"] == 2.0

    audit = (await client.get(f"{url}/audit", headers=recruiter)).json()["entries"]
    assert [e["action"] for e in audit] == ["created", "reviewed", "reviewed", "rescored"]
    assert audit[3]["details"]["from_result"] == 1 and audit[3]["details"]["to_result"] == 2
    async with db() as session:
        kept = (await session.execute(select(ModelResult).where(ModelResult.screening_id == record["id"]))).scalars()
        assert {r.seq: r.report for r in kept}[1] == raw_report(created.content), (
            "the old model result is kept as it was"
        )


async def test_review_errors(client, key) -> None:
    record = await _create(client, key)
    recruiter = await key("recruiter")
    url = f"/v1/screenings/{record['id']}/reviews"
    cases = [
        ({"target": "overall", "action": "override", "level": 2.0}, "reason"),
        ({"target": "overall", "action": "override", "reason": "No level given"}, "level"),
        ({"target": "overall", "action": "override", "level": 99, "reason": "Off the scale"}, "level"),
        ({"target": "patience", "action": "confirm", "reason": "No such dimension"}, "target"),
        ({"target": "overall", "action": "approve", "reason": "Bad action"}, "action"),
    ]
    for body, field in cases:
        problem = assert_problem(await client.post(url, json=body, headers=recruiter), 422, "validation-error")
        assert any(e["path"] == field for e in problem["errors"]), problem
    assert_problem(
        await client.post(
            url,
            headers=await key("integration"),
            json={"target": "overall", "action": "confirm", "reason": "Not allowed"},
        ),
        403,
        "forbidden",
    )


async def test_audit_records_views_and_exports(client, key) -> None:
    record = await _create(client, key)
    admin = await key("hr_admin")
    await client.get(f"/v1/screenings/{record['id']}", headers=admin)
    exported = await client.get(f"/v1/screenings/{record['id']}/export", headers=admin)
    assert exported.status_code == 200
    assert exported.json()["answers"]["candidate_id"] == record["candidate_id"]
    assert [r["seq"] for r in exported.json()["model_results"]] == [1]
    assert exported.json()["model_results"][0]["report"]["overall"] == exported.json()["screening"]["report"]["overall"]
    entries = (await client.get(f"/v1/screenings/{record['id']}/audit", headers=admin)).json()["entries"]
    assert [e["action"] for e in entries] == ["created", "viewed", "exported"]
    assert {e["actor_role"] for e in entries} == {"integration", "hr_admin"}
    assert all(e["actor_key_id"] for e in entries)


async def test_erasure(client, key, db, settings) -> None:
    first = await _create(client, key, 0)
    other = await _create(client, key, 1)
    recruiter, admin = await key("recruiter"), await key("hr_admin")
    await client.post(
        f"/v1/screenings/{first['id']}/reviews",
        headers=recruiter,
        json={"target": "overall", "action": "override", "level": 3, "reason": "Candidate cand-001 is fine"},
    )
    assert_problem(await client.delete("/v1/candidates/cand-001", headers=recruiter), 403, "forbidden")

    erased = await client.delete("/v1/candidates/cand-001", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased_screenings"] == 1

    assert_problem(await client.get(f"/v1/screenings/{first['id']}", headers=admin), 410, "erased")
    assert_problem(await client.post(f"/v1/screenings/{first['id']}/rescore", headers=admin), 410, "erased")
    listed = (await client.get("/v1/screenings", params={"candidate_id": "cand-001"}, headers=admin)).json()
    assert listed["items"] == []
    audit = (await client.get(f"/v1/screenings/{first['id']}/audit", headers=admin)).json()["entries"]
    assert audit[-1]["action"] == "erased"
    assert "cand-001" not in json.dumps(audit) and "app-cand-001" not in json.dumps(audit)

    async with db() as session:
        assert await session.get(Screening, first["id"]) is None, "rows are deleted, not nulled"
        for table in (ModelResult, Review):
            assert (await session.execute(select(table).where(table.screening_id == first["id"]))).first() is None
        events = (await session.execute(select(AuditEvent))).scalars().all()
        assert "cand-001" not in json.dumps([e.details for e in events])
        untouched = await session.get(Screening, other["id"])
        assert untouched.report is not None and untouched.candidate_id == "cand-002"

    assert_problem(await client.delete("/v1/candidates/cand-001", headers=admin), 404, "not-found")
    if settings.embedded:  # nothing of the erased answers is left in the database file or its write-ahead log
        database = Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))
        erased_text = EXAMPLES[0]["answers"][0]["text"][:40].encode()
        kept_text = EXAMPLES[1]["answers"][0]["text"][:40].encode()
        files = [p.read_bytes() for p in database.parent.glob(database.name + "*")]
        assert any(kept_text in data for data in files), "the other candidate's record is stored as plain text"
        assert not any(erased_text in data for data in files)
