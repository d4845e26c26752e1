"""Demographic self-identification: recorded, read and deleted by hr_admin only; never scored or reported.

Values are stored apart from answers and reports (their own table), appear in no screening, export or
audit entry (the audit says that something was recorded, not what), and are erased with the candidate.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.db.models import DemographicRecord
from api.domain import NotFound
from api.schemas import DemographicsIn, DemographicsOut

__all__ = ["delete", "read", "record"]


def _out(row: DemographicRecord) -> DemographicsOut:
    return DemographicsOut(
        candidate_id=row.candidate_id,
        sex=row.sex,  # type: ignore[arg-type]
        race_ethnicity=row.race_ethnicity,  # type: ignore[arg-type]
        updated_at=row.updated_at,
    )


async def record(
    session: AsyncSession, principal: Principal, candidate_id: str, data: DemographicsIn
) -> DemographicsOut:
    """Record or replace the candidate's self-identification."""
    async with session.begin():
        row = await repo.put_demographics(
            session, principal.org_id, candidate_id, data.sex, data.race_ethnicity, principal.key_id
        )
        await repo.add_audit(session, principal, "demographics_recorded")
        return _out(row)


async def read(session: AsyncSession, principal: Principal, candidate_id: str) -> DemographicsOut:
    """The candidate's recorded self-identification (404 if none)."""
    return _out(await repo.get_demographics(session, principal.org_id, candidate_id))


async def delete(session: AsyncSession, principal: Principal, candidate_id: str) -> None:
    """Withdraw the candidate's self-identification (404 if none)."""
    async with session.begin():
        if not await repo.delete_demographics(session, principal.org_id, candidate_id):
            raise NotFound.plain("No self-identification is recorded for this candidate.")
        await repo.add_audit(session, principal, "demographics_deleted")
