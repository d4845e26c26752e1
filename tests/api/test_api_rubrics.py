"""Rubrics: built-in for all, uploads per organisation, validation errors, immutability once used."""

from __future__ import annotations

import re

import pytest
from api_support import BUILTIN_VERSION, RUBRIC, assert_problem, screening_body

from screening.paths import builtin_rubrics_dir

pytestmark = pytest.mark.asyncio

BUILTIN_TOML = (builtin_rubrics_dir() / f"{RUBRIC}.toml").read_text()


def rubric_toml(rubric_id: str = "acme-service", version: str = "1.0.0", title: str = "Acme service") -> str:
    """The built-in rubric under another id, version and title (same texts, so embeddings are cached)."""
    text = BUILTIN_TOML.replace(f'id = "{RUBRIC}"', f'id = "{rubric_id}"', 1)
    text = re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', text, count=1)
    return text.replace('title = "Customer service attitude"', f'title = "{title}"', 1)


async def test_builtin_rubrics(client, key) -> None:
    ats = await key("integration")
    listed = (await client.get("/v1/rubrics", headers=ats)).json()
    assert {
        "id": RUBRIC,
        "title": "Customer service attitude",
        "latest_version": BUILTIN_VERSION,
        "versions": ["1.0.0", BUILTIN_VERSION],
        "source": "builtin",
    } in listed
    detail = (await client.get(f"/v1/rubrics/{RUBRIC}", headers=ats)).json()
    assert detail["source"] == "builtin" and detail["latest"]["id"] == RUBRIC
    assert detail["versions"][0]["fingerprint"].startswith("sha256:")
    assert_problem(await client.get("/v1/rubrics/nope", headers=ats), 404, "not-found")


async def test_validate(client, key) -> None:
    admin = await key("hr_admin")
    ok = await client.post("/v1/rubrics/validate", json={"toml": rubric_toml()}, headers=admin)
    assert ok.status_code == 200, ok.text
    assert ok.json()["id"] == "acme-service" and ok.json()["questions"] > 0
    assert isinstance(ok.json()["warnings"], list)
    partial = rubric_toml().replace("level = 1\n", "level = 3\n")
    warned = await client.post("/v1/rubrics/validate", json={"toml": partial}, headers=admin)
    assert warned.status_code == 200, warned.text
    assert any(
        "level(s) 1" in w["message"] and w["location"].startswith("questions[") for w in warned.json()["warnings"]
    )
    broken = rubric_toml().replace('dimension = "ownership", weight = 1.0', 'dimension = "ownershp", weight = 1.0', 1)
    problem = assert_problem(
        await client.post("/v1/rubrics/validate", json={"toml": broken}, headers=admin), 422, "invalid-rubric"
    )
    assert any("ownershp" in e["message"] and e["path"].startswith("questions[0]") for e in problem["errors"]), problem
    problem = assert_problem(
        await client.post("/v1/rubrics/validate", json={"toml": "id = ["}, headers=admin), 422, "invalid-rubric"
    )
    assert problem["errors"][0]["path"] == "toml"


async def test_upload_score_and_immutability(client, key) -> None:
    admin, ats = await key("hr_admin"), await key("integration")
    first = await client.post("/v1/rubrics", json={"toml": rubric_toml()}, headers=admin)
    assert first.status_code == 201, first.text
    same = await client.post("/v1/rubrics", json={"toml": rubric_toml()}, headers=admin)
    assert same.status_code == 200 and same.json() == first.json()
    retitled = await client.post("/v1/rubrics", json={"toml": rubric_toml(title="Acme v1")}, headers=admin)
    assert retitled.status_code == 200, "an unused version may still be corrected"
    detail = (await client.get("/v1/rubrics/acme-service", headers=ats)).json()
    assert detail["latest"]["title"] == "Acme v1" and detail["versions"][0]["used"] is False

    scored = await client.post("/v1/screenings", json=screening_body(rubric={"id": "acme-service"}), headers=ats)
    assert scored.status_code == 201, scored.text
    assert scored.json()["rubric_id"] == "acme-service"

    changed = await client.post("/v1/rubrics", json={"toml": rubric_toml(title="Acme v1 changed")}, headers=admin)
    assert_problem(changed, 409, "rubric-version-immutable")
    again = await client.post("/v1/rubrics", json={"toml": rubric_toml(title="Acme v1")}, headers=admin)
    assert again.status_code == 200
    newer = await client.post("/v1/rubrics", json={"toml": rubric_toml(version="1.1.0")}, headers=admin)
    assert newer.status_code == 201
    detail = (await client.get("/v1/rubrics/acme-service", headers=ats)).json()
    assert [(v["version"], v["used"]) for v in detail["versions"]] == [("1.0.0", True), ("1.1.0", False)]
    pinned = await client.post(
        "/v1/screenings", headers=ats, json=screening_body(rubric={"id": "acme-service", "version": "1.0.0"})
    )
    assert pinned.json()["rubric_version"] == "1.0.0"
    listed = {r["id"]: r for r in (await client.get("/v1/rubrics", headers=ats)).json()}
    assert listed["acme-service"]["versions"] == ["1.0.0", "1.1.0"]
    assert listed["acme-service"]["source"] == "organisation"


async def test_upload_errors(client, key) -> None:
    admin = await key("hr_admin")
    assert_problem(
        await client.post("/v1/rubrics", json={"toml": BUILTIN_TOML}, headers=admin), 409, "rubric-id-reserved"
    )
    assert_problem(await client.post("/v1/rubrics", json={"toml": "title = 3"}, headers=admin), 422, "invalid-rubric")
    problem = assert_problem(
        await client.post("/v1/rubrics", json={"toml": "x", "format": "toml"}, headers=admin), 422, "validation-error"
    )
    assert problem["errors"][0]["path"] == "format"
