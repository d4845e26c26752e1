"""Repository functions: every query is scoped to one organisation."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, get_args

import msgspec
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, hash_token, new_token
from api.db.models import (
    ApiKey,
    AuditEvent,
    DemographicRecord,
    IdempotencyKey,
    ModelResult,
    Review,
    Screening,
    utcnow,
)
from api.domain import Erased, InvalidField, MalformedField, NotFound
from api.schemas import ListSort
from api.timestamps import bounded_utc

__all__ = [
    "SORTS",
    "Cursor",
    "ListFilters",
    "add_audit",
    "audit_for",
    "count_screenings",
    "create_key",
    "decode_cursor",
    "delete_demographics",
    "demographics_of",
    "encode_cursor",
    "erase_candidate",
    "get_demographics",
    "get_screening",
    "history_for",
    "idempotency_row",
    "latest_reports",
    "list_keys",
    "list_screenings",
    "put_demographics",
    "reviews_for",
    "revoke_key",
    "was_erased",
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
    """Append an audit entry of ``actor``'s organisation (in the caller's transaction).

    An actor signed in with a one-time link is recorded as its creating key, with ``via_link`` in the details.
    """
    if actor.via_link is not None:
        details = {**(details or {}), "via_link": actor.via_link}
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
    """Load the organisation's screening: :class:`Erased` if it was erased, :class:`NotFound` otherwise.

    Another organisation's id is not found, like an id that never existed.
    """
    query = select(Screening).where(Screening.id == screening_id, Screening.org_id == org_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    if await was_erased(session, org_id, screening_id):
        raise Erased(screening_id)
    raise NotFound("screening", screening_id)


async def was_erased(session: AsyncSession, org_id: str, screening_id: str) -> bool:
    """Tell whether the organisation erased this screening (its audit log says so)."""
    query = select(AuditEvent.seq).where(
        AuditEvent.org_id == org_id, AuditEvent.screening_id == screening_id, AuditEvent.action == "erased"
    )
    return (await session.execute(query.limit(1))).first() is not None


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


SORTS: tuple[str, ...] = get_args(ListSort)
"""List orders: newest first (the default), or by the current model result's overall level, highest or
lowest first; screenings without a level come last in both, and ties go newest first."""
_NO_LEVEL = {"level_desc": -1.0, "level_asc": 1000.0}  # outside every scale (levels are 0-10): unscored last


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where a page ended: the last row's creation time and id, and for a level order its sort and key."""

    created_at: datetime
    screening_id: str
    sort: str = "newest"
    level_key: float | None = None


def encode_cursor(row: Screening, sort: str = "newest", level: float | None = None) -> str:
    """Make an opaque cursor pointing after ``row`` (whose current overall level is ``level``) in ``sort`` order."""
    key = None if sort == "newest" else _NO_LEVEL[sort] if level is None else level
    raw = msgspec.json.encode(Cursor(row.created_at.isoformat(), row.id, sort, key))  # type: ignore[arg-type]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str = "newest") -> Cursor:
    """Decode a cursor of the ``sort`` order; :class:`MalformedField` if this API did not make it for that order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found = msgspec.json.decode(raw, type=Cursor)
        created = bounded_utc(found.created_at, "cursor")
        ident = str(uuid.UUID(found.screening_id))
    except (binascii.Error, ValueError, msgspec.DecodeError, OverflowError, InvalidField) as exc:
        raise MalformedField("The cursor is not valid.", fields=[("cursor", "not a cursor from this API")]) from exc
    if found.sort != sort or (sort != "newest") != (found.level_key is not None):
        message = f"made for the {found.sort!r} order, not {sort!r}; start again without it"
        raise MalformedField(f"The cursor does not fit this order: {message}.", fields=[("cursor", message)])
    return Cursor(created, ident, sort, found.level_key)


def _older_than(after: Cursor) -> ColumnElement[bool]:
    """Rows after the cursor's row in newest-first order (creation time, then id, both descending)."""
    return or_(
        Screening.created_at < after.created_at,
        and_(Screening.created_at == after.created_at, Screening.id < after.screening_id),
    )


def _ordered(query: Select[Any], sort: str, after: Cursor | None) -> Select[Any]:
    """Order by ``sort`` (ties: newest first, then id) and continue after the cursor's row (keyset pagination).

    A level order joins each screening's current model result (``result_seq``) for its overall level.
    """
    newest = (Screening.created_at.desc(), Screening.id.desc())
    if sort == "newest":
        return query.where(_older_than(after)).order_by(*newest) if after else query.order_by(*newest)
    current = and_(ModelResult.screening_id == Screening.id, ModelResult.seq == Screening.result_seq)
    key = func.coalesce(ModelResult.overall_level, _NO_LEVEL[sort])
    query = query.add_columns(ModelResult.overall_level).outerjoin(ModelResult, current)
    if after is not None:
        beyond = key < after.level_key if sort == "level_desc" else key > after.level_key
        query = query.where(or_(beyond, and_(key == after.level_key, _older_than(after))))
    return query.order_by(key.desc() if sort == "level_desc" else key.asc(), *newest)


def _filtered(query: Select[Any], org_id: str, filters: ListFilters) -> Select[Any]:
    query = query.where(Screening.org_id == org_id)
    for column, value in (
        (Screening.candidate_id, filters.candidate_id),
        (Screening.application_id, filters.application_id),
        (Screening.rubric_id, filters.rubric_id),
        (Screening.status, filters.status),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.created_after is not None:
        query = query.where(Screening.created_at >= bounded_utc(filters.created_after, "created_after"))
    if filters.created_before is not None:
        query = query.where(Screening.created_at < bounded_utc(filters.created_before, "created_before"))
    return query


async def count_screenings(session: AsyncSession, org_id: str, filters: ListFilters) -> dict[str, int]:
    """Count the organisation's screenings matching ``filters``, per status."""
    query = _filtered(select(Screening.status, func.count()), org_id, filters).group_by(Screening.status)
    return {status: count for status, count in (await session.execute(query)).all()}


async def list_screenings(
    session: AsyncSession, org_id: str, filters: ListFilters, cursor: str | None, limit: int, sort: str = "newest"
) -> tuple[list[Screening], str | None]:
    """Return a page of the organisation's screenings in ``sort`` order (see :data:`SORTS`) and the next cursor."""
    if sort not in SORTS:
        message = f"one of {', '.join(SORTS)}"
        raise MalformedField(f"sort must be {message}.", fields=[("sort", message)])
    after = decode_cursor(cursor, sort) if cursor else None
    query = _ordered(_filtered(select(Screening), org_id, filters), sort, after).limit(limit + 1)
    found = (await session.execute(query)).all()
    more = len(found) > limit
    found = found[:limit]
    if not (more and found):
        return [r[0] for r in found], None
    last = found[-1]
    return [r[0] for r in found], encode_cursor(last[0], sort, last[1] if sort != "newest" else None)


async def erase_candidate(session: AsyncSession, org_id: str, candidate_id: str) -> tuple[list[str], list[str]]:
    """Delete one candidate's screenings with their answers, reports, reviews and idempotency keys.

    Rows are deleted (their children by ``ON DELETE CASCADE``), not nulled. Returns ``(screening ids,
    idempotency keys)`` erased; the caller writes the audit entries that keep the ids answering 410.
    """
    query = select(Screening.id).where(Screening.org_id == org_id, Screening.candidate_id == candidate_id)
    ids = list((await session.execute(query.with_for_update())).scalars())
    if not ids:
        return [], []
    keys = list(
        (await session.execute(select(IdempotencyKey.key).where(IdempotencyKey.screening_id.in_(ids)))).scalars()
    )
    await session.execute(delete(Screening).where(Screening.id.in_(ids)))
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


async def put_demographics(
    session: AsyncSession, org_id: str, candidate_id: str, sex: str | None, race_ethnicity: str | None, by: str
) -> DemographicRecord:
    """Record (or replace) a candidate's self-identification."""
    row = await session.get(DemographicRecord, (org_id, candidate_id), with_for_update=True)
    now = utcnow()
    if row is None:
        row = DemographicRecord(org_id=org_id, candidate_id=candidate_id, created_at=now)
        session.add(row)
    row.sex, row.race_ethnicity, row.recorded_by, row.updated_at = sex, race_ethnicity, by, now
    await session.flush()
    return row


async def get_demographics(session: AsyncSession, org_id: str, candidate_id: str) -> DemographicRecord:
    """A candidate's self-identification, or :class:`NotFound`."""
    row = await session.get(DemographicRecord, (org_id, candidate_id))
    if row is None:
        raise NotFound.plain("No self-identification is recorded for this candidate.")
    return row


async def delete_demographics(session: AsyncSession, org_id: str, candidate_id: str) -> bool:
    """Delete a candidate's self-identification; whether there was one."""
    query = delete(DemographicRecord).where(
        DemographicRecord.org_id == org_id, DemographicRecord.candidate_id == candidate_id
    )
    return bool((await session.execute(query)).rowcount)


async def latest_reports(
    session: AsyncSession, org_id: str, rubric_id: str, after: datetime | None, before: datetime | None
) -> list[tuple[str, bytes]]:
    """``(candidate id, current report)`` of each candidate's newest scored screening with one rubric."""
    query = select(Screening.candidate_id, Screening.report, Screening.created_at).where(
        Screening.org_id == org_id,
        Screening.rubric_id == rubric_id,
        Screening.candidate_id.is_not(None),
        Screening.report.is_not(None),
    )
    if after is not None:
        query = query.where(Screening.created_at >= after)
    if before is not None:
        query = query.where(Screening.created_at < before)
    newest: dict[str, tuple[datetime, bytes]] = {}
    for candidate_id, report, created_at in (await session.execute(query.order_by(Screening.created_at))).all():
        newest[candidate_id] = (created_at, report)
    return [(candidate_id, report) for candidate_id, (_, report) in newest.items()]


async def demographics_of(session: AsyncSession, org_id: str, candidate_ids: Sequence[str]) -> list[DemographicRecord]:
    """The self-identification of these candidates (those who gave one)."""
    if not candidate_ids:
        return []
    query = select(DemographicRecord).where(
        DemographicRecord.org_id == org_id, DemographicRecord.candidate_id.in_(list(candidate_ids))
    )
    return list((await session.execute(query)).scalars())
