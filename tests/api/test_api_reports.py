"""The adverse-impact report over stored screenings: hr_admin only, group figures only, JSON and CSV."""

from __future__ import annotations

import pytest
from api_support import EXAMPLES, RUBRIC, assert_problem, screening_body

pytestmark = pytest.mark.asyncio

SELF_ID = [
    {"sex": "female", "race_ethnicity": "asian"},
    {"sex": "male", "race_ethnicity": "white"},
    {"sex": "female", "race_ethnicity": "declined"},
]


async def test_adverse_impact_report(client, key) -> None:
    ats, recruiter, admin = await key("integration"), await key("recruiter"), await key("hr_admin")
    candidates = []
    for index, self_id in enumerate(SELF_ID):
        created = await client.post("/v1/screenings", json=screening_body(index, answers=1), headers=ats)
        assert created.status_code == 201, created.text
        candidates.append(EXAMPLES[index]["candidate_id"])
        recorded = await client.put(f"/v1/candidates/{candidates[-1]}/demographics", json=self_id, headers=admin)
        assert recorded.status_code == 200

    path = "/v1/reports/adverse-impact"
    assert_problem(await client.get(path, params={"rubric_id": RUBRIC}, headers=recruiter), 403, "forbidden")
    response = await client.get(path, params={"rubric_id": RUBRIC, "cut": 3}, headers=admin)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["candidates"] + report["without_score"] == 3 and report["cut"] == 3
    for grouping in report["groupings"]:  # every scored candidate is in a category, unknown or declined
        counted = sum(c["n"] for c in grouping["categories"]) + grouping["unknown"] + grouping["declined"]
        assert counted == report["candidates"], grouping["grouping"]
    by_race = next(g for g in report["groupings"] if g["grouping"] == "race_ethnicity")
    assert by_race["declined"] <= 1 and by_race["unknown"] == 0
    as_csv = await client.get(f"{path}/csv", params={"rubric_id": RUBRIC, "cut": 3}, headers=admin)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    for text in (response.text, as_csv.text):
        assert not any(candidate in text for candidate in candidates), "group figures only"

    problem = assert_problem(
        await client.get(path, params={"rubric_id": RUBRIC, "cut": 9}, headers=admin), 422, "validation-error"
    )
    assert problem["errors"][0]["path"] == "cut"
    problem = assert_problem(
        await client.get(path, params={"rubric_id": "nope"}, headers=admin), 422, "validation-error"
    )
    assert problem["errors"][0]["path"] == "rubric_id"
    other = await key("hr_admin", org="globex")
    empty = (await client.get(path, params={"rubric_id": RUBRIC}, headers=other)).json()
    assert empty["candidates"] == 0, "another organisation's screenings are not counted"
