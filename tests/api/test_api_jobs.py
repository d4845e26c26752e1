"""Asynchronous screenings on the embedded default (SQLite, no Redis): the in-process runner, the real model.

``Prefer: respond-async`` and NDJSON batches answer 202 with a job; the job's record is the one the
synchronous call makes; a batch with a bad line is refused line by line with nothing queued.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import pytest_asyncio
from api_support import EXAMPLES, RUBRIC, assert_problem, raw_report, screening_body
from conftest import make_settings
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from api import erasure_service
from api.app import create_app
from api.auth import Principal
from api.db.engine import create_engine, session_factory
from api.db.models import Screening as ScreeningRow
from api.db.models import ScreeningJob, ScreeningJobItem

pytestmark = pytest.mark.asyncio
ASYNC = {"Prefer": "respond-async"}
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def settings(tmp_path):
    """The embedded default, with a small batch limit so the limit itself is tested."""
    return make_settings("embedded", tmp_path, max_batch_lines=20, job_batch_size=4, job_poll_seconds=0.2)


@pytest_asyncio.fixture
async def client(settings, scorer):
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as test_client:
        yield test_client


def ndjson(*bodies: Any) -> bytes:
    return b"".join((b if isinstance(b, bytes) else json.dumps(b).encode()) + b"\n" for b in bodies)


async def finished(client, headers: dict[str, str], job_id: str, seconds: float = 120) -> dict[str, Any]:
    """Poll the job until it is scored or failed."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        job = (await client.get(f"/v1/screening-jobs/{job_id}", headers=headers)).json()
        if job["status"] in ("scored", "failed"):
            return job
        await asyncio.sleep(0.2)
    pytest.fail(f"job {job_id} did not finish: {job}")


async def count(settings, model, **where: Any) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return (await session.execute(query)).scalar_one()
    finally:
        await engine.dispose()


def _without_ids(record: dict[str, Any]) -> dict[str, Any]:
    """The record less what names this one copy: its id and when it was made."""
    masked = {k: v for k, v in record.items() if k not in ("id", "created_at", "updated_at")}
    masked["history"] = [{k: v for k, v in h.items() if k != "created_at"} for h in record["history"]]
    return masked


async def test_an_async_screening_stores_the_record_the_sync_call_makes(client, key) -> None:
    ats = await key("integration")
    body = screening_body(1)
    sync = await client.post("/v1/screenings", json=body, headers=ats)
    assert sync.status_code == 201, sync.text
    accepted = await client.post("/v1/screenings", json=body, headers={**ats, **ASYNC})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Preference-Applied"] == "respond-async"
    job = accepted.json()
    assert accepted.headers["Location"] == f"/v1/screening-jobs/{job['id']}"
    assert job["kind"] == "single" and job["status"] == "queued" and job["progress"]["total"] == 1
    done = await finished(client, ats, job["id"])
    assert done["status"] == "scored" and done["problem"] is None and done["finished_at"]
    assert done["progress"] == {"total": 1, "waiting": 0, "scored": 1, "failed": 0, "rejected_lines": 0}
    stored = await client.get(f"/v1/screenings/{done['screening_id']}", headers=ats)
    assert stored.status_code == 200
    assert raw_report(stored.content) == raw_report(sync.content)  # the model's report, byte for byte
    assert _without_ids(stored.json()) == _without_ids(sync.json())


async def test_a_reused_key_returns_the_job_and_makes_one_record(client, key, settings) -> None:
    ats = await key("integration")
    headers = {**ats, **ASYNC, "Idempotency-Key": "async-1"}
    first = await client.post("/v1/screenings", json=screening_body(2), headers=headers)
    again = await client.post("/v1/screenings", json=screening_body(2), headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    other = await client.post("/v1/screenings", json=screening_body(0, application_id="other"), headers=headers)
    assert_problem(other, 409, "idempotency-conflict")
    done = await finished(client, ats, first.json()["id"])
    # the synchronous call with the same key replays the job's record
    sync = await client.post("/v1/screenings", json=screening_body(2), headers={**ats, "Idempotency-Key": "async-1"})
    assert sync.status_code == 201 and sync.json()["id"] == done["screening_id"]
    assert await count(settings, ScreeningRow) == 1


async def test_an_async_request_is_checked_before_it_is_accepted(client, key, settings) -> None:
    ats = await key("integration")
    unknown = await client.post(
        "/v1/screenings", json=screening_body(0, rubric={"id": "no-such-rubric"}), headers={**ats, **ASYNC}
    )
    assert_problem(unknown, 422, "unknown-rubric")
    wrong = screening_body(0)
    wrong["answers"][0]["question_id"] = "no-such-question"
    assert_problem(await client.post("/v1/screenings", json=wrong, headers={**ats, **ASYNC}), 422, "invalid-answers")
    assert await count(settings, ScreeningJob) == 0


async def test_a_batch_is_scored_with_progress_and_one_record_per_line(client, key, settings) -> None:
    ats = await key("integration")
    lines = [screening_body(i % len(EXAMPLES), application_id=f"batch-{i}") for i in range(6)]
    accepted = await client.post("/v1/screening-jobs", content=ndjson(*lines), headers={**ats, **NDJSON})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["kind"] == "batch" and job["progress"]["total"] == 6
    done = await finished(client, ats, job["id"])
    assert done["status"] == "scored" and done["progress"]["scored"] == 6 and done["progress"]["waiting"] == 0
    first = (await client.get(f"/v1/screening-jobs/{job['id']}/items?limit=4", headers=ats)).json()
    rest = (await client.get(f"/v1/screening-jobs/{job['id']}/items?after={first['next_after']}", headers=ats)).json()
    items = first["items"] + rest["items"]
    assert [i["line"] for i in items] == [1, 2, 3, 4, 5, 6] and rest["next_after"] is None
    assert all(i["status"] == "scored" and i["attempts"] == 1 for i in items)
    for item, line in zip(items, lines, strict=True):
        record = (await client.get(f"/v1/screenings/{item['screening_id']}", headers=ats)).json()
        assert record["application_id"] == line["application_id"]
    # scored together with the batch's other lines, each report is still the one a lone sync call makes
    sync = await client.post("/v1/screenings", json=lines[4], headers=ats)
    batched = await client.get(f"/v1/screenings/{items[4]['screening_id']}", headers=ats)
    assert raw_report(batched.content) == raw_report(sync.content)
    assert await count(settings, ScreeningRow) == 7
    scraped = (await client.get("/metrics")).text
    assert 'screening_job_items{state="scored"} 6.0' in scraped


async def test_a_bad_line_refuses_the_batch_line_by_line(client, key, settings) -> None:
    ats = await key("integration")
    unknown_field = {**screening_body(0), "salary": 1}
    too_long = screening_body(1)
    too_long["answers"][0]["text"] = "x" * (settings.max_answer_chars + 1)
    wrong_question = screening_body(2)
    wrong_question["answers"][0]["question_id"] = "nope"
    body = ndjson(
        screening_body(0),
        unknown_field,
        b"{not json",
        b"",
        too_long,
        wrong_question,
        screening_body(2, rubric={"id": "x"}),
    )
    refused = await client.post("/v1/screening-jobs", content=body, headers={**ats, **NDJSON})
    problem = assert_problem(refused, 422, "validation-error")
    paths = [e["path"] for e in problem["errors"]]
    assert "line 2: salary" in paths
    assert any(p.startswith("line 3") for p in paths)
    assert "line 5: answers[0].text" in paths  # line 4 was blank: lines keep their numbers in the body
    assert any(p.startswith("line 6: ") for p in paths)
    assert "line 7: rubric.id" in paths
    assert not any(p.startswith("line 1") for p in paths)
    assert await count(settings, ScreeningJob) == 0 and await count(settings, ScreeningJobItem) == 0

    partial = await client.post("/v1/screening-jobs?partial=allow", content=body, headers={**ats, **NDJSON})
    assert partial.status_code == 202, partial.text
    job = partial.json()
    assert job["progress"]["total"] == 1 and job["progress"]["rejected_lines"] == 5
    assert job["problem"]["status"] == 422 and any(e["path"] == "line 2: salary" for e in job["problem"]["errors"])
    assert (await finished(client, ats, job["id"]))["progress"]["scored"] == 1


async def test_batch_bodies_are_bounded(client, key, settings) -> None:
    ats = await key("integration")
    many = ndjson(*[screening_body(0, application_id=f"a-{i}") for i in range(settings.max_batch_lines + 1)])
    assert_problem(
        await client.post("/v1/screening-jobs", content=many, headers={**ats, **NDJSON}), 413, "payload-too-large"
    )
    as_json = await client.post("/v1/screening-jobs", content=ndjson(screening_body(0)), headers=ats)
    assert_problem(as_json, 415, "unsupported-media-type")
    assert_problem(
        await client.post("/v1/screening-jobs", content=b"\n\n", headers={**ats, **NDJSON}), 422, "validation-error"
    )
    flood = b"1\n" * (3 * settings.max_batch_lines + 2000)  # refused before any line is cut or decoded
    assert_problem(
        await client.post("/v1/screening-jobs", content=flood, headers={**ats, **NDJSON}), 413, "payload-too-large"
    )
    blanks = b"\n" * (2 * settings.max_batch_lines) + ndjson(screening_body(0))  # blank lines tolerated, within bounds
    assert (
        await client.post("/v1/screening-jobs?partial=allow", content=blanks, headers={**ats, **NDJSON})
    ).status_code == 202
    huge_cursor = await client.get("/v1/screening-jobs/x/items", params={"after": 2**63}, headers=ats)
    assert_problem(huge_cursor, 422, "validation-error")
    nul = await client.post("/v1/screening-jobs", content=b'{"candidate_id": "a\\u0000"}\n', headers={**ats, **NDJSON})
    assert_problem(nul, 422, "validation-error")
    partial = await client.post(
        "/v1/screening-jobs?partial=sometimes", content=ndjson(screening_body(0)), headers={**ats, **NDJSON}
    )
    assert_problem(partial, 422, "validation-error")
    recruiter = await key("recruiter")
    assert_problem(
        await client.post("/v1/screening-jobs", content=ndjson(screening_body(0)), headers={**recruiter, **NDJSON}),
        403,
        "forbidden",
    )
    assert await count(settings, ScreeningJob) == 1  # the one within bounds


async def test_another_organisations_job_is_not_found(client, key) -> None:
    ats = await key("integration")
    job = (await client.post("/v1/screenings", json=screening_body(0), headers={**ats, **ASYNC})).json()
    other = await key("integration", org="globex")
    assert_problem(await client.get(f"/v1/screening-jobs/{job['id']}", headers=other), 404, "not-found")
    assert_problem(await client.get(f"/v1/screening-jobs/{job['id']}/items", headers=other), 404, "not-found")
    assert (await client.get(f"/v1/screening-jobs/{job['id']}", headers=ats)).status_code == 200
    await finished(client, ats, job["id"])
    assert RUBRIC


async def test_a_candidate_erased_while_their_item_is_scored_stays_erased(client, key, settings) -> None:
    ats = await key("integration")
    services = client.app.state.services
    score_many = services.score_many
    erased: list[int] = []
    admin = Principal(key_id="test-admin", org_id="acme", role="hr_admin")

    async def erase_while_scoring(rubric: Any, candidates: Any) -> Any:
        reports = await score_many(rubric, candidates)  # the answers are scored, not yet stored ...
        async with services.sessions() as session:  # ... when the candidate asks to be erased
            erased.append((await erasure_service.erase(services, session, admin, "cand-erased-in-flight"))[0])
        return reports

    services.score_many = erase_while_scoring
    body = screening_body(0, candidate_id="cand-erased-in-flight")
    accepted = await client.post("/v1/screening-jobs", content=ndjson(body), headers={**ats, **NDJSON})
    assert accepted.status_code == 202, accepted.text
    done = await finished(client, ats, accepted.json()["id"])
    assert len(erased) == 1, "erased once, while the item was being scored"
    assert done["status"] == "failed" and done["progress"]["failed"] == 1
    [item] = (await client.get(f"/v1/screening-jobs/{done['id']}/items", headers=ats)).json()["items"]
    assert item["status"] == "failed" and item["problem"]["type"].endswith("/erased") and item["screening_id"] is None
    assert item["attempts"] == 1, "refused for good, not retried"
    assert await count(settings, ScreeningRow, candidate_id="cand-erased-in-flight") == 0
