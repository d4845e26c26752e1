"""API keys of an organisation: list, create (the token is shown once), revoke."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.db.models import ApiKey
from api.domain import NotFound
from api.schemas import KeyIn, KeyOut, NewKey

__all__ = ["create", "list_all", "revoke"]


def _out(key: ApiKey) -> KeyOut:
    return KeyOut(id=key.id, role=key.role, name=key.name, created_at=key.created_at, revoked_at=key.revoked_at)


async def list_all(session: AsyncSession, principal: Principal) -> list[KeyOut]:
    """The organisation's keys, revoked ones included; never their tokens."""
    return [_out(k) for k in await repo.list_keys(session, principal.org_id)]


async def create(session: AsyncSession, principal: Principal, data: KeyIn) -> NewKey:
    """A new key of the caller's organisation, with its token (this once)."""
    async with session.begin():
        key, token = await repo.create_key(session, principal.org_id, data.role, data.name)
        await repo.add_audit(session, principal, "key_created", details={"key_id": key.id, "role": key.role})
    return NewKey(id=key.id, role=key.role, name=key.name, created_at=key.created_at, token=token)


async def revoke(session: AsyncSession, principal: Principal, key_id: str) -> KeyOut:
    """Revoke one of the organisation's keys; it stops working at once."""
    async with session.begin():
        key = await repo.revoke_key(session, key_id, principal.org_id)
        if key is None:
            raise NotFound("API key", key_id)
        await repo.add_audit(session, principal, "key_revoked", details={"key_id": key.id})
        return _out(key)
