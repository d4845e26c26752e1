"""Greenhouse invitations: look-ups (scoped to one organisation, or by link token) and outbox claims."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Invitation

__all__ = ["Outbox", "by_token", "claim", "erase_candidate", "get", "same_send"]

Outbox = Literal["mail", "score", "callback"]


async def get(session: AsyncSession, org_id: str, invitation_id: str, *, for_update: bool = False) -> Invitation | None:
    """The organisation's invitation (another organisation's id is ``None``, like one that never existed)."""
    query = select(Invitation).where(Invitation.id == invitation_id, Invitation.org_id == org_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def same_send(
    session: AsyncSession, org_id: str, rubric_id: str, email: str, application_id: str
) -> Invitation | None:
    """The invitation an earlier ``send_test`` of the same test, candidate email and application made."""
    query = select(Invitation).where(
        Invitation.org_id == org_id,
        Invitation.rubric_id == rubric_id,
        Invitation.email == email,
        Invitation.application_id == application_id,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def by_token(session: AsyncSession, token_sha256: str, *, for_update: bool = False) -> Invitation | None:
    """The invitation whose link token hashes to ``token_sha256``."""
    query = select(Invitation).where(Invitation.token_sha256 == token_sha256)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def claim(session: AsyncSession, outbox: Outbox, now: datetime, lease: timedelta) -> tuple[str, int] | None:
    """Take the invitation whose ``outbox`` is most overdue: ``(id, attempt)``, or ``None``. Atomic across processes.

    Claiming moves the due time ``lease`` ahead, so a worker that dies mid-way leaves it due again later.
    """
    due = getattr(Invitation, f"{outbox}_next_at")
    attempts = getattr(Invitation, f"{outbox}_attempts")
    found = (await session.execute(select(Invitation.id).where(due <= now).order_by(due).limit(1))).scalar_one_or_none()
    if found is None:
        return None
    taken = await session.execute(
        update(Invitation)
        .where(Invitation.id == found, due <= now)
        .values({due: now + lease, attempts: attempts + 1, Invitation.updated_at: now})
        .returning(attempts)
    )
    attempt = taken.scalar_one_or_none()
    return None if attempt is None else (found, attempt)


async def erase_candidate(session: AsyncSession, org_id: str, candidate_id: str) -> int:
    """Delete a candidate's invitations (their drafts, email address and sealed credential with them)."""
    query = delete(Invitation).where(Invitation.org_id == org_id, Invitation.candidate_id == candidate_id)
    return int((await session.execute(query)).rowcount or 0)
