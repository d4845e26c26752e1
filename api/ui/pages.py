"""The review pages: the screening list, a screening with its evidence and review form, and HR's rubric pages.

Every page reads through the API's own services (the same tenant scoping, audit and decision rules);
a form posts, and the page is shown again (POST, redirect, GET).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api import calibration_service, fairness_service, review_service, rubric_service, screening_service
from api.auth import Principal, roles
from api.db import repo
from api.domain import DomainError, MalformedField
from api.rubrics import resolve
from api.schemas import ListSort, ReviewIn, ScreeningOut, ScreeningStatus
from api.services import Services
from api.ui.charts import agreement_scatter, level_spreads, spread_chart
from api.ui.views import answer_views, bar, day_after, day_start, decision_for, impact_charts, reason_words
from screening.errors import ScreeningError
from screening.rubric import Rubric

__all__ = ["ReportPages", "RubricPages", "ScreeningPages"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
ScreeningId = Annotated[str, Parameter(max_length=40)]
Filter = Annotated[str | None, Parameter(max_length=200)]
DateFilter = Annotated[str | None, Parameter(max_length=40)]
SORT_LABELS = {
    "newest": "Newest first",
    "level_desc": "Overall level, highest first",
    "level_asc": "Overall level, lowest first",
}
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
        created_from: DateFilter = None,
        created_to: DateFilter = None,
        sort: Annotated[ListSort | None, Parameter(required=False)] = None,
        cursor: Annotated[str | None, Parameter(max_length=400)] = None,
    ) -> Template:
        """Filters, counts per status, the needs-review screenings first, then every screening page by page."""
        principal: Principal = request.user
        order = sort or "newest"
        filters = repo.ListFilters(
            rubric_id=_blank(rubric_id),
            candidate_id=_blank(candidate_id),
            application_id=_blank(application_id),
            created_after=day_start(created_from, "created_from"),
            created_before=day_after(created_to, "created_to"),
        )
        counts = await screening_service.status_counts(db_session, principal, filters)
        needing = None
        if status is None and not cursor:
            review_filters = msgspec.structs.replace(filters, status="needs_review")
            needing = await screening_service.list_page(db_session, principal, review_filters, None, PAGE_SIZE, order)
        listed = await screening_service.list_page(
            db_session, principal, msgspec.structs.replace(filters, status=status), cursor, PAGE_SIZE, order
        )
        query = {
            "rubric_id": filters.rubric_id,
            "status": status,
            "candidate_id": filters.candidate_id,
            "application_id": filters.application_id,
            "created_from": _blank(created_from),
            "created_to": _blank(created_to),
            "sort": sort,
        }
        return page(
            request,
            "screenings.html.j2",
            counts=counts,
            total=sum(counts.values()),
            needing=needing,
            listed=listed,
            filters=query,
            query={k: v for k, v in query.items() if v},
            sorts=SORT_LABELS,
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

    @get("/", name="ui-rubrics")
    async def rubrics(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        """Every rubric this organisation can use, newest version of each."""
        return page(
            request, "rubrics.html.j2", rubrics=await rubric_service.summaries(services, db_session, request.user)
        )

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
        plots: dict[str, Any] = {"scatter": None, "spread": None, "spreads": []}
        if out.result is not None:
            report = out.result.report
            low, high = report.scale_min, report.scale_max
            spreads = level_spreads(report.points)
            plots = {
                "scatter": agreement_scatter(report.points, low, high),
                "spread": spread_chart(spreads, low, high),
                "spreads": spreads,
            }
        return page(request, "calibration.html.j2", calibration=out, **plots)


def _cut(text: str | None) -> float | None:
    """The cut from the report form (blank: none); :class:`MalformedField` (400) naming it."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        cut = float(text)
    except ValueError as exc:
        raise MalformedField(f"cut: not a number (got {text[:40]!r}).", fields=[("cut", "not a number")]) from exc
    if not math.isfinite(cut):
        raise MalformedField("cut: not a finite number.", fields=[("cut", "not a finite number")])
    return cut


class ReportPages(Controller):
    """Organisation-wide reports, for HR: adverse impact of a rubric's scores."""

    path = "/ui/reports"
    opt = roles("hr_admin")

    @get("/adverse-impact", name="ui-adverse-impact")
    async def adverse_impact(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        rubric_id: Annotated[str | None, Parameter(max_length=64)] = None,
        cut: Annotated[str | None, Parameter(max_length=40)] = None,
        created_from: DateFilter = None,
        created_to: DateFilter = None,
    ) -> Template:
        """The API's adverse-impact report, drawn: impact ratios against the four-fifths line, the numbers, the notes."""
        principal: Principal = request.user
        form = {
            "rubric_id": _blank(rubric_id),
            "cut": _blank(cut),
            "created_from": _blank(created_from),
            "created_to": _blank(created_to),
        }
        context: dict[str, Any] = {
            "form": form,
            "rubrics": await rubric_service.summaries(services, db_session, principal),
            "report": None,
            "error": None,
        }
        if form["rubric_id"] is not None:
            after = day_start(created_from, "created_from")
            before = day_after(created_to, "created_to")
            try:
                report = await fairness_service.adverse_impact_report(
                    services, db_session, principal, form["rubric_id"], _cut(cut), after, before
                )
            except DomainError as exc:
                if exc.status != 422:
                    raise
                return page(request, "adverse_impact.html.j2", status=422, **{**context, "error": exc.detail})
            context.update(report=report, charts=impact_charts(report))
        return page(request, "adverse_impact.html.j2", **context)
