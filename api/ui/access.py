"""Who may see a review page: session sign-in, roles, CSRF on every form, and errors shown as pages.

The API-key middleware skips ``/ui`` (routes carry ``exclude_from_auth``); this module authenticates
them instead, deny by default: every UI route needs a live session of a recruiter or hr_admin key unless
its ``opt`` says ``ui_public``, and every unsafe request needs the CSRF token bound to its cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template
from sqlalchemy import select

from api import review_link_service
from api.auth import Principal, over_rate_limit
from api.db.models import ApiKey
from api.errors import ApiError, to_api_error
from api.request_gate import content_type, read_body, replay_body
from api.ui.session import LINK_PATH, PRE_SESSION_COOKIE, SESSION_COOKIE, CookieSigner, SessionData, signed_out_key

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from api.services import Services

__all__ = [
    "PAGE_HEADERS",
    "PEOPLE_ROLES",
    "CsrfCheck",
    "SignInRequired",
    "UiRefused",
    "current_session",
    "key_principal",
    "live_session",
    "page_error",
    "require_session",
    "signed_out",
    "signer_of",
]

PEOPLE_ROLES = frozenset({"recruiter", "hr_admin"})  # integration keys never sign in
PAGE_HEADERS = {  # on every review page and every refusal shown as a page
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
FORM_TYPE = "application/x-www-form-urlencoded"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """No live session: the page redirects to sign-in, coming back to ``next`` afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class UiRefused(ApiError):
    """A refusal shown as a page (403 CSRF or role, 413, 415, 400); an :class:`ApiError` so metrics count its status."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(status, "ui-refused", title, detail)


def signer_of(connection: ASGIConnection[Any, Any, Any, Any]) -> CookieSigner:
    """The app's cookie signer."""
    return connection.app.state.ui_signer


def current_session(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionData | None:
    """The request's valid session cookie, if any (signature and expiry checked; not the key)."""
    return signer_of(connection).session(connection.cookies.get(SESSION_COOKIE))


async def signed_out(services: Services, data: SessionData) -> bool:
    """Whether this session was ended by signing out (a copied cookie is no use afterwards)."""
    return await services.shared.get(signed_out_key(data)) is not None


async def live_session(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[SessionData, Principal] | None:
    """The request's session and its key's principal, when the cookie is valid, not signed out, and the key live
    (for a session opened with a link: the creating key, and the link's screening still there).
    """
    data = current_session(connection)
    if data is None:
        return None
    services = connection.app.state.services
    if await signed_out(services, data):
        return None
    if data.link_id is not None and data.screening_id is not None:
        principal = await review_link_service.session_principal(services, data.link_id, data.screening_id)
    else:
        principal = await key_principal(services, data.key_id)
    return None if principal is None else (data, principal)


async def key_principal(services: Services, key_id: str) -> Principal | None:
    """The principal of a live (not revoked) recruiter or hr_admin key, else ``None``."""
    async with services.sessions() as session:
        key = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()
    if key is None or key.revoked_at is not None or key.role not in PEOPLE_ROLES:
        return None
    return Principal(key_id=key.id, org_id=key.org_id, role=key.role)  # type: ignore[arg-type]


def _here(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    query = connection.scope.get("query_string", b"").decode("latin-1")
    return connection.scope["path"] + (f"?{query}" if query else "")


async def require_session(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Router guard: a live session whose key holds one of the page's roles; sets the request's principal."""
    if handler.opt.get("ui_public"):
        return
    live = await live_session(connection)
    if live is None:
        raise SignInRequired(_here(connection))
    data, principal = live
    if limited := await over_rate_limit(connection.app.state.services, principal):
        raise limited  # shown as a page by page_error, with its Retry-After
    if data.screening_id is not None and connection.path_params.get("screening_id") != data.screening_id:
        raise UiRefused(
            403,
            "Only the linked screening",
            "You signed in with a link to one screening. Sign in with your own API key to see more.",
        )
    allowed: frozenset[str] = handler.opt.get("roles", PEOPLE_ROLES)
    if principal.role not in allowed:
        raise UiRefused(403, "Not for this role", f"This page is for {', '.join(sorted(allowed))} keys.")
    connection.scope["user"] = principal
    connection.scope["auth"] = data


def _expected_csrf(scope: Scope, signer: CookieSigner) -> tuple[str | None, SessionData | None]:
    """The CSRF token a POST must carry, and the session it belongs to (``None`` on the sign-in form).

    The sign-in form always checks its own token: a stale session cookie (a revoked key, an expired
    role) must never stop a person from signing in again.
    """
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                cookies.setdefault(key, val)
    if scope["path"] in ("/ui/sign-in", LINK_PATH):
        return signer.pre_session(cookies.get(PRE_SESSION_COOKIE)), None
    session = signer.session(cookies.get(SESSION_COOKIE))
    return (session.csrf, session) if session is not None else (None, None)


CsrfExpected = Callable[["Scope", Any], "str | None"]  # (scope, app state) -> the token a form must carry


class CsrfCheck:
    """ASGI middleware of the UI router: an unsafe request must be a bounded form carrying the cookie's CSRF token.

    ``expected`` replaces where the token comes from (the candidate page binds it to its link, not a cookie).
    """

    def __init__(self, app: ASGIApp, expected: CsrfExpected | None = None) -> None:
        self.app = app
        self.expected = expected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the form's ``csrf_token`` against the session (or sign-in) cookie; 403 without a match."""
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if content_type(scope) != FORM_TYPE:
            raise UiRefused(415, "Unsupported form", "Send the form as application/x-www-form-urlencoded.")
        state = scope["app"].state
        limit = state.services.settings.max_body_bytes
        body = await read_body(
            receive,
            limit,
            too_large=UiRefused(413, "Form too large", f"The form is larger than {limit} bytes."),
            disconnected=UiRefused(400, "Malformed form", "The client disconnected before sending the form."),
        )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UiRefused(400, "Malformed form", "The form is not valid UTF-8.") from exc
        if "\x00" in text or "%00" in text:
            raise UiRefused(400, "Malformed form", "The form contains a NUL character.")
        sent = dict(parse_qsl(text, keep_blank_values=True)).get("csrf_token", "")
        if self.expected is not None:
            expected, session = self.expected(scope, state), None
        else:
            expected, session = _expected_csrf(scope, state.ui_signer)
        if session is not None and await signed_out(state.services, session):
            expected = None
        if expected is None or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise UiRefused(
                403, "Form expired", "The form's security token is missing or out of date; reload the page."
            )
        await self.app(scope, replay_body(body, receive), send)


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The UI router's exception map: sign-in redirects, refusals and domain errors as HTML pages."""
    if isinstance(exc, SignInRequired):
        return Redirect(f"/ui/sign-in?next={quote(exc.next_path, safe='')}", status_code=303)
    error = to_api_error(exc)  # the API's one exception map: the same status as the JSON route
    status, title, detail = error.status, error.title, error.detail
    signed_in = isinstance(request.scope.get("user"), Principal)
    return Template(
        template_name="error.html.j2",
        context={"status": status, "title": title, "detail": detail, "signed_in": signed_in},
        status_code=status,
        headers={**PAGE_HEADERS, **error.headers},
    )
