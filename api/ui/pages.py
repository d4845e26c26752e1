"""The review pages: the screening list, a screening with its evidence and review form, and HR's rubric pages.

Every page reads through the API's own services (the same tenant scoping, audit and decision rules);
a form posts, and the page is shown again (POST, redirect, GET).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api import calibration_service, review_service, rubric_service, screening_service
from api.auth import Principal, roles
from api.db import repo
from api.domain import DomainError
from api.rubrics import resolve
from api.schemas import ReviewIn, ScreeningOut, ScreeningStatus
from api.services import Services
from api.ui.views import answer_views, bar, decision_for, reason_words
from screening.errors import ScreeningError
from screening.rubric import Rubric

__all__ = ["RubricPages", "ScreeningPages"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
ScreeningId = Annotated[str, Parameter(max_length=40)]
Filter = Annotated[str | None, Parameter(max_length=200)]
STATUSES: tuple[str, ...] = ("needs_review", "scored", "reviewed")
PAGE_SIZE = 20
_screening_decoder = msgspec.json.Decoder(ScreeningOut)


def page(request: Request[Any, Any, Any], name: str, status: int = 200, **context: Any) -> Template:
    """A page with what every page needs: who is signed in and the session's CSRF token."""
    session = request.scope.get("auth")
    context.update(me=request.user, csrf=session.csrf if session else "", signed_in=True)
    return Template(template_name=name, context=context, status_code=status)


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


async def _rubric(
    services: Services, session: AsyncSession, principal: Principal, record: ScreeningOut
) -> Rubric | None:
    """The rubric version that scored the record (for question prompts), if it can still be read."""
    try:
        entry = await resolve(
            session, services.library, services.rubric_parser, principal.org_id, record.rubric_id, record.rubric_version
        )
    except (DomainError, ScreeningError):
        return None
    return entry.rubric


class ScreeningPages(Controller):
    """Screenings for recruiters and HR."""

    path = "/ui/screenings"
    opt = roles("recruiter", "hr_admin")

    @get("/", name="ui-screenings")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        rubric_id: Filter = None,
        status: Annotated[ScreeningStatus | None, Parameter(required=False)] = None,
        candidate_id: Filter = None,
        application_id: Filter = None,
        cursor: Annotated[str | None, Parameter(max_length=400)] = None,
    ) -> Template:
        """Filters, counts per status, the needs-review screenings first, then every screening page by page."""
        principal: Principal = request.user
        filters = repo.ListFilters(
            rubric_id=_blank(rubric_id),
            candidate_id=_blank(candidate_id),
            application_id=_blank(application_id),
        )
        counts = await screening_service.status_counts(db_session, principal, filters)
        needing = None
        if status is None and not cursor:
            review_filters = msgspec.structs.replace(filters, status="needs_review")
            needing = await screening_service.list_page(db_session, principal, review_filters, None, PAGE_SIZE)
        listed = await screening_service.list_page(
            db_session, principal, msgspec.structs.replace(filters, status=status), cursor, PAGE_SIZE
        )
        return page(
            request,
            "screenings.html.j2",
            counts=counts,
            total=sum(counts.values()),
            needing=needing,
            listed=listed,
            filters={**msgspec.structs.asdict(filters), "status": status},
            statuses=STATUSES,
            rubrics=await rubric_service.summaries(services, db_session, principal),
        )

    async def _screening_page(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        db_session: AsyncSession,
        screening_id: str,
        *,
        error: str | None = None,
        form: dict[str, str] | None = None,
    ) -> Template:
        principal: Principal = request.user
        blob, answers = await screening_service.view_for_review(db_session, principal, screening_id)
        record = _screening_decoder.decode(blob)
        audit = await screening_service.audit_log(db_session, principal, screening_id)
        rubric = await _rubric(services, db_session, principal, record)
        return page(
            request,
            "screening.html.j2",
            status=422 if error else 200,
            record=record,
            report=record.report,
            answers=answer_views(record, answers, rubric),
            audit=audit.entries,
            bar=bar,
            decision_for=decision_for,
            reason_words=reason_words,
            error=error,
            form=form or {},
        )

    @get("/{screening_id:str}", name="ui-screening")
    async def screening(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        screening_id: ScreeningId,
    ) -> Template:
        """One screening: decision, reasons, evidence in the answers, review form, audit trail, provenance."""
        return await self._screening_page(request, services, db_session, screening_id)

    @post("/{screening_id:str}/reviews", name="ui-review", status_code=303, opt={"form": True})
    async def review(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        screening_id: ScreeningId,
        data: Form,
    ) -> Template | Redirect:
        """Confirm or override through the review service (audited); the page again, with the error if any."""
        fields = {k: v.strip() for k, v in data.items() if k in {"target", "action", "level", "reason"}}
        if fields.get("action") == "confirm" or not fields.get("level"):
            fields.pop("level", None)
        try:
            review = msgspec.convert(fields, type=ReviewIn, strict=False)
            await review_service.review(db_session, request.user, screening_id, review)
        except msgspec.ValidationError as exc:
            message = str(exc).replace("`$.", "`").replace("Object missing required field", "Missing")
            return await self._screening_page(request, services, db_session, screening_id, error=message, form=data)
        except DomainError as exc:
            if exc.status != 422:
                raise
            return await self._screening_page(request, services, db_session, screening_id, error=exc.detail, form=data)
        return Redirect(f"/ui/screenings/{screening_id}#decision", status_code=303)


class RubricPages(Controller):
    """Rubrics and calibration reports, for HR."""

    path = "/ui/rubrics"
    opt = roles("hr_admin")

    @get("/{rubric_id:str}", name="ui-rubric")
    async def rubric(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        rubric_id: Annotated[str, Parameter(max_length=64)],
    ) -> Template:
        """The newest version: questions, dimensions, the reference responses at each level; its versions."""
        detail = await rubric_service.detail(services, db_session, request.user, rubric_id)
        calibrations = await calibration_service.summaries(services, db_session, request.user, rubric_id)
        return page(request, "rubric.html.j2", detail=detail, rubric=detail.latest, calibrations=calibrations)

    @get("/{rubric_id:str}/calibrations/{calibration_id:str}", name="ui-calibration")
    async def calibration(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        rubric_id: Annotated[str, Parameter(max_length=64)],
        calibration_id: Annotated[str, Parameter(max_length=64)],
    ) -> Template:
        """A calibration's agreement report: figures per dimension and the confusion matrices."""
        out = await calibration_service.detail(db_session, request.user, rubric_id, calibration_id)
        return page(request, "calibration.html.j2", calibration=out)
