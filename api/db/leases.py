"""The database as a job queue: atomic claims, leases, renewal, release and attempt counts.

A leased row has ``status`` (``queued`` until a process claims it, then ``running``), ``attempts``
(claims so far) and ``lease_until``. A process claims rows with a conditional ``UPDATE`` (on
PostgreSQL after ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent claimers take different rows),
renews the lease while it works, and finishes or releases them. A process that dies leaves a lease
that lapses; any process then claims the row again, and the caller gives up after its maximum of
attempts (dead-letter). Calibrations and screening-job items both queue this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.db.models import utcnow

__all__ = ["Claim", "claim", "claimable", "release", "renew"]

Claim = tuple[Any, int]  # (the row's key, the attempt this claim is)


def claimable(model: Any, now: datetime) -> ColumnElement[bool]:
    """Queued, or running under a lease that lapsed (its process died, or it waits to be retried)."""
    return or_(model.status == "queued", and_(model.status == "running", model.lease_until < now))


async def claim(
    session: AsyncSession,
    model: Any,
    key: InstrumentedAttribute[Any],
    order: InstrumentedAttribute[Any],
    lease: timedelta,
    *,
    limit: int = 1,
) -> list[Claim]:
    """Take up to ``limit`` oldest claimable rows: ``[(key, attempt)]``. Atomic across processes."""
    now = utcnow()
    query = select(key).where(claimable(model, now)).order_by(order).limit(limit)
    found = list((await session.execute(query.with_for_update(skip_locked=True))).scalars())
    if not found:
        return []
    taken = await session.execute(
        update(model)
        .where(key.in_(found), claimable(model, now))
        .values(status="running", attempts=model.attempts + 1, lease_until=now + lease, updated_at=now)
        .returning(key, model.attempts)
        .execution_options(synchronize_session=False)
    )
    return [(row[0], row[1]) for row in taken.all()]


def _held(model: Any, key: InstrumentedAttribute[Any], claims: Sequence[Claim]) -> ColumnElement[bool]:
    """The claimed rows still running under these very claims (not taken over by a later attempt)."""
    return and_(tuple_(key, model.attempts).in_([tuple(c) for c in claims]), model.status == "running")


async def renew(
    session: AsyncSession, model: Any, key: InstrumentedAttribute[Any], claims: Sequence[Claim], lease: timedelta
) -> list[Any]:
    """Extend the leases of these claims; the keys still held (another attempt took over the rest)."""
    if not claims:
        return []
    renewed = await session.execute(
        update(model)
        .where(_held(model, key, claims))
        .values(lease_until=utcnow() + lease)
        .returning(key)
        .execution_options(synchronize_session=False)
    )
    return list(renewed.scalars())


async def release(
    session: AsyncSession,
    model: Any,
    key: InstrumentedAttribute[Any],
    claims: Sequence[Claim],
    *,
    retry_after: timedelta | None = None,
    **values: Any,
) -> int:
    """Give claims back: queued at once (the attempt not counted: a shutdown), or retried after a delay.

    With ``retry_after`` the row stays ``running`` under a lease of that length, so it becomes
    claimable again when it lapses and the failed attempt counts. ``values`` are stored too (a reason).
    """
    if not claims:
        return 0
    now = utcnow()
    if retry_after is None:
        changes: dict[str, Any] = {"status": "queued", "attempts": model.attempts - 1, "lease_until": None}
    else:
        changes = {"lease_until": now + retry_after}
    released = await session.execute(
        update(model)
        .where(_held(model, key, claims))
        .values(updated_at=now, **changes, **values)
        .execution_options(synchronize_session=False)
    )
    return int(released.rowcount or 0)
