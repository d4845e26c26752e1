"""What handlers receive: the app's services, the authenticated caller, and one database session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.services import Services

__all__ = ["dependencies"]


def _services(state: State) -> Services:
    return state.services


def _principal(request: Request[Any, Any, Any]) -> Principal:
    return request.user


async def _db_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's one session; it is closed (and any open transaction rolled back) when the request ends."""
    async with state.services.sessions() as session:
        yield session


dependencies = {
    "services": Provide(_services, sync_to_thread=False),
    "principal": Provide(_principal, sync_to_thread=False),
    "db_session": Provide(_db_session),
}
