"""Real ``screening worker`` processes on real PostgreSQL and Redis, with the real model.

A worker killed with SIGKILL mid-job loses nothing and doubles nothing (another worker re-claims its
lapsed items; the idempotency key makes a re-run replay the stored record); SAQ tasks lost with
Redis's data are re-enqueued from the database; an item that fails on every attempt is dead-lettered
(failed, visible in the API and in ``/metrics``); SIGTERM stops a worker cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from api_support import EXAMPLES, screening_body
from conftest import make_settings
from litestar.testing import AsyncTestClient
from redis import Redis
from sqlalchemy import func, select, update
from test_api_jobs import NDJSON, count, finished, ndjson
from test_api_rubrics import rubric_toml

from api.app import create_app
from api.db.engine import create_engine, session_factory
from api.db.models import IdempotencyKey, RubricUpload, Screening, ScreeningJobItem
from api.settings import Settings

pytestmark = pytest.mark.asyncio
READY_LINE = "slot(s) taking screening jobs"
START_SECONDS = 900  # loading the model and fitting the rubric's level models: ~90 s alone on 2 busy cores


@pytest.fixture
def settings(tmp_path) -> Settings:
    """PostgreSQL and Redis; jobs run only in ``screening worker`` processes."""
    return make_settings("servers", tmp_path, job_batch_size=2, job_lease_seconds=4.0, job_poll_seconds=0.5)


@pytest_asyncio.fixture
async def client(settings, scorer):
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as test_client:
        yield test_client


def worker_env(settings: Settings, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_") or k.startswith("SCREENING_TEST_")}
    env.update(
        HF_HUB_OFFLINE="1",
        SCREENING_CACHE_DIR=str(cache_dir),
        SCREENING_DATABASE_URL=settings.database_url,
        SCREENING_REDIS_URL=settings.redis_url or "",
        SCREENING_REDIS_PREFIX=settings.redis_prefix,
        SCREENING_JOB_BATCH_SIZE=str(settings.job_batch_size),
        SCREENING_JOB_LEASE_SECONDS=str(settings.job_lease_seconds),
        SCREENING_JOB_POLL_SECONDS=str(settings.job_poll_seconds),
        **extra,
    )
    return env


@contextlib.contextmanager
def workers(env: dict[str, str], logs: Path, count_: int = 1) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count_`` ``screening worker`` processes, returned once each has loaded the model; killed afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    paths = [logs / f"worker-{len(list(logs.glob('worker-*')))}-{i}.log" for i in range(count_)]
    try:
        for path in paths:
            with path.open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "screening.cli", "worker", "--concurrency", "1"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + START_SECONDS
        for proc, path in zip(procs, paths, strict=True):
            while READY_LINE not in path.read_text():
                assert proc.poll() is None, path.read_text()
                assert time.monotonic() < deadline, "worker never started:\n" + path.read_text()
                time.sleep(0.3)
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


async def scored_items(settings: Settings) -> int:
    return await count(settings, ScreeningJobItem, status="scored")


async def test_a_worker_killed_mid_job_loses_and_doubles_nothing(client, key, settings, cache_dir, tmp_path) -> None:
    ats = await key("integration")
    total = 30
    lines = [screening_body(i % len(EXAMPLES), application_id=f"kill-{i}") for i in range(total)]
    accepted = await client.post("/v1/screening-jobs", content=ndjson(*lines), headers={**ats, **NDJSON})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    env = worker_env(settings, cache_dir)
    with workers(env, tmp_path, 2) as (victim, survivor):
        deadline = time.monotonic() + 600
        # both workers are mid-batch when as many items run as the two can claim at once
        while await count(settings, ScreeningJobItem, status="running") < 2 * settings.job_batch_size:
            assert time.monotonic() < deadline and victim.poll() is None
            await asyncio.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)  # mid-batch: its claimed items are left leased
        victim.wait(timeout=30)
        assert await scored_items(settings) < total
        job = await finished(client, ats, job_id, seconds=600)
        assert survivor.poll() is None
    assert job["status"] == "scored" and job["progress"] == {
        "total": total,
        "waiting": 0,
        "scored": total,
        "failed": 0,
        "rejected_lines": 0,
    }
    items = (await client.get(f"/v1/screening-jobs/{job_id}/items?limit=100", headers=ats)).json()["items"]
    assert len({i["screening_id"] for i in items}) == total
    assert any(i["attempts"] >= 2 for i in items), "the killed worker held no claim"
    # exactly one record, one key and one result per line
    assert await count(settings, Screening) == total and await count(settings, IdempotencyKey) == total
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            per_app = select(Screening.application_id, func.count()).group_by(Screening.application_id)
            assert {app: n for app, n in (await session.execute(per_app)).all()} == {
                line["application_id"]: 1 for line in lines
            }
    finally:
        await engine.dispose()


async def test_lost_redis_tasks_are_requeued_and_a_hopeless_item_is_dead_lettered(
    client, key, settings, cache_dir, tmp_path
) -> None:
    ats = await key("integration")
    admin = await key("hr_admin")
    uploaded = await client.post("/v1/rubrics", json={"toml": rubric_toml()}, headers=admin)
    assert uploaded.status_code == 201, uploaded.text
    doomed = await client.post(
        "/v1/screenings",
        json=screening_body(0, rubric={"id": "acme-service"}),
        headers={**ats, "Prefer": "respond-async"},
    )
    assert doomed.status_code == 202, doomed.text
    batch = await client.post(
        "/v1/screening-jobs",
        content=ndjson(*[screening_body(i % len(EXAMPLES), application_id=f"flush-{i}") for i in range(4)]),
        headers={**ats, **NDJSON},
    )
    assert batch.status_code == 202
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():  # the stored rubric no longer parses
            await session.execute(update(RubricUpload).values(toml="id = ["))
    finally:
        await engine.dispose()
    Redis.from_url(settings.redis_url).flushall()  # every SAQ task is gone; the database still holds the jobs
    env = worker_env(settings, cache_dir, SCREENING_JOB_MAX_ATTEMPTS="2", SCREENING_JOB_RETRY_SECONDS="0")
    with workers(env, tmp_path) as (worker,):
        done = await finished(client, ats, batch.json()["id"], seconds=300)
        failed = await finished(client, ats, doomed.json()["id"], seconds=300)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    assert done["status"] == "scored" and done["progress"]["scored"] == 4
    assert failed["status"] == "failed" and failed["screening_id"] is None
    assert failed["problem"]["type"].endswith("/invalid-rubric")
    assert failed["problem"]["detail"].startswith("Gave up after 2 attempts")
    item: dict[str, Any] = (await client.get(f"/v1/screening-jobs/{failed['id']}/items", headers=ats)).json()["items"][
        0
    ]
    assert item["dead_letter"] and item["attempts"] == 2 and item["status"] == "failed"
    scraped = (await client.get("/metrics")).text
    assert 'screening_job_items{state="dead_letter"} 1.0' in scraped
    assert await count(settings, Screening) == 4
