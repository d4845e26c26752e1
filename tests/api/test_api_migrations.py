"""Upgrading: screenings erased by the earlier release (nulled tombstones) are deleted; their ids answer 410."""

from __future__ import annotations

import asyncio

import pytest
from api_support import add_key, assert_problem
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from api.app import create_app
from api.db.engine import create_engine, migrate
from api.db.models import AuditEvent, ModelResult, Screening, utcnow
from api.settings import Settings

pytestmark = pytest.mark.asyncio


async def test_old_erasure_tombstones_are_deleted_on_upgrade(tmp_path, scorer) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    await asyncio.to_thread(migrate, url, "0001")
    engine = create_engine(url)
    now = utcnow()
    async with engine.begin() as connection:  # what the 0001-era erasure left behind
        await connection.execute(
            Screening.__table__.insert().values(
                id="old-erased", org_id="acme", candidate_id=None, application_id=None, rubric_id="r",
                rubric_version="1", rubric_pinned=False, rubric_source="builtin", status="erased",
                model_status="scored", answers=None, report=None, result_seq=1, created_by="k",
                created_at=now, updated_at=now, erased_at=now,
            )
        )  # fmt: skip
        await connection.execute(
            ModelResult.__table__.insert().values(
                screening_id="old-erased", seq=1, report=None, rubric_version="1", rubric_fingerprint="f",
                model_id="m", model_status="scored", overall_level=3.2, overall_score=55.0, created_at=now,
            )
        )  # fmt: skip
        await connection.execute(
            AuditEvent.__table__.insert().values(
                org_id="acme", screening_id="old-erased", action="erased", actor_key_id="k",
                actor_role="hr_admin", details={}, created_at=now,
            )
        )  # fmt: skip
    await asyncio.to_thread(migrate, url)
    async with engine.connect() as connection:
        for table in (Screening, ModelResult):
            assert (await connection.execute(select(func.count()).select_from(table))).scalar() == 0
        assert (await connection.execute(select(func.count()).select_from(AuditEvent))).scalar() == 1
    await engine.dispose()
    settings = Settings(database_url=url)
    _, admin = await add_key(settings, "acme", "hr_admin")
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as client:
        assert_problem(await client.get("/v1/screenings/old-erased", headers=admin), 410, "erased")
        assert (await client.get("/v1/screenings/old-erased/audit", headers=admin)).status_code == 200
