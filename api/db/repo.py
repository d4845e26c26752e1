"""Repository functions: every query is scoped to one organisation."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, hash_token, new_token
from api.db.models import ApiKey, AuditEvent, IdempotencyKey, ModelResult, Review, Screening, utcnow
from api.errors import ApiError, FieldError

__all__ = [
    "ListFilters",
    "add_audit",
    "audit_for",
    "create_key",
    "decode_cursor",
    "encode_cursor",
    "erase_candidate",
    "get_screening",
    "history_for",
    "idempotency_row",
    "list_keys",
    "list_screenings",
    "reviews_for",
    "revoke_key",
]


async def add_audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    *,
    screening_id: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append an audit entry of ``actor``'s organisation (in the caller's transaction)."""
    event = AuditEvent(
        org_id=actor.org_id,
        screening_id=screening_id,
        action=action,
        actor_key_id=actor.key_id,
        actor_role=actor.role,
        details=details or {},
        created_at=at or utcnow(),
    )
    session.add(event)
    await session.flush()
    return event


async def get_screening(
    session: AsyncSession, org_id: str, screening_id: str, *, for_update: bool = False
) -> Screening:
    """Load the organisation's screening, or raise 404 (also for another organisation's id)."""
    query = select(Screening).where(Screening.id == screening_id, Screening.org_id == org_id)
    if for_update:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise ApiError.not_found("screening", screening_id)
    return found


async def reviews_for(session: AsyncSession, screening_id: str) -> list[Review]:
    """List a screening's reviews, oldest first."""
    query = select(Review).where(Review.screening_id == screening_id).order_by(Review.pk)
    return list((await session.execute(query)).scalars())


async def history_for(session: AsyncSession, screening_id: str) -> list[ModelResult]:
    """List every model result of a screening, oldest first."""
    query = select(ModelResult).where(ModelResult.screening_id == screening_id).order_by(ModelResult.seq)
    return list((await session.execute(query)).scalars())


async def audit_for(session: AsyncSession, org_id: str, screening_id: str) -> list[AuditEvent]:
    """List a screening's audit entries, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.org_id == org_id, AuditEvent.screening_id == screening_id)
        .order_by(AuditEvent.seq)
    )
    return list((await session.execute(query)).scalars())


async def idempotency_row(session: AsyncSession, org_id: str, key: str) -> IdempotencyKey | None:
    """Find the stored use of an idempotency key, if any."""
    return await session.get(IdempotencyKey, (org_id, key))


class ListFilters(msgspec.Struct, frozen=True, kw_only=True):
    """Filters for listing screenings."""

    candidate_id: str | None = None
    application_id: str | None = None
    rubric_id: str | None = None
    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def encode_cursor(created_at: datetime, screening_id: str) -> str:
    """Make an opaque cursor pointing after this row."""
    raw = msgspec.json.encode([created_at.isoformat(), screening_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Decode a cursor; 422 if it was not made by us."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = msgspec.json.decode(raw, type=tuple[datetime, str])
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise ApiError.invalid(
            "The cursor is not valid.", [FieldError("cursor", "not a cursor from this API")]
        ) from exc
    return created, ident


async def list_screenings(
    session: AsyncSession, org_id: str, filters: ListFilters, cursor: str | None, limit: int
) -> tuple[list[Screening], str | None]:
    """Return a page of the organisation's screenings, newest first, and the next cursor."""
    query = select(Screening).where(Screening.org_id == org_id)
    for column, value in (
        (Screening.candidate_id, filters.candidate_id),
        (Screening.application_id, filters.application_id),
        (Screening.rubric_id, filters.rubric_id),
        (Screening.status, filters.status),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.created_after is not None:
        query = query.where(Screening.created_at >= filters.created_after)
    if filters.created_before is not None:
        query = query.where(Screening.created_at < filters.created_before)
    if cursor:
        created, ident = decode_cursor(cursor)
        query = query.where(
            or_(Screening.created_at < created, and_(Screening.created_at == created, Screening.id < ident))
        )
    query = query.order_by(Screening.created_at.desc(), Screening.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None


async def erase_candidate(session: AsyncSession, org_id: str, candidate_id: str) -> tuple[list[str], list[str]]:
    """Erase answers, reports and reviews of one candidate; ``(screening ids, idempotency keys)`` erased."""
    query = select(Screening).where(
        Screening.org_id == org_id, Screening.candidate_id == candidate_id, Screening.erased_at.is_(None)
    )
    screenings = list((await session.execute(query.with_for_update())).scalars())
    ids = [s.id for s in screenings]
    if not ids:
        return [], []
    keys = list(
        (await session.execute(select(IdempotencyKey.key).where(IdempotencyKey.screening_id.in_(ids)))).scalars()
    )
    now = utcnow()
    await session.execute(update(ModelResult).where(ModelResult.screening_id.in_(ids)).values(report=None))
    await session.execute(delete(Review).where(Review.screening_id.in_(ids)))
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.screening_id.in_(ids)))
    for screening in screenings:
        screening.candidate_id = None
        screening.application_id = None
        screening.answers = None
        screening.report = None
        screening.status = "erased"
        screening.erased_at = now
        screening.updated_at = now
    await session.flush()
    return ids, keys


async def create_key(session: AsyncSession, org_id: str, role: str, name: str) -> tuple[ApiKey, str]:
    """Store a new key; return it and its token (the token itself is never stored)."""
    key_id, token = new_token()
    key = ApiKey(id=key_id, org_id=org_id, role=role, name=name, token_sha256=hash_token(token), created_at=utcnow())
    session.add(key)
    await session.flush()
    return key, token


async def revoke_key(session: AsyncSession, key_id: str, org_id: str | None = None) -> ApiKey | None:
    """Revoke a key (of one organisation, when given); ``None`` if there is no such key."""
    query = select(ApiKey).where(ApiKey.id == key_id)
    if org_id is not None:
        query = query.where(ApiKey.org_id == org_id)
    key = (await session.execute(query)).scalar_one_or_none()
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def list_keys(session: AsyncSession, org_id: str | None = None) -> Sequence[ApiKey]:
    """List API keys, optionally of one organisation."""
    query = select(ApiKey).order_by(ApiKey.org_id, ApiKey.created_at)
    if org_id is not None:
        query = query.where(ApiKey.org_id == org_id)
    return list((await session.execute(query)).scalars())
