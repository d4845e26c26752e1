"""Calibration through the API with the real model and database: gold validation, the job, the agreement
report, what-if that leaves records untouched, a new immutable version, provenance, erasure, tenants.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
import pytest_asyncio
import tomli_w
from api_support import assert_problem
from litestar import Litestar
from sqlalchemy import select
from synthetic_policy import jsonl, policy_gold_lines, policy_rubric_dict
from ui_support import sign_in

from api.app import create_app
from api.db import calibrations
from api.db.models import Calibration, GoldAnswerRecord, ModelResult, Review, RubricUpload, Screening, utcnow
from api.settings import Settings

pytestmark = pytest.mark.asyncio

RUBRIC_ID = "parcel-policy"
BASE = "/v1/rubrics/parcel-policy/calibrations"
VOUCHER = "I'd say sorry, give them a ten pound voucher for the wait, and phone them back tomorrow."
REFUND = "I'd apologise, refund the whole order straight away, and call them back today."


@pytest_asyncio.fixture
async def app(settings: Settings, scorer) -> AsyncIterator[Litestar]:
    """The app with fewer bootstrap resamples than the default (the intervals are not under test here),
    and no polling: a queued calibration must wake its worker.
    """
    yield create_app(
        msgspec.structs.replace(settings, calibration_resamples=100, calibration_poll_seconds=3600), scorer=scorer
    )


def _gold(lines: list[dict[str, Any]] | None = None) -> str:
    return jsonl(policy_gold_lines() if lines is None else lines).decode("utf-8")


async def _upload_rubric(client, admin: dict[str, str]) -> None:
    uploaded = await client.post("/v1/rubrics", json={"toml": tomli_w.dumps(policy_rubric_dict())}, headers=admin)
    assert uploaded.status_code == 201, uploaded.text


async def _screen(client, ats: dict[str, str], candidate: str, text: str) -> str:
    body = {
        "candidate_id": candidate,
        "application_id": f"app-{candidate}",
        "rubric": {"id": RUBRIC_ID},
        "answers": [{"question_id": "late-parcel", "text": text}],
    }
    created = await client.post("/v1/screenings", json=body, headers=ats)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _done(client, admin: dict[str, str], location: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = (await client.get(location, headers=admin)).json()
        if shown["status"] in ("done", "failed"):
            return shown
        await asyncio.sleep(0.5)
    raise AssertionError(f"calibration not finished in {timeout} s")


async def _stored_state(db) -> list[tuple[Any, ...]]:
    async with db() as session:
        screenings = (await session.execute(select(Screening.id, Screening.report, Screening.status))).all()
        results = (await session.execute(select(ModelResult.screening_id, ModelResult.seq, ModelResult.report))).all()
        reviews = (await session.execute(select(Review.id, Review.level))).all()
    return sorted(map(tuple, screenings)) + sorted(map(tuple, results)) + sorted(map(tuple, reviews))


async def test_gold_is_validated_by_line_and_field_for_hr_admin_only(client, key) -> None:
    admin, recruiter = await key("hr_admin"), await key("recruiter")
    await _upload_rubric(client, admin)
    lines = policy_gold_lines()
    lines[1] = {**lines[1], "question_id": "no-such-question"}
    lines[3] = {**lines[3], "ratings": {"ownership": 9}}
    problem = assert_problem(await client.post(BASE, json={"gold": _gold(lines)}, headers=admin), 422, "invalid-gold")
    paths = {e["path"] for e in problem["errors"]}
    assert "gold: line 2: question_id" in paths and any(p.startswith("gold: line 4: ratings.ownership") for p in paths)

    csv = "candidate_id,question_id,text,ownership\nc1,late-parcel,I'd help.,3\n"
    one = assert_problem(
        await client.post(BASE, json={"gold": csv, "format": "csv"}, headers=admin), 422, "validation-error"
    )
    assert one["errors"][0]["path"] == "gold"
    unknown = await client.post(BASE, json={"gold": _gold(), "rubric_version": "9.9.9"}, headers=admin)
    assert assert_problem(unknown, 422, "validation-error")["errors"][0]["path"] == "rubric_version"
    assert_problem(await client.post(BASE, json={"gold": _gold()}, headers=recruiter), 403, "forbidden")
    assert_problem(await client.get(BASE, headers=recruiter), 403, "forbidden")
    assert_problem(
        await client.post("/v1/rubrics/nope/calibrations", json={"gold": _gold()}, headers=admin), 404, "not-found"
    )
    extra = await client.post(BASE, json={"gold": _gold(), "folds": 1}, headers=admin)
    assert assert_problem(extra, 422, "validation-error")["errors"][0]["path"] == "folds"
    wide = "candidate_id,question_id,text," + ",".join(f"x{i}" for i in range(5000)) + "\n"
    header = assert_problem(
        await client.post(BASE, json={"gold": wide, "format": "csv"}, headers=admin), 422, "invalid-gold"
    )
    assert header["errors"][0]["path"] == "gold: line 1: (header)"
    assert_problem(await client.get("/v1/rubrics/nope/calibrations", headers=admin), 404, "not-found")


async def test_calibrate_what_if_save_and_erase(client, key, db) -> None:  # noqa: PLR0915 (one story, told in order)
    admin, ats, other = await key("hr_admin"), await key("integration"), await key("hr_admin", org="globex")
    recruiter = await key("recruiter")
    await _upload_rubric(client, admin)
    ids = {
        "c01": await _screen(client, ats, "c01", VOUCHER),
        "z-refund": await _screen(client, ats, "z-refund", REFUND),
        "z-voucher": await _screen(client, ats, "z-voucher", "I'd apologise, offer them a voucher for the delay."),
    }
    override = {"action": "override", "target": "overall", "level": 2, "reason": "Interview showed otherwise."}
    reviewed = await client.post(f"/v1/screenings/{ids['z-voucher']}/reviews", json=override, headers=recruiter)
    assert reviewed.status_code == 201, reviewed.text
    before = await _stored_state(db)

    created = await client.post(BASE, json={"gold": _gold()}, headers=admin)
    assert created.status_code == 202, created.text
    second = await client.post(BASE, json={"gold": _gold(), "seed": 1}, headers=admin)  # saved after an erasure
    assert second.status_code == 202, second.text
    location = created.headers["location"]
    calibration_id = created.json()["id"]
    assert location.endswith(calibration_id) and created.json()["status"] in ("queued", "running", "done")
    again = await client.post(BASE, json={"gold": _gold()}, headers=admin)
    assert again.status_code == 200 and again.json()["id"] == calibration_id
    assert_problem(await client.get(location, headers=other), 404, "not-found")
    assert_problem(await client.get(BASE, headers=other), 404, "not-found")  # not even the rubric is theirs
    shown = await _done(client, admin, location)
    assert shown["status"] == "done", shown["error"]
    report = shown["result"]["report"]
    before_qwk, after_qwk = report["overall"]["before"]["qwk"]["value"], report["overall"]["after"]["qwk"]["value"]
    assert after_qwk > before_qwk + 0.2, (before_qwk, after_qwk)
    assert report["overall"]["raters"] is not None and report["answers"] == 31

    await sign_in(client, admin)  # HR's page of the finished calibration renders its figures
    page = await client.get(f"/ui/rubrics/{RUBRIC_ID}/calibrations/{calibration_id}")
    assert page.status_code == 200, page.text
    assert f"{after_qwk:.2f}" in page.text and "overall" in page.text and "What if" in page.text

    what_if = shown["result"]["what_if"]
    assert what_if["considered"] == 3 and what_if["summary"]["with_human_decision"] == 1
    rows = {r["screening_id"]: r for r in what_if["changes"]}
    levels = {name: (rows[i]["current"], rows[i]["calibrated"]) for name, i in ids.items()}
    # HR's policy: a voucher is strong, a refund weak (the references said the opposite)
    assert levels["c01"][1] > levels["c01"][0] + 1 and levels["c01"][1] > levels["z-refund"][1] + 1, levels
    assert rows[ids["z-voucher"]]["human_decision"] == 2
    assert rows[ids["c01"]]["in_gold"] and not rows[ids["z-refund"]]["in_gold"]
    assert await _stored_state(db) == before  # what-if changed no stored result and no review

    exists = await client.post(f"{location}/fit", json={"version": "1.0.0"}, headers=admin)
    assert_problem(exists, 409, "rubric-version-exists")
    assert_problem(await client.post(f"{location}/fit", json={"version": "1.1.0"}, headers=other), 404, "not-found")
    saved = await client.post(f"{location}/fit", json={"version": "1.1.0"}, headers=admin)
    assert saved.status_code == 201, saved.text
    assert saved.json()["rubric"]["references"] > 2
    assert_problem(
        await client.post(f"{location}/fit", json={"version": "1.2.0"}, headers=admin), 409, "calibration-already-saved"
    )
    changed = policy_rubric_dict() | {"version": "1.1.0", "title": "Replaced"}
    replaced = await client.post("/v1/rubrics", json={"toml": tomli_w.dumps(changed)}, headers=admin)
    assert_problem(replaced, 409, "rubric-version-immutable")  # a saved calibration is never replaced
    forged = policy_rubric_dict() | {
        "version": "3.0.0",
        "calibration": {
            "base_version": "1.0.0",
            "base_fingerprint": "sha256:" + "0" * 64,
            "gold_digest": "sha256:" + "1" * 64,
            "anchors": 999,
            "answers": 999,
            "candidates": 999,
            "calibration_id": calibration_id,
        },
    }
    refused = await client.post("/v1/rubrics", json={"toml": tomli_w.dumps(forged)}, headers=admin)
    assert assert_problem(refused, 422, "validation-error")["errors"][0]["path"] == "calibration.calibration_id"
    versions = {
        v["version"]: v for v in (await client.get(f"/v1/rubrics/{RUBRIC_ID}", headers=admin)).json()["versions"]
    }
    async with db() as session:
        base_toml = (
            await session.execute(select(RubricUpload.toml).where(RubricUpload.version == "1.0.0"))
        ).scalar_one()
    assert set(versions) == {"1.0.0", "1.1.0"} and base_toml == tomli_w.dumps(policy_rubric_dict())

    new = await _screen(client, ats, "z-new", VOUCHER)
    provenance = (await client.get(f"/v1/screenings/{new}", headers=admin)).json()["report"]["provenance"]
    assert provenance["rubric_version"] == "1.1.0"
    assert provenance["calibration"]["calibration_id"] == calibration_id
    assert provenance["calibration"]["base_version"] == "1.0.0"
    old = (await client.get(f"/v1/screenings/{ids['c01']}", headers=admin)).json()["report"]["provenance"]
    assert old["rubric_version"] == "1.0.0" and old["calibration"] is None

    card = (await client.get(f"/v1/rubrics/{RUBRIC_ID}/versions/1.1.0/card", headers=admin)).json()["calibration"]
    assert card["kind"] == "calibrated" and card["calibration_id"] == calibration_id
    assert card["figures"][-1]["dimension_id"] == "overall" and card["figures"][-1]["qwk"]["value"] == after_qwk
    base_card = (await client.get(f"/v1/rubrics/{RUBRIC_ID}/versions/1.0.0/card", headers=admin)).json()
    assert base_card["calibration"]["kind"] == "evaluated"

    # erasure: the candidate's gold answers go, and what the stored result quoted of them
    assert (await client.delete("/v1/candidates/c02", headers=admin)).json()["erased_screenings"] == 0
    assert (await client.delete("/v1/candidates/c01", headers=admin)).status_code == 200
    async with db() as session:
        left = set((await session.execute(select(GoldAnswerRecord.candidate_id))).scalars())
        blob = (await session.execute(select(Calibration.result).where(Calibration.id == calibration_id))).scalar_one()
    assert "c01" not in left and "c02" not in left and len(left) == 29
    result = json.loads(blob)
    assert all(d["candidate_id"] not in ("c01", "c02") for d in result["report"]["disagreements"])
    assert all(r["candidate_id"] != "c01" for r in result["what_if"]["changes"])
    assert result["what_if"]["considered"] == 2
    later = await _done(client, admin, second.headers["location"])
    assert later["status"] == "done", later["error"]
    stale = await client.post(f"{second.headers['location']}/fit", json={"version": "1.2.0"}, headers=admin)
    assert_problem(stale, 409, "calibration-gold-changed")  # its figures describe gold that was erased


def _row(ident: str, status: str, lease: timedelta | None = None) -> Calibration:
    now = utcnow()
    return Calibration(
        id=ident,
        org_id="acme",
        rubric_id=RUBRIC_ID,
        rubric_version="1.0.0",
        rubric_fingerprint="sha256:" + "0" * 64,
        gold_digest="sha256:" + "1" * 64,
        answers=2,
        candidates=2,
        folds=2,
        seed=0,
        status=status,
        attempts=1,
        lease_until=None if lease is None else now + lease,
        created_by="k",
        created_at=now,
        updated_at=now,
    )


async def test_only_a_finished_calibration_is_saved(client, key, db) -> None:
    admin = await key("hr_admin")
    await _upload_rubric(client, admin)
    async with db() as session, session.begin():
        session.add(_row("failed-one", "failed"))
    refused = await client.post(f"{BASE}/failed-one/fit", json={"version": "2.0.0"}, headers=admin)
    assert_problem(refused, 409, "calibration-not-done")
    bad = await client.post(f"{BASE}/failed-one/fit", json={"version": "not a version"}, headers=admin)
    assert assert_problem(bad, 422, "validation-error")["errors"][0]["path"] == "version"


async def test_a_lapsed_lease_is_claimed_again_and_a_live_one_is_not(db) -> None:
    async with db() as session, session.begin():
        session.add_all(
            [_row("live", "running", timedelta(minutes=5)), _row("lapsed", "running", -timedelta(seconds=1))]
        )
    async with db() as session, session.begin():
        assert await calibrations.claim(session, timedelta(minutes=2)) == ("lapsed", 2)
    async with db() as session, session.begin():
        assert await calibrations.claim(session, timedelta(minutes=2)) is None
        assert not await calibrations.renew_lease(session, "lapsed", 1, timedelta(minutes=2))  # taken over
        assert await calibrations.renew_lease(session, "lapsed", 2, timedelta(minutes=2))
