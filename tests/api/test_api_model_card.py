"""The generated model card of a rubric version: provenance with hashes, references per level, limits."""

from __future__ import annotations

import pytest
from api_support import BUILTIN_VERSION, RUBRIC, assert_problem, screening_body

pytestmark = pytest.mark.asyncio


async def test_model_card(client, key, scorer) -> None:
    ats, recruiter, admin = await key("integration"), await key("recruiter"), await key("hr_admin")
    path = f"/v1/rubrics/{RUBRIC}/versions/{BUILTIN_VERSION}/card"
    response = await client.get(path, headers=recruiter)
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["rubric_version"] == BUILTIN_VERSION
    scored = (await client.post("/v1/screenings", json=screening_body(), headers=ats)).json()
    assert card["provenance"] == scored["report"]["provenance"], "the card names what scores are made with"
    assert card["intended_use"] and card["not_measured"] and card["known_limits"] and card["calibration"]
    levels = {d["id"]: [lc["level"] for lc in d["levels"]] for d in card["dimensions"]}
    assert all(found == [1, 2, 3, 4, 5] for found in levels.values())
    assert card["adverse_impact"] is None, "a recruiter never sees adverse-impact figures"

    await client.put(f"/v1/candidates/{scored['candidate_id']}/demographics", json={"sex": "male"}, headers=admin)
    for_admin = (await client.get(path, headers=admin)).json()
    assert for_admin["adverse_impact"]["candidates"] + for_admin["adverse_impact"]["without_score"] == 1
    assert scored["candidate_id"] not in str(for_admin)

    assert_problem(await client.get(f"/v1/rubrics/{RUBRIC}/versions/9.9/card", headers=admin), 404, "not-found")
    assert_problem(await client.get("/v1/rubrics/nope/versions/1/card", headers=admin), 404, "not-found")
