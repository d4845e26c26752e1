"""Deny by default: every route needs an API key except an explicit allow-list; roles are checked app-wide.

API keys are stored as sha256 hashes. Each key has a per-minute rate limit, and failed authentications are
rate-limited per client address (a key-guessing loop is slowed, not served at full speed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import select

from api.db.models import ApiKey
from api.errors import ApiError
from api.schemas import Role

if TYPE_CHECKING:
    from api.services import Services

__all__ = [
    "BASIC_AUTH_PATHS",
    "KEY_HEADER",
    "PUBLIC_PATHS",
    "ROLES",
    "ApiKeyAuthentication",
    "Principal",
    "failures_exhausted",
    "hash_token",
    "key_for_token",
    "new_token",
    "note_failed_authentication",
    "over_rate_limit",
    "require_role",
    "roles",
    "token_from",
]

ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_PREFIX = "scr"
KEY_HEADER = "Authorization"  # the one documented way: ``Authorization: Bearer <key>``
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/schema")  # everything else needs a key
MAX_TOKEN_CHARS = 200
# Partner routes whose caller can only send HTTP Basic (Greenhouse: the key as user name, empty password).
BASIC_AUTH_PATHS = ("/partners/greenhouse/",)
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="screening"'}
_UNAUTHORIZED_BASIC = {"WWW-Authenticate": 'Basic realm="screening", charset="UTF-8"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its organisation and its role.

    ``via_link`` names the one-time link a review-page session was opened with: the session acts in the
    name of the key that created the link, and every audit entry it writes names the link.
    """

    key_id: str
    org_id: str
    role: Role
    via_link: str | None = None


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


def _basic_allowed(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.scope["path"].startswith(BASIC_AUTH_PATHS)


def _basic_user(value: str) -> str | None:
    """The user name of HTTP Basic credentials (the key; the password is ignored), or ``None`` if malformed."""
    if len(value) > 4 * MAX_TOKEN_CHARS:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, separator, _ = decoded.partition(":")
    return user if separator else None


def token_from(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The key of ``Authorization: Bearer <key>``, or of ``Basic base64(<key>:)`` on :data:`BASIC_AUTH_PATHS`."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "basic" and _basic_allowed(connection):
        value = _basic_user(value) or ""
    elif scheme.lower() != "bearer":
        return None
    if not value or len(value) > MAX_TOKEN_CHARS or not value.isascii():
        return None
    return value


def _challenge(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, str]:
    return _UNAUTHORIZED_BASIC if _basic_allowed(connection) else _UNAUTHORIZED


def _rate_limited(limit: int, now: float, detail: str) -> ApiError:
    retry = max(1, int(60 - now % 60) + 1)
    return ApiError(
        429,
        "rate-limited",
        "Too many requests",
        f"{detail}; retry after {retry} s.",
        headers={"Retry-After": str(retry), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0"},
    )


def _failures_key(connection: ASGIConnection[Any, Any, Any, Any], now: float) -> str:
    address = connection.client.host if connection.client else "unknown"
    return f"authfail:{address}:{int(now // 60)}"


def _too_many_failures(limit: int, now: float) -> ApiError:
    return _rate_limited(limit, now, f"Too many failed authentications from this address ({limit} a minute)")


async def _refuse(services: Services, connection: ASGIConnection[Any, Any, Any, Any], detail: str) -> ApiError:
    """A 401, or a 429 once this client address has failed too often this minute."""
    if await note_failed_authentication(services, connection):
        return _too_many_failures(services.settings.auth_failures_per_minute, time.time())
    return ApiError(401, "unauthorized", "Unauthorized", detail, headers=_challenge(connection))


async def note_failed_authentication(services: Services, connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Count a failed authentication from the client's address; ``True`` once it is over this minute's limit."""
    limit = services.settings.auth_failures_per_minute
    failures = await services.shared.count(_failures_key(connection, time.time()), 60)
    return bool(limit) and failures > limit


async def failures_exhausted(services: Services, connection: ASGIConnection[Any, Any, Any, Any]) -> ApiError | None:
    """429 when this client address has used up this minute's failed authentications (check before any lookup)."""
    limit, now = services.settings.auth_failures_per_minute, time.time()
    if limit and await services.shared.peek(_failures_key(connection, now)) >= limit:
        return _too_many_failures(limit, now)
    return None


async def over_rate_limit(services: Services, principal: Principal) -> ApiError | None:
    """429 when this key has made this minute's requests (``SCREENING_RATE_LIMIT_PER_MINUTE``); else ``None``."""
    limit, now = services.settings.rate_limit_per_minute, time.time()
    if limit > 0 and await services.shared.count(f"rate:{principal.key_id}:{int(now // 60)}", 60) > limit:
        return _rate_limited(limit, now, f"This API key may make {limit} requests a minute")
    return None


async def key_for_token(services: Services, token: str) -> ApiKey | None:
    """The stored key of a token (revoked or not), or ``None``."""
    async with services.sessions() as session:
        query = select(ApiKey).where(ApiKey.token_sha256 == hash_token(token))
        return (await session.execute(query)).scalar_one_or_none()


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """Authenticate every request outside :data:`PUBLIC_PATHS` by its bearer key, then apply its rate limit."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """Return the caller's :class:`Principal`; 401 / 429 otherwise."""
        services: Services = connection.app.state.services
        if exhausted := await failures_exhausted(services, connection):
            raise exhausted  # before any lookup: a guessing loop gets no answer about keys
        token = token_from(connection)
        if token is None:
            how = (
                "Basic with the key as user name and an empty password"
                if _basic_allowed(connection)
                else "Bearer <key>"
            )
            raise await _refuse(services, connection, f"Send an API key: `{KEY_HEADER}: {how}`.")
        key = await key_for_token(services, token)
        if key is None or key.revoked_at is not None:
            raise await _refuse(services, connection, "The API key is unknown or revoked.")
        principal = Principal(key_id=key.id, org_id=key.org_id, role=key.role)  # type: ignore[arg-type]
        if limited := await over_rate_limit(services, principal):
            raise limited
        return AuthenticationResult(user=principal, auth=key.id)


def require_role(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide guard: a keyed route must name its roles (none named = nobody), and the caller must hold one."""
    if handler.opt.get("exclude_from_auth") or connection.scope["path"].startswith(PUBLIC_PATHS):
        return
    allowed: frozenset[str] = handler.opt.get("roles", frozenset())
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):  # a route the middleware skipped but that is not public
        raise ApiError(401, "unauthorized", "Unauthorized", "This route needs an API key.", headers=_UNAUTHORIZED)
    if principal.role not in allowed:
        needed = ", ".join(sorted(allowed)) or "none (this route is closed)"
        raise ApiError(
            403, "forbidden", "Forbidden", f"The {principal.role!r} role may not do this; it needs one of: {needed}."
        )
