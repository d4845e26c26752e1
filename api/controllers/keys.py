"""``/v1/keys``: an organisation's HR admins manage its API keys."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import key_service
from api.auth import Principal, roles
from api.openapi import JSON_BODY, KEYED, NO_KEY, PATH_ID, problem_responses
from api.schemas import KeyIn, KeyOut, NewKey

__all__ = ["KeyController"]

ADMIN = roles("hr_admin")


class KeyController(Controller):
    """API keys of the caller's organisation (tokens are stored only as hashes)."""

    path = "/v1/keys"
    tags = ["keys"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @get("/", operation_id="listKeys", opt=ADMIN, summary="List API keys", responses=problem_responses(*KEYED, 403))
    async def list_keys(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
    ) -> list[KeyOut]:
        """List this organisation's keys, revoked ones included; tokens are never shown."""
        return await key_service.list_all(db_session, principal)

    @post(
        "/",
        operation_id="createKey",
        status_code=201,
        opt=ADMIN,
        summary="Create an API key",
        responses=problem_responses(*KEYED, 403, *JSON_BODY),
    )
    async def create_key(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], data: JSONBody[KeyIn]
    ) -> NewKey:
        """Create a key for this organisation; the token is in this response only."""
        return await key_service.create(db_session, principal, data)

    @delete(
        "/{key_id:str}",
        operation_id="revokeKey",
        status_code=200,
        opt=ADMIN,
        summary="Revoke an API key",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_KEY}),
    )
    async def revoke_key(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        key_id: Annotated[str, Parameter(description="The key's id.", max_length=32)],
    ) -> KeyOut:
        """Revoke one of this organisation's keys; it stops working at once."""
        return await key_service.revoke(db_session, principal, key_id)
