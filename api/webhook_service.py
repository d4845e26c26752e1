"""Webhook endpoints of an organisation: register (the secret is shown once), list, read, enable,
disable, delete; their delivery log and manual redelivery. Domain errors only.

The signing secret is stored as given, not hashed (the sender must recompute signatures with it),
and is never returned after creation; whoever can read the database can read it, like the answers.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from api.domain import Conflict, NotFound
from api.schemas import (
    WebhookAttemptOut,
    WebhookDeliveryDetail,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookNew,
    WebhookOut,
)
from api.settings import Settings
from api.webhook_addresses import check_url
from api.webhook_events import EVENT_TYPES, wake_sender_after_commit
from api.webhook_signature import new_secret

__all__ = [
    "LISTED",
    "create",
    "delete",
    "deliveries",
    "delivery",
    "detail",
    "list_all",
    "redeliver",
    "set_enabled",
]

LISTED = 100
REDELIVERABLE = ("delivered", "dead")


def _out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=tuple(endpoint.events),
        description=endpoint.description,
        status=endpoint.status,  # type: ignore[arg-type]
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        redelivery_of=row.redelivery_of,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


async def _endpoint(session: AsyncSession, org_id: str, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint:
    """The organisation's endpoint; :class:`NotFound` otherwise (another organisation's too)."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.org_id == org_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("webhook endpoint", endpoint_id)
    return found


async def _delivery(session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("delivery of this endpoint", delivery_id)
    return found


async def create(session: AsyncSession, settings: Settings, principal: Principal, data: WebhookIn) -> WebhookNew:
    """Register an endpoint of the caller's organisation; its secret is in this answer only."""
    url = check_url(data.url, allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private)
    events = [e for e in EVENT_TYPES if e in data.events]  # each once, in the documented order
    now = utcnow()
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=str(uuid.uuid4()),
        org_id=principal.org_id,
        url=url,
        events=events,
        description=data.description,
        secret=secret,
        status="enabled",
        created_by=principal.key_id,
        created_at=now,
        updated_at=now,
    )
    async with session.begin():
        session.add(endpoint)
        await repo.add_audit(
            session, principal, "webhook_created", details={"endpoint_id": endpoint.id, "events": events}, at=now
        )
    return WebhookNew(endpoint=_out(endpoint), secret=secret)


async def list_all(session: AsyncSession, principal: Principal) -> list[WebhookOut]:
    """The organisation's endpoints, oldest first (never their secrets)."""
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == principal.org_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return [_out(e) for e in (await session.execute(query)).scalars()]


async def detail(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookOut:
    """One of the organisation's endpoints."""
    return _out(await _endpoint(session, principal.org_id, endpoint_id))


async def set_enabled(session: AsyncSession, principal: Principal, endpoint_id: str, *, enabled: bool) -> WebhookOut:
    """Enable (deliveries waiting for it are sent) or disable (they wait) an endpoint."""
    async with session.begin():
        endpoint = await _endpoint(session, principal.org_id, endpoint_id, lock=True)
        status = "enabled" if enabled else "disabled"
        if endpoint.status != status:
            now = utcnow()
            endpoint.status, endpoint.updated_at = status, now
            endpoint.disabled_at = None if enabled else now
            endpoint.disabled_reason = None if enabled else f"disabled by API key {principal.key_id}"
            await repo.add_audit(session, principal, f"webhook_{status}", details={"endpoint_id": endpoint.id})
            if enabled:
                wake_sender_after_commit(session)
        return _out(endpoint)


async def delete(session: AsyncSession, principal: Principal, endpoint_id: str) -> None:
    """Delete an endpoint with its deliveries (those not sent yet are dropped)."""
    async with session.begin():
        endpoint = await _endpoint(session, principal.org_id, endpoint_id, lock=True)
        await session.delete(endpoint)
        await repo.add_audit(session, principal, "webhook_deleted", details={"endpoint_id": endpoint_id})


async def deliveries(
    session: AsyncSession, principal: Principal, endpoint_id: str, status: str | None, before: datetime | None
) -> list[WebhookDeliveryOut]:
    """The endpoint's newest deliveries (at most :data:`LISTED`), optionally of one status or created before a time."""
    endpoint = await _endpoint(session, principal.org_id, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.created_at < before)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(LISTED)
    return [_delivery_out(d) for d in (await session.execute(query)).scalars()]


async def delivery(
    session: AsyncSession, principal: Principal, endpoint_id: str, delivery_id: str
) -> WebhookDeliveryDetail:
    """One delivery of the endpoint with each attempt."""
    endpoint = await _endpoint(session, principal.org_id, endpoint_id)
    row = await _delivery(session, endpoint, delivery_id)
    query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id).order_by(WebhookAttempt.pk)
    attempts = tuple(
        WebhookAttemptOut(
            attempt=a.attempt,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
            created_at=a.created_at,
        )
        for a in (await session.execute(query)).scalars()
    )
    return WebhookDeliveryDetail(delivery=_delivery_out(row), attempts=attempts)


async def redeliver(
    session: AsyncSession, principal: Principal, endpoint_id: str, delivery_id: str
) -> WebhookDeliveryOut:
    """Queue the same event (same id and body) to the endpoint again, as a new delivery due now."""
    async with session.begin():
        endpoint = await _endpoint(session, principal.org_id, endpoint_id, lock=True)
        original = await _delivery(session, endpoint, delivery_id)
        if original.status not in REDELIVERABLE:
            raise Conflict(
                "delivery-in-progress",
                "Delivery still in progress",
                f"Delivery {delivery_id!r} is {original.status}; only a delivered or dead one can be redelivered.",
            )
        now = utcnow()
        copy = WebhookDelivery(
            id=str(uuid.uuid4()),
            endpoint_id=endpoint.id,
            org_id=endpoint.org_id,
            event_id=original.event_id,
            event_type=original.event_type,
            candidate_id=original.candidate_id,
            payload=original.payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            redelivery_of=original.id,
            created_at=now,
            updated_at=now,
        )
        session.add(copy)
        wake_sender_after_commit(session)
        await repo.add_audit(
            session, principal, "webhook_redelivered", details={"endpoint_id": endpoint.id, "delivery_id": original.id}
        )
        await session.flush()
        return _delivery_out(copy)
