"""``/v1/keys``: an organisation's HR admins manage its API keys."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from api.auth import Principal, roles
from api.controllers.base import OrgController, services_of
from api.db import repo
from api.errors import ApiError
from api.schemas import KeyIn, KeyOut, NewKey

__all__ = ["KeyController"]

ADMIN = roles("hr_admin")


def _out(key: Any) -> KeyOut:
    return KeyOut(id=key.id, role=key.role, name=key.name, created_at=key.created_at, revoked_at=key.revoked_at)


class KeyController(OrgController):
    """API keys of the caller's organisation (tokens are stored only as hashes)."""

    path = "/v1/keys"
    tags = ["keys"]  # noqa: RUF012

    @get("/", operation_id="listKeys", opt=ADMIN, summary="List API keys")
    async def list_keys(self, request: Request[Any, Any, Any], principal: NamedDependency[Principal]) -> list[KeyOut]:
        """List this organisation's keys, revoked ones included; tokens are never shown."""
        async with services_of(request).sessions() as session:
            return [_out(k) for k in await repo.list_keys(session, principal.org_id)]

    @post("/", operation_id="createKey", status_code=201, opt=ADMIN, summary="Create an API key")
    async def create_key(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], data: JSONBody[KeyIn]
    ) -> NewKey:
        """Create a key for this organisation; the token is in this response only."""
        async with services_of(request).sessions() as session, session.begin():
            key, token = await repo.create_key(session, principal.org_id, data.role, data.name)
            await repo.add_audit(session, principal, "key_created", details={"key_id": key.id, "role": key.role})
        return NewKey(id=key.id, role=key.role, name=key.name, created_at=key.created_at, token=token)

    @delete("/{key_id:str}", operation_id="revokeKey", status_code=200, opt=ADMIN, summary="Revoke an API key")
    async def revoke_key(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        key_id: Annotated[str, Parameter(description="The key's id.", max_length=32)],
    ) -> KeyOut:
        """Revoke one of this organisation's keys; it stops working at once."""
        async with services_of(request).sessions() as session, session.begin():
            key = await repo.revoke_key(session, key_id, principal.org_id)
            if key is None:
                raise ApiError.not_found("API key", key_id)
            await repo.add_audit(session, principal, "key_revoked", details={"key_id": key.id})
            return _out(key)
