"""API keys (stored as sha256 hashes), roles, and the per-key rate limit."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from litestar import Request
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from sqlalchemy import select

from api.db.models import ApiKey
from api.errors import ApiError
from api.schemas import Role

if TYPE_CHECKING:
    from api.services import Services

__all__ = ["ROLES", "Principal", "authenticate", "hash_token", "new_token", "roles"]

ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_PREFIX = "scr"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its organisation and its role."""

    key_id: str
    org_id: str
    role: Role


def new_token() -> tuple[str, str]:
    """Make a fresh ``(key_id, token)``; the token is shown once and only its hash is stored."""
    key_id = secrets.token_hex(8)
    return key_id, f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """Hash a token (sha256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def roles(*allowed: Role) -> dict[str, Any]:
    """Return handler ``opt`` naming the roles that may call it."""
    return {"roles": frozenset(allowed)}


def _token_from(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="screening"'}


async def _count_hit(store: Store, key: str, lock: asyncio.Lock) -> int:
    """Add one to a per-window counter and return it (atomic in Redis, and within one process)."""
    if isinstance(store, RedisStore):
        redis = store._redis  # INCR is atomic; the Store API has no counter
        name = store._make_key(key)  # the store's own namespacing
        count = int(await redis.incr(name))
        if count == 1:
            await redis.expire(name, 61)
        return count
    async with lock:
        count = int(await store.get(key) or b"0") + 1
        await store.set(key, str(count).encode(), expires_in=61)
    return count


async def _rate_limit(services: Services, principal: Principal) -> None:
    limit = services.settings.rate_limit_per_minute
    if limit <= 0:
        return
    now = time.time()
    count = await _count_hit(services.rate_store, f"rate:{principal.key_id}:{int(now // 60)}", services.rate_lock)
    if count > limit:
        retry = max(1, int(60 - now % 60) + 1)
        raise ApiError(
            429,
            "rate-limited",
            "Too many requests",
            f"This API key may make {limit} requests a minute; retry after {retry} s.",
            headers={"Retry-After": str(retry), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0"},
        )


async def authenticate(request: Request[Any, Any, Any]) -> Principal:
    """Identify the caller: 401 without a valid key, 403 for a role the handler does not allow."""
    services: Services = request.app.state.services
    token = _token_from(request)
    if not token:
        raise ApiError(
            401,
            "unauthorized",
            "Unauthorized",
            "Send an API key: `Authorization: Bearer <key>`.",
            headers=_UNAUTHORIZED,
        )
    async with services.sessions() as session:
        key = (
            await session.execute(select(ApiKey).where(ApiKey.token_sha256 == hash_token(token)))
        ).scalar_one_or_none()
    if key is None or key.revoked_at is not None:
        raise ApiError(401, "unauthorized", "Unauthorized", "The API key is unknown or revoked.", headers=_UNAUTHORIZED)
    principal = Principal(key_id=key.id, org_id=key.org_id, role=key.role)  # type: ignore[arg-type]
    await _rate_limit(services, principal)
    allowed = request.route_handler.opt.get("roles")
    if allowed is not None and principal.role not in allowed:
        raise ApiError(
            403,
            "forbidden",
            "Forbidden",
            f"The {principal.role!r} role may not do this; it needs one of: {', '.join(sorted(allowed))}.",
        )
    request.scope.setdefault("state", {})["principal"] = principal
    return principal
