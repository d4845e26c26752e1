"""Start-up and durability: readiness while the model loads, unmigrated databases, restarts, atomic writes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from api_support import assert_problem, raw_report, screening_body
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from api import screening_service
from api.app import create_app
from api.db.models import AuditEvent, ModelResult, Screening
from api.settings import Settings
from screening.errors import ModelError

pytestmark = pytest.mark.asyncio


def _messages(exc: BaseException) -> str:
    nested = getattr(exc, "exceptions", ())
    return " ".join([str(exc), *(_messages(e) for e in nested)])


async def _wait_ready(client: AsyncTestClient, seconds: float = 30) -> None:
    for _ in range(int(seconds * 20)):
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never became ready")


async def test_readiness_before_and_after_the_model_loads(settings, scorer, key) -> None:
    release = threading.Event()

    def slow_model():
        release.wait(30)
        return scorer

    ats = await key("integration")
    async with AsyncTestClient(app=create_app(settings, scorer_factory=slow_model)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        problem = assert_problem(await client.get("/readyz"), 503, "not-ready")
        assert "model loading" in problem["detail"]
        early = await client.post("/v1/screenings", json=screening_body(), headers=ats)
        assert_problem(early, 503, "not-ready")
        assert early.headers["retry-after"]
        release.set()
        await _wait_ready(client)
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready" and set(ready["checks"].values()) == {"ok"}
        assert (await client.post("/v1/screenings", json=screening_body(), headers=ats)).status_code == 201


async def test_model_that_fails_to_load_is_reported(settings) -> None:
    def broken():
        raise ModelError("weights do not match the manifest")

    async with AsyncTestClient(app=create_app(settings, scorer_factory=broken)) as client:
        for _ in range(100):
            problem = (await client.get("/readyz")).json()
            if "weights" in problem["detail"]:
                break
            await asyncio.sleep(0.05)
        assert "weights do not match the manifest" in problem["detail"]
        assert (await client.get("/healthz")).status_code == 200


async def test_refuses_to_start_on_an_unmigrated_database(tmp_path, scorer) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(BaseException) as failure:
        async with AsyncTestClient(app=create_app(settings, scorer=scorer)):
            pass
    assert "run `screening db migrate`" in _messages(failure.value)


async def test_restart_reads_back_a_byte_identical_report(settings, scorer, key) -> None:
    ats, recruiter = await key("integration"), await key("recruiter")
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as client:
        created = await client.post("/v1/screenings", json=screening_body(1), headers=ats)
        assert created.status_code == 201
        record_id = created.json()["id"]
        before = await client.get(f"/v1/screenings/{record_id}", headers=recruiter)
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as client:
        after = await client.get(f"/v1/screenings/{record_id}", headers=recruiter)
    assert after.status_code == 200
    assert after.content == before.content
    assert raw_report(after.content) == raw_report(created.content)


async def test_a_failure_mid_request_leaves_nothing_half_written(client, key, db, monkeypatch) -> None:
    ats = await key("integration")

    async def broken_audit(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(screening_service.repo, "add_audit", broken_audit)
    response = await client.post("/v1/screenings", json=screening_body(), headers={**ats, "Idempotency-Key": "k"})
    assert_problem(response, 500, "internal-error")
    monkeypatch.undo()
    async with db() as session:
        for table in (Screening, ModelResult, AuditEvent):
            assert (await session.execute(select(func.count()).select_from(table))).scalar() == 0
    retried = await client.post("/v1/screenings", json=screening_body(), headers={**ats, "Idempotency-Key": "k"})
    assert retried.status_code == 201, "the key was not consumed by the failed request"


async def test_scoring_runs_off_the_event_loop(loop_client, key, app, scorer, monkeypatch) -> None:
    services = app.state.services
    assert services.limiter.total_tokens == services.settings.scoring_concurrency
    real_score = scorer.score

    def slow_score(*args):  # blocking, CPU-style work of a known length
        time.sleep(1.0)
        return real_score(*args)

    monkeypatch.setattr(scorer, "score", slow_score)
    ats = await key("integration")
    scoring = asyncio.create_task(loop_client.post("/v1/screenings", json=screening_body(0), headers=ats))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    health = await loop_client.get("/healthz")
    elapsed = time.monotonic() - started
    assert health.status_code == 200
    assert not scoring.done(), "scoring should still be running"
    assert elapsed < 0.5, f"/healthz waited {elapsed:.2f}s behind scoring"
    assert (await scoring).status_code == 201
