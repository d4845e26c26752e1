"""``/v1/screenings`` and ``/v1/candidates``: score, read, review, rescore, audit, export, erase."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import (
    demographics_service,
    erasure_service,
    job_service,
    review_link_service,
    review_service,
    screening_service,
)
from api.auth import Principal, roles
from api.controllers.jobs import JOB_BEFORE, job_response
from api.db import repo
from api.openapi import (
    BAD_LIST_QUERY,
    CREATE_CONFLICT,
    CREATE_INVALID,
    JSON_BODY,
    KEYED,
    NO_CANDIDATE,
    NO_DEMOGRAPHICS,
    NO_SCREENING,
    PATH_ID,
    RESCORE_INVALID,
    REVIEW_INVALID,
    RUBRIC_CHANGED,
    problem_responses,
)
from api.schemas import (
    AuditLog,
    DemographicsIn,
    DemographicsOut,
    Erasure,
    ListSort,
    Page,
    ReviewIn,
    ReviewLinkOut,
    ScreeningIn,
    ScreeningJobOut,
    ScreeningOut,
    ScreeningStatus,
)
from api.services import Services
from api.timestamps import parse_timestamp
from api.ui.access import signer_of

__all__ = ["CandidateController", "ScreeningController"]

JSON = "application/json"
CandidateId = Annotated[str, Parameter(description="The ATS candidate id.", max_length=200)]
ScreeningId = Annotated[str, Parameter(description="The screening record's id.", max_length=40)]
ExternalIdFilter = Annotated[str | None, Parameter(max_length=200)]
READ = roles("integration", "recruiter", "hr_admin")


def wants_async(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (RFC 7240) asks for ``respond-async``."""
    if not prefer:
        return False
    return any(part.split(";")[0].split("=")[0].strip().lower() == "respond-async" for part in prefer.split(","))


def _json(body: bytes, status: int = 200) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=JSON)


class ScreeningController(Controller):
    """Screening records of the caller's organisation."""

    path = "/v1/screenings"
    tags = ["screenings"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="createScreening",
        status_code=201,
        opt=roles("integration"),
        summary="Score a candidate's answers and store the report",
        responses={
            200: JOB_BEFORE,
            202: ResponseSpec(
                data_container=ScreeningJobOut,
                description="With `Prefer: respond-async`: checked and queued; poll the job at `Location`.",
            ),
            **problem_responses(*KEYED, 403, *JSON_BODY, notes={409: CREATE_CONFLICT, 422: CREATE_INVALID}),
        },
    )
    async def create(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
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
        prefer: Annotated[
            str | None,
            HeaderParameter(
                name="Prefer",
                max_length=200,
                required=False,
                description="`respond-async`: answer `202` with a job at once and score in the background.",
            ),
        ] = None,
    ) -> Response[ScreeningOut]:
        """Score the answers against the rubric and store the record; ``201`` means it is durably stored.

        With `Prefer: respond-async` the request is checked the same way, queued, and answered `202`
        with a job (`Location`); the record it stores is the one this call would have returned.
        """
        if wants_async(prefer):
            job, created = await job_service.accept_single(services, db_session, principal, data, idempotency_key)
            return job_response(job, created, {"Preference-Applied": "respond-async"})
        return _json(await screening_service.create(services, db_session, principal, data, idempotency_key), 201)

    @get(
        "/",
        operation_id="listScreenings",
        opt=READ,
        summary="List screenings",
        responses=problem_responses(*KEYED, notes=BAD_LIST_QUERY),
    )
    async def list_screenings(
        self,
        *,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        candidate_id: Annotated[
            str | None, Parameter(description="Only this ATS candidate id.", max_length=200)
        ] = None,
        application_id: Annotated[
            str | None, Parameter(description="Only this ATS application id.", max_length=200)
        ] = None,
        rubric_id: Annotated[
            str | None, Parameter(description="Only screenings scored with this rubric.", max_length=64)
        ] = None,
        status: Annotated[ScreeningStatus | None, Parameter(description="Only records in this status.")] = None,
        created_after: Annotated[
            str | None,
            Parameter(
                description="Created at or after (ISO 8601; UTC when no offset is given).",
                max_length=40,
                schema_extra={"format": "date-time"},
            ),
        ] = None,
        created_before: Annotated[
            str | None,
            Parameter(
                description="Created before (ISO 8601; UTC when no offset is given).",
                max_length=40,
                schema_extra={"format": "date-time"},
            ),
        ] = None,
        cursor: Annotated[
            str | None, Parameter(description="`next_cursor` from the previous page.", max_length=400)
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=100, description="Page size (1-100).")] = 20,
        sort: Annotated[
            ListSort,
            Parameter(
                description="`newest` first, or by overall level: `level_desc` (highest first) or `level_asc`; "
                "unscored records last, ties newest first. A cursor only continues the order it was made for."
            ),
        ] = "newest",
    ) -> Page:
        """Newest first or by overall level, filtered, one page at a time (cursor pagination)."""
        filters = repo.ListFilters(
            candidate_id=candidate_id,
            application_id=application_id,
            rubric_id=rubric_id,
            status=status,
            created_after=parse_timestamp(created_after, "created_after"),
            created_before=parse_timestamp(created_before, "created_before"),
        )
        return await screening_service.list_page(db_session, principal, filters, cursor, limit, sort)

    @get(
        "/{screening_id:str}",
        operation_id="getScreening",
        opt=READ,
        summary="Read a screening",
        responses=problem_responses(*KEYED, *PATH_ID, 410, notes={404: NO_SCREENING}),
    )
    async def get_screening(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
    ) -> Response[ScreeningOut]:
        """Return the stored report (byte-identical to when it was scored), reviews, decision and history."""
        return _json(await screening_service.view(db_session, principal, screening_id))

    @post(
        "/{screening_id:str}/reviews",
        operation_id="reviewScreening",
        status_code=201,
        opt=roles("recruiter", "hr_admin"),
        summary="Confirm or override a level",
        responses=problem_responses(
            *KEYED, 403, *PATH_ID, 410, *JSON_BODY, notes={404: NO_SCREENING, 422: REVIEW_INVALID}
        ),
    )
    async def review(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
        data: ReviewIn,
    ) -> Response[ScreeningOut]:
        """Record a human review with its reason; the model's level is kept beside it."""
        return _json(await review_service.review(db_session, principal, screening_id, data), 201)

    @post(
        "/{screening_id:str}/rescore",
        operation_id="rescoreScreening",
        status_code=200,
        opt=roles("recruiter", "hr_admin"),
        summary="Re-run the engine",
        responses=problem_responses(
            *KEYED, 403, *PATH_ID, 410, notes={404: NO_SCREENING, 409: RUBRIC_CHANGED, 422: RESCORE_INVALID}
        ),
    )
    async def rescore(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
    ) -> Response[ScreeningOut]:
        """Score again with the current model and rubric; old results stay in history, reviews stand."""
        return _json(await screening_service.rescore(services, db_session, principal, screening_id))

    @post(
        "/{screening_id:str}/review-links",
        operation_id="createReviewLink",
        status_code=201,
        opt=roles(*review_link_service.LINK_ROLES),
        summary="A one-time sign-in link to the screening's review page",
        responses=problem_responses(*KEYED, 403, *PATH_ID, 410, notes={404: NO_SCREENING}),
    )
    async def create_review_link(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
    ) -> ReviewLinkOut:
        """A signed link (e.g. an ATS's ``partner_profile_url``) that opens this screening's review page once,
        within ``SCREENING_REVIEW_LINK_MINUTES``. The session it opens sees only this screening, with recruiter
        rights, in the name of the calling key (audited with the link's id); revoking the key ends it.
        """
        signer, base = signer_of(request), str(request.base_url)
        return await review_link_service.create(services, db_session, principal, screening_id, signer, base)

    @get(
        "/{screening_id:str}/audit",
        operation_id="getScreeningAudit",
        opt=roles("recruiter", "hr_admin"),
        summary="Audit log of a screening",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_SCREENING}),
    )
    async def audit(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
    ) -> AuditLog:
        """Everything that happened to the record, oldest first (append-only; kept after erasure)."""
        return await screening_service.audit_log(db_session, principal, screening_id)

    @get(
        "/{screening_id:str}/export",
        operation_id="exportScreening",
        opt=roles("hr_admin"),
        summary="Export a screening for an HR report",
        responses=problem_responses(*KEYED, 403, *PATH_ID, 410, notes={404: NO_SCREENING}),
    )
    async def export(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        screening_id: ScreeningId,
    ) -> Response[dict[str, Any]]:
        """Export the record with the candidate's answers and its audit log; the export is audited."""
        return _json(await screening_service.export(db_session, principal, screening_id))


class CandidateController(Controller):
    """Data-protection requests about one candidate."""

    path = "/v1/candidates"
    tags = ["candidates"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @delete(
        "/{candidate_id:str}",
        operation_id="eraseCandidate",
        status_code=200,
        opt=roles("hr_admin"),
        summary="Erase a candidate's answers and reports",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_CANDIDATE}),
    )
    async def erase(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        candidate_id: CandidateId,
    ) -> Erasure:
        """Delete answers, reports and reviews of every screening of this candidate; the audit log says so."""
        count, seq = await erasure_service.erase(services, db_session, principal, candidate_id)
        return Erasure(erased_screenings=count, audit_seq=seq)

    @put(
        "/{candidate_id:str}/demographics",
        operation_id="recordDemographics",
        status_code=200,
        opt=roles("hr_admin"),
        summary="Record a candidate's optional self-identification",
        responses=problem_responses(*KEYED, 403, *JSON_BODY, *PATH_ID),
    )
    async def record_demographics(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        candidate_id: CandidateId,
        data: JSONBody[DemographicsIn],
    ) -> DemographicsOut:
        """Record or replace it. It is kept apart from answers and reports and is never an input to scoring."""
        return await demographics_service.record(db_session, principal, candidate_id, data)

    @get(
        "/{candidate_id:str}/demographics",
        operation_id="getDemographics",
        opt=roles("hr_admin"),
        summary="Read a candidate's self-identification",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_DEMOGRAPHICS}),
    )
    async def get_demographics(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        candidate_id: CandidateId,
    ) -> DemographicsOut:
        """Only hr_admin may read it; it never appears in a screening, an export or the audit log."""
        return await demographics_service.read(db_session, principal, candidate_id)

    @delete(
        "/{candidate_id:str}/demographics",
        operation_id="deleteDemographics",
        status_code=204,
        opt=roles("hr_admin"),
        summary="Withdraw a candidate's self-identification",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_DEMOGRAPHICS}),
    )
    async def delete_demographics(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        candidate_id: CandidateId,
    ) -> None:
        """Delete it (erasing the candidate deletes it too)."""
        await demographics_service.delete(db_session, principal, candidate_id)
