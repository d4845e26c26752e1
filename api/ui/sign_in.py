"""``/ui/sign-in`` and ``/ui/sign-out``: a person's API key (recruiter or hr_admin) becomes a signed session cookie."""

from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api import review_link_service
from api.auth import MAX_TOKEN_CHARS, failures_exhausted, key_for_token, note_failed_authentication
from api.domain import LinkRefused
from api.services import Services
from api.ui.access import PEOPLE_ROLES, current_session, live_session, signer_of
from api.ui.session import PRE_SESSION_COOKIE, PRE_SESSION_SECONDS, SESSION_COOKIE, safe_next, signed_out_key

__all__ = ["SignInController"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PUBLIC = {"ui_public": True, "form": True}


def _cookie(request: Request[Any, Any, Any], name: str, value: str, max_age: int, path: str = "/ui") -> Cookie:
    return Cookie(
        key=name,
        value=value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _secure(request: Request[Any, Any, Any]) -> bool:
    """``Secure`` cookies: as ``SCREENING_COOKIE_SECURE`` says, else when this request came over https."""
    setting = request.app.state.services.settings.cookie_secure
    return setting if setting is not None else request.scope.get("scheme") == "https"


def _form(
    request: Request[Any, Any, Any],
    next_path: str,
    error: str | None,
    status: int,
    headers: dict[str, str] | None = None,
) -> Template:
    """The sign-in form with a fresh CSRF token; any session cookie the browser still holds is cleared."""
    cookie, token = signer_of(request).new_pre_session()
    cookies = [_cookie(request, PRE_SESSION_COOKIE, cookie, PRE_SESSION_SECONDS, "/ui/sign-in")]
    if SESSION_COOKIE in request.cookies:
        cookies.append(_cookie(request, SESSION_COOKIE, "", 0))
    return Template(
        template_name="sign_in.html.j2",
        context={"csrf": token, "next": next_path, "error": error, "signed_in": False},
        cookies=cookies,
        status_code=status,
        headers=headers,
    )


class SignInController(Controller):
    """Sign in with a recruiter or hr_admin key; sign out."""

    path = "/ui"
    opt = PUBLIC

    @get("/", name="ui-home")
    async def home(self) -> Redirect:
        """The review pages start at the screening list."""
        return Redirect("/ui/screenings", status_code=303)

    @get("/sign-in", name="ui-sign-in")
    async def sign_in_form(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        next_path: Annotated[str | None, Parameter(query="next", max_length=2000)] = None,
    ) -> Template | Redirect:
        """The sign-in form (or straight on to ``next`` with a live session)."""
        target = safe_next(next_path)
        live = await live_session(request)
        if live is not None and live[0].link_id is None:  # a link's session may sign in with a key to see more
            return Redirect(target, status_code=303)
        return _form(request, target, None, 200)

    @post("/sign-in", name="ui-sign-in-post", status_code=303)
    async def sign_in(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: Form
    ) -> Template | Redirect:
        """Check the key; a session cookie for a live recruiter or hr_admin key, the form again otherwise."""
        target = safe_next(data.get("next"))
        if exhausted := await failures_exhausted(services, request):  # before any lookup, as the API does
            return _form(
                request, target, "Too many failed sign-ins from this address; wait a minute.", 429, exhausted.headers
            )
        token = data.get("api_key", "").strip()
        key = await key_for_token(services, token) if token and len(token) <= MAX_TOKEN_CHARS else None
        if key is None or key.revoked_at is not None:
            if await note_failed_authentication(services, request):
                return _form(request, target, "Too many failed sign-ins from this address; wait a minute.", 429)
            return _form(request, target, "The key is unknown or revoked.", 401)
        if key.role not in PEOPLE_ROLES:
            return _form(request, target, "Integration keys cannot sign in; use a recruiter or HR key.", 403)
        signer = signer_of(request)
        cookie, _ = signer.new_session(key.id)
        return Redirect(
            target,
            status_code=303,
            cookies=[
                _cookie(request, SESSION_COOKIE, cookie, signer.session_seconds),
                _cookie(request, PRE_SESSION_COOKIE, "", 0, "/ui/sign-in"),
            ],
        )

    @get("/sign-in/link", name="ui-link")
    async def link_form(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        token: Annotated[str, Parameter(max_length=1000)],
    ) -> Template:
        """A one-time link's landing page: one button opens the session (a link scanner's GET uses nothing up)."""
        await review_link_service.check(db_session, review_link_service.checked_token(signer_of(request), token))
        cookie, csrf = signer_of(request).new_pre_session()
        return Template(
            template_name="link.html.j2",
            context={"csrf": csrf, "token": token, "signed_in": False},
            cookies=[_cookie(request, PRE_SESSION_COOKIE, cookie, PRE_SESSION_SECONDS, "/ui/sign-in")],
        )

    @post("/sign-in/link", name="ui-link-post", status_code=303)
    async def link_sign_in(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        data: Form,
    ) -> Redirect:
        """Use the link once: a session for its one screening, in the creating key's name; then that screening."""
        if exhausted := await failures_exhausted(services, request):
            raise exhausted
        signer = signer_of(request)
        try:
            token = review_link_service.checked_token(signer, data.get("token"))
        except LinkRefused as exc:
            if exc.status == 404:
                await note_failed_authentication(services, request)
            raise
        link, principal = await review_link_service.consume(db_session, token)
        cookie, _ = signer.new_link_session(principal.key_id, link.id, link.screening_id)
        return Redirect(
            f"/ui/screenings/{link.screening_id}",
            status_code=303,
            cookies=[
                _cookie(request, SESSION_COOKIE, cookie, signer.session_seconds),
                _cookie(request, PRE_SESSION_COOKIE, "", 0, "/ui/sign-in"),
            ],
        )

    @post("/sign-out", name="ui-sign-out", status_code=303)
    async def sign_out(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: Form
    ) -> Redirect:
        """End the session for good (a copy of its cookie no longer works) and go back to the sign-in form."""
        session = current_session(request)
        if session is not None:
            remaining = max(1, int(session.expires - time.time()))
            await services.shared.set(signed_out_key(session), b"1", remaining)
        return Redirect("/ui/sign-in", status_code=303, cookies=[_cookie(request, SESSION_COOKIE, "", 0)])
