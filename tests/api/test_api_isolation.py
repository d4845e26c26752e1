"""Tenant isolation: another organisation's records and private rubrics are invisible (404), for every endpoint."""

from __future__ import annotations

import pytest
import pytest_asyncio
from api_support import assert_problem, screening_body
from test_api_rubrics import rubric_toml

pytestmark = pytest.mark.asyncio

ROLES = ["integration", "recruiter", "hr_admin"]


@pytest_asyncio.fixture
async def acme(client, key) -> dict:
    """Organisation acme: one screening (with an idempotency key) and a private rubric."""
    ats = await key("integration", org="acme")
    admin = await key("hr_admin", org="acme")
    created = await client.post("/v1/screenings", json=screening_body(0), headers={**ats, "Idempotency-Key": "shared"})
    assert created.status_code == 201
    uploaded = await client.post("/v1/rubrics", json={"toml": rubric_toml("acme-private")}, headers=admin)
    assert uploaded.status_code == 201
    return {"record": created.json(), "admin": admin, "ats": ats}


def _same_shape(problem: dict, missing: dict) -> None:
    assert problem["type"] == missing["type"] and problem["title"] == missing["title"] and problem["status"] == 404


async def test_records_of_another_organisation_are_invisible(client, key, acme) -> None:
    record_id = acme["record"]["id"]
    for role in ROLES:
        globex = await key(role, org="globex")
        missing = assert_problem(
            await client.get("/v1/screenings/00000000-0000-0000-0000-000000000000", headers=globex), 404, "not-found"
        )
        cases = [
            ("GET", f"/v1/screenings/{record_id}", None),
            (
                "POST",
                f"/v1/screenings/{record_id}/reviews",
                {"target": "overall", "action": "override", "level": 1, "reason": "Sneaky"},
            ),
            ("POST", f"/v1/screenings/{record_id}/rescore", None),
            ("GET", f"/v1/screenings/{record_id}/audit", None),
            ("GET", f"/v1/screenings/{record_id}/export", None),
            ("DELETE", "/v1/candidates/cand-001", None),
        ]
        for method, url, body in cases:
            response = await client.request(method, url, json=body, headers=globex)
            if response.status_code == 403:  # the role may not call this endpoint at all
                continue
            _same_shape(assert_problem(response, 404, "not-found"), missing)
        for params in ({}, {"candidate_id": "cand-001"}, {"application_id": "app-cand-001"}, {"status": "scored"}):
            listed = await client.get("/v1/screenings", params=params, headers=globex)
            assert listed.status_code == 200 and listed.json()["items"] == [], (role, params)

    # acme's record is untouched and its audit shows only acme's keys
    admin = acme["admin"]
    record = (await client.get(f"/v1/screenings/{record_id}", headers=admin)).json()
    assert record["candidate_id"] == "cand-001" and record["reviews"] == [] and len(record["history"]) == 1
    audit = (await client.get(f"/v1/screenings/{record_id}/audit", headers=admin)).json()["entries"]
    assert [e["action"] for e in audit] == ["created", "viewed"]


async def test_idempotency_keys_are_per_organisation(client, key, acme) -> None:
    globex = await key("integration", org="globex")
    response = await client.post(
        "/v1/screenings", json=screening_body(1), headers={**globex, "Idempotency-Key": "shared"}
    )
    assert response.status_code == 201
    assert response.json()["id"] != acme["record"]["id"]
    assert response.json()["candidate_id"] == "cand-002"


async def test_private_rubrics_are_invisible(client, key, acme) -> None:
    for role in ROLES:
        globex = await key(role, org="globex")
        ids = [r["id"] for r in (await client.get("/v1/rubrics", headers=globex)).json()]
        assert "acme-private" not in ids and "customer-service-attitude" in ids
        assert_problem(await client.get("/v1/rubrics/acme-private", headers=globex), 404, "not-found")
    globex_ats = await key("integration", org="globex")
    problem = assert_problem(
        await client.post("/v1/screenings", json=screening_body(rubric={"id": "acme-private"}), headers=globex_ats),
        422,
        "unknown-rubric",
    )
    assert "acme-private" not in problem["detail"].split("Available:")[1]
    globex_admin = await key("hr_admin", org="globex")
    own = await client.post(
        "/v1/rubrics", json={"toml": rubric_toml("acme-private", title="Globex's own")}, headers=globex_admin
    )
    assert own.status_code == 201, "each organisation has its own rubric namespace"
    acme_view = (await client.get("/v1/rubrics/acme-private", headers=acme["admin"])).json()
    assert acme_view["latest"]["title"] == "Acme service"
