"""``/candidate/{token}``: the page where a candidate invited through Greenhouse answers (no sign-in, no JavaScript).

The link's token is the credential. Forms carry a CSRF value bound to it (:class:`~api.ui.access.CsrfCheck`
with :func:`expected_csrf`); an unknown token counts as a failed authentication of the client address
(the API's limit applies). The page shows no score, ever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.middleware import DefineMiddleware
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api import candidate_service
from api.auth import failures_exhausted, note_failed_authentication
from api.candidate_service import CandidateForm
from api.domain import Conflict, InvalidField, NotFound
from api.errors import to_api_error
from api.services import Services
from api.ui.access import PAGE_HEADERS, CsrfCheck

__all__ = ["CANDIDATE_PREFIX", "candidate_router", "expected_csrf"]

CANDIDATE_PREFIX = "/candidate"
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Token = Annotated[str, PathParameter(min_length=1, max_length=candidate_service.MAX_TOKEN_CHARS)]
ANSWER_FIELD = "answer-"
HEADERS = {**PAGE_HEADERS, "Referrer-Policy": "no-referrer"}  # the link is a credential: never sent on


def expected_csrf(scope: Any, state: Any) -> str | None:
    """The CSRF value a candidate form must carry: derived from the link's token in the path."""
    secret = state.services.partner_secret
    parts = scope["path"].split("/")
    if secret is None or len(parts) < 3 or not parts[2]:
        return None
    return secret.candidate_csrf(parts[2])


def _context(request: Request[Any, Any, Any], token: str, **context: Any) -> dict[str, Any]:
    services: Services = request.app.state.services
    settings = services.settings
    secret = services.partner_secret
    return {
        "token": token,
        "csrf": secret.candidate_csrf(token) if secret else "",
        "signed_in": False,
        "privacy_contact": settings.privacy_contact,
        "retention_days": settings.retention_days,
        "max_chars": settings.max_answer_chars,
        **context,
    }


def _page(request: Request[Any, Any, Any], name: str, token: str, status: int = 200, **context: Any) -> Template:
    return Template(template_name=name, context=_context(request, token, **context), status_code=status)


def _form_page(
    request: Request[Any, Any, Any],
    token: str,
    shown: CandidateForm,
    *,
    answers: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Template:
    return _page(
        request,
        "candidate.html.j2",
        token,
        status,
        invitation=shown.invitation,
        rubric=shown.rubric,
        answers=answers if answers is not None else shown.draft,
        errors=errors or {},
        saved=saved,
    )


def _given(data: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix(ANSWER_FIELD): v for k, v in data.items() if k.startswith(ANSWER_FIELD)}


@asynccontextmanager
async def _guarded(request: Request[Any, Any, Any]) -> AsyncIterator[None]:
    """429 once this address has failed too often this minute (checked before any look-up, as the API does);
    an unknown link counts as a failed authentication.
    """
    services: Services = request.app.state.services
    if exhausted := await failures_exhausted(services, request):
        raise exhausted
    try:
        yield
    except NotFound:
        await note_failed_authentication(services, request)
        raise


class CandidatePages(Controller):
    """The candidate's page: answer, save, submit, and ask for a human review."""

    path = CANDIDATE_PREFIX

    @get("/{token:str}", name="candidate")
    async def show(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        token: Token,
        saved: Annotated[str | None, QueryParameter(max_length=1)] = None,
    ) -> Template:
        """The questions with the saved draft; a closed link says why."""
        async with _guarded(request):
            shown = await candidate_service.form(services, db_session, token)
        return _form_page(request, token, shown, saved=saved == "1")

    @post("/{token:str}", name="candidate-answer", status_code=303, opt={"form": True})
    async def answer(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        token: Token,
        data: Form,
    ) -> Template | Redirect:
        """``action=save`` keeps a draft; ``action=submit`` checks every answer, stores, scores and closes the link."""
        given = _given(data)
        try:
            async with _guarded(request):
                if data.get("action") == "submit":
                    await candidate_service.submit(services, db_session, token, given)
                    return Redirect(f"{CANDIDATE_PREFIX}/{token}/done", status_code=303)
                await candidate_service.save(services, db_session, token, given)
        except InvalidField as exc:
            await db_session.rollback()
            shown = await candidate_service.form(services, db_session, token)
            errors = dict(exc.fields)
            return _form_page(request, token, shown, answers=given, errors=errors, status=422)
        return Redirect(f"{CANDIDATE_PREFIX}/{token}?saved=1#main", status_code=303)

    @get("/{token:str}/done", name="candidate-done")
    async def done(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        token: Token,
    ) -> Template | Redirect:
        """Thanks, what happens next, and the human-review request (the form again while the link is open)."""
        async with _guarded(request):
            invitation = await candidate_service.submitted(db_session, token)
        if invitation is None:
            return Redirect(f"{CANDIDATE_PREFIX}/{token}", status_code=303)
        return _page(request, "candidate_done.html.j2", token, fresh=True, invitation=invitation)

    @post("/{token:str}/human-review", name="candidate-human-review", status_code=303, opt={"form": True})
    async def human_review(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        token: Token,
        data: Form,
    ) -> Redirect:
        """Record the request; the employer's reviewers see the screening flagged for review."""
        async with _guarded(request):
            await candidate_service.request_review(services, db_session, token)
        return Redirect(f"{CANDIDATE_PREFIX}/{token}/done#review", status_code=303)


def _closed_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors as pages: a submitted link (409, with the human-review form), an expired one (410), an unknown one."""
    token = str(request.path_params.get("token", ""))
    error = to_api_error(exc)
    review_possible = isinstance(exc, Conflict) and exc.slug == "already-submitted"
    return Template(
        template_name="candidate_done.html.j2" if review_possible else "candidate_closed.html.j2",
        context=_context(request, token, status=error.status, title=error.title, detail=error.detail),
        status_code=error.status,
        headers={**HEADERS, **error.headers},
    )


def candidate_router() -> Router:
    """The candidate pages: outside API-key auth, CSRF bound to the link, errors shown as pages."""
    return Router(
        path="/",
        route_handlers=[CandidatePages],
        opt={"exclude_from_auth": True},
        middleware=[DefineMiddleware(CsrfCheck, expected=expected_csrf)],
        exception_handlers={Exception: _closed_page},
        response_headers=[ResponseHeader(name=name, value=value) for name, value in HEADERS.items()],
        include_in_schema=False,
    )
