"""``/v1/screenings`` and ``/v1/candidates``: score, read, review, rescore, audit, export, erase."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, Parameter

from api import records
from api.auth import Principal, roles
from api.controllers.base import OrgController, services_of
from api.db import repo
from api.schemas import AuditEntry, AuditLog, Erasure, Page, ReviewIn, ScreeningIn, ScreeningOut, ScreeningStatus

__all__ = ["CandidateController", "ScreeningController"]

JSON = "application/json"
ScreeningId = Annotated[str, Parameter(description="The screening record's id.", max_length=40)]
READ = roles("integration", "recruiter", "hr_admin")


def _json(body: bytes, status: int = 200) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=JSON)


class ScreeningController(OrgController):
    """Screening records of the caller's organisation."""

    path = "/v1/screenings"
    tags = ["screenings"]  # noqa: RUF012

    @post(
        "/",
        operation_id="createScreening",
        status_code=201,
        opt=roles("integration"),
        summary="Score a candidate's answers and store the report",
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        data: JSONBody[ScreeningIn],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                min_length=1,
                max_length=200,
                required=False,
                description="Makes retries safe: the same key and body return the same record.",
            ),
        ] = None,
    ) -> Response[ScreeningOut]:
        """Score the answers against the rubric and store the record; ``201`` means it is durably stored."""
        body, status = await records.create(services_of(request), principal, data, idempotency_key)
        return _json(body, status)

    @get("/", operation_id="listScreenings", opt=READ, summary="List screenings")
    async def list_screenings(
        self,
        *,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        candidate_id: Annotated[str | None, Parameter(description="Only this ATS candidate id.")] = None,
        application_id: Annotated[str | None, Parameter(description="Only this ATS application id.")] = None,
        rubric_id: Annotated[str | None, Parameter(description="Only screenings scored with this rubric.")] = None,
        status: Annotated[ScreeningStatus | None, Parameter(description="Only records in this status.")] = None,
        created_after: Annotated[datetime | None, Parameter(description="Created at or after (ISO 8601).")] = None,
        created_before: Annotated[datetime | None, Parameter(description="Created before (ISO 8601).")] = None,
        cursor: Annotated[str | None, Parameter(description="`next_cursor` from the previous page.")] = None,
        limit: Annotated[int, Parameter(ge=1, le=100, description="Page size (1-100).")] = 20,
    ) -> Page:
        """Newest first, filtered, one page at a time (cursor pagination)."""
        filters = repo.ListFilters(
            candidate_id=candidate_id,
            application_id=application_id,
            rubric_id=rubric_id,
            status=status,
            created_after=created_after,
            created_before=created_before,
        )
        async with services_of(request).sessions() as session:
            rows, next_cursor = await repo.list_screenings(session, principal.org_id, filters, cursor, limit)
        return Page(items=tuple(records.summary(r) for r in rows), next_cursor=next_cursor)

    @get("/{screening_id:str}", operation_id="getScreening", opt=READ, summary="Read a screening")
    async def get_screening(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], screening_id: ScreeningId
    ) -> Response[ScreeningOut]:
        """Return the stored report (byte-identical to when it was scored), reviews, decision and history."""
        return _json(await records.view(services_of(request), principal, screening_id))

    @post(
        "/{screening_id:str}/reviews",
        operation_id="reviewScreening",
        status_code=201,
        opt=roles("recruiter", "hr_admin"),
        summary="Confirm or override a level",
    )
    async def review(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
        data: JSONBody[ReviewIn],
    ) -> Response[ScreeningOut]:
        """Record a human review with its reason; the model's level is kept beside it."""
        return _json(await records.review(services_of(request), principal, screening_id, data), 201)

    @post(
        "/{screening_id:str}/rescore",
        operation_id="rescoreScreening",
        status_code=200,
        opt=roles("recruiter", "hr_admin"),
        summary="Re-run the engine",
    )
    async def rescore(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], screening_id: ScreeningId
    ) -> Response[ScreeningOut]:
        """Score again with the current model and rubric; old results stay in history, reviews stand."""
        return _json(await records.rescore(services_of(request), principal, screening_id))

    @get(
        "/{screening_id:str}/audit",
        operation_id="getScreeningAudit",
        opt=roles("recruiter", "hr_admin"),
        summary="Audit log of a screening",
    )
    async def audit(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], screening_id: ScreeningId
    ) -> AuditLog:
        """Everything that happened to the record, oldest first (append-only)."""
        async with services_of(request).sessions() as session:
            await repo.get_screening(session, principal.org_id, screening_id)
            events = await repo.audit_for(session, principal.org_id, screening_id)
        return AuditLog(
            screening_id=screening_id,
            entries=tuple(msgspec.convert(records.audit_entry(e), AuditEntry) for e in events),
        )

    @get(
        "/{screening_id:str}/export",
        operation_id="exportScreening",
        opt=roles("hr_admin"),
        summary="Export a screening for an HR report",
    )
    async def export(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], screening_id: ScreeningId
    ) -> Response[dict[str, Any]]:
        """Export the record with the candidate's answers and its audit log; the export is audited."""
        return _json(await records.export(services_of(request), principal, screening_id))


class CandidateController(OrgController):
    """Data-protection requests about one candidate."""

    path = "/v1/candidates"
    tags = ["candidates"]  # noqa: RUF012

    @delete(
        "/{candidate_id:str}",
        operation_id="eraseCandidate",
        status_code=200,
        opt=roles("hr_admin"),
        summary="Erase a candidate's answers and reports",
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        candidate_id: Annotated[str, Parameter(description="The ATS candidate id to erase.", max_length=200)],
    ) -> Erasure:
        """Erase answers, reports and reviews of every screening of this candidate; the audit log says so."""
        count, seq = await records.erase(services_of(request), principal, candidate_id)
        return Erasure(erased_screenings=count, audit_seq=seq)
