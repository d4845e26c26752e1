"""Idempotency-Key: the same key and body return the same record; a different body is a 409.

The database row written with the record is the truth; a cache entry in the shared state only saves a
query. Concurrent requests with one key wait on a lock for the first instead of each running the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.domain import Conflict
from api.metrics import Metrics
from api.schemas import ScreeningIn
from api.stores import LockTimeout, SharedState

__all__ = ["forget", "held", "recorded_screening", "remember", "request_hash"]

LOCK_HOLD_SECONDS = 300  # a crashed holder's lock expires after this
LOCK_WAIT_SECONDS = 120  # a duplicate waits this long for the first request to finish


def request_hash(data: ScreeningIn) -> str:
    """Hash the request's canonical JSON (key order and whitespace do not matter)."""
    return hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()


def _name(principal: Principal, key: str) -> str:
    return f"idem:{principal.org_id}:{hashlib.sha256(key.encode()).hexdigest()}"


@asynccontextmanager
async def held(shared: SharedState, principal: Principal, key: str) -> AsyncIterator[None]:
    """Hold the key's lock while its request runs; a 409 if another one holds it too long."""
    try:
        async with shared.lock(_name(principal, key), hold_seconds=LOCK_HOLD_SECONDS, wait_seconds=LOCK_WAIT_SECONDS):
            yield
    except LockTimeout as exc:
        raise Conflict(
            "idempotency-in-progress",
            "Request in progress",
            "Another request with this Idempotency-Key is still being processed; retry shortly.",
        ) from exc


async def recorded_screening(
    shared: SharedState, metrics: Metrics, session: AsyncSession, principal: Principal, key: str, digest: str
) -> str | None:
    """The id of the record this key already made (``None`` if unused); 409 if it came with another body."""
    cached = await shared.get(_name(principal, key))
    metrics.cache_lookup("idempotency", hit=cached is not None)
    if cached is not None:
        stored_digest, screening_id = cached.decode().split(":", 1)
    else:
        row = await repo.idempotency_row(session, principal.org_id, key)
        if row is None:
            return None
        stored_digest, screening_id = row.request_sha256, row.screening_id
    if stored_digest != digest:
        raise Conflict(
            "idempotency-conflict",
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request body; use a new key for a new request.",
        )
    return screening_id


async def remember(
    shared: SharedState, principal: Principal, key: str, digest: str, screening_id: str, ttl: int
) -> None:
    """Cache a committed key's record (best effort: the database row already holds it)."""
    await shared.set(_name(principal, key), f"{digest}:{screening_id}".encode(), expires_in=ttl)


async def forget(shared: SharedState, principal: Principal, key: str) -> None:
    """Drop a key from the cache (after erasure)."""
    await shared.delete(_name(principal, key))
