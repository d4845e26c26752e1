"""``/v1/screening-jobs``: queue an NDJSON batch of screenings, follow a job, list its screenings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import job_service
from api.auth import Principal, roles
from api.errors import ApiError
from api.openapi import KEYED, PATH_ID, problem_responses
from api.request_gate import content_type, read_body
from api.schemas import JobItemPage, JobStatus, ScreeningJobOut
from api.services import Services

__all__ = ["JOB_BEFORE", "NDJSON_TYPES", "ScreeningJobController", "job_response"]

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")
JobId = Annotated[str, Parameter(description="The job's id.", max_length=40)]
READ = roles("integration", "recruiter", "hr_admin")
NO_JOB = "No such job in this key's organisation."
BATCH_INVALID = "Some lines have problems (each as `line N: field` in `errors`); nothing was queued."
JOB_BEFORE = ResponseSpec(
    data_container=ScreeningJobOut, description="This Idempotency-Key already made this job (same body): that job."
)
LOCATION = ResponseHeader(name="Location", description="The job's URL, to poll.", documentation_only=True)


def job_response(job: ScreeningJobOut, created: bool, headers: dict[str, str] | None = None) -> Response[Any]:
    """``202`` with the new job (``200`` for a job a reused key already made) and its ``Location``."""
    return Response(
        content=job,
        status_code=202 if created else 200,
        headers={"Location": f"/v1/screening-jobs/{job.id}", **(headers or {})},
    )


class ScreeningJobController(Controller):
    """Asynchronous screenings of the caller's organisation."""

    path = "/v1/screening-jobs"
    tags = ["screening jobs"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="createScreeningBatch",
        status_code=202,
        opt=roles("integration"),
        summary="Queue a batch of screenings (NDJSON)",
        request_max_body_size=None,  # bounded below by SCREENING_MAX_BATCH_BYTES
        response_headers=[LOCATION],
        responses={
            200: JOB_BEFORE,
            **problem_responses(
                *KEYED, 400, 403, 409, 413, 415, 422, notes={422: BATCH_INVALID, 409: "Idempotency-Key reused."}
            ),
        },
    )
    async def create_batch(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        partial: Annotated[
            Literal["allow", "deny"],
            Parameter(description="`allow`: queue the good lines and report the bad ones; `deny`: all or nothing."),
        ] = "deny",
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                min_length=1,
                max_length=200,
                required=False,
                description="Makes retries safe: the same key and body return the same job.",
            ),
        ] = None,
    ) -> Response[ScreeningJobOut]:
        """One `POST /v1/screenings` body per line (`application/x-ndjson`); every line is checked first (202)."""
        body = await _ndjson_body(request, services.settings.max_batch_bytes)
        job, created = await job_service.accept_batch(
            services, db_session, principal, body, partial == "allow", idempotency_key
        )
        return job_response(job, created)

    @get(
        "/{job_id:str}",
        operation_id="getScreeningJob",
        opt=READ,
        summary="Read a screening job",
        responses=problem_responses(*KEYED, *PATH_ID, notes={404: NO_JOB}),
    )
    async def get_job(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], job_id: JobId
    ) -> ScreeningJobOut:
        """State (`queued`, `running`, `scored`, `failed` with a problem) and progress of a job."""
        return await job_service.view(db_session, principal, job_id)

    @get(
        "/{job_id:str}/items",
        operation_id="listScreeningJobItems",
        opt=READ,
        summary="List a job's screenings",
        responses=problem_responses(*KEYED, *PATH_ID, notes={404: NO_JOB}),
    )
    async def list_items(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        job_id: JobId,
        after: Annotated[int, Parameter(ge=0, le=2**31 - 1, description="`next_after` from the previous page.")] = 0,
        limit: Annotated[int, Parameter(ge=1, le=1000, description="Page size (1-1000).")] = 100,
        status: Annotated[JobStatus | None, Parameter(description="Only screenings in this state.")] = None,
    ) -> JobItemPage:
        """Each line's state, its record once scored, or its problem once failed, in line order."""
        return await job_service.item_page(db_session, principal, job_id, after, limit, status)


async def _ndjson_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    if content_type(request.scope) not in NDJSON_TYPES:
        raise ApiError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "Send the batch as NDJSON with `Content-Type: application/x-ndjson` (one JSON object per line).",
            headers={"Accept": ", ".join(NDJSON_TYPES)},
        )
    too_large = ApiError(
        413,
        "payload-too-large",
        "Request body too large",
        f"The batch is larger than {limit} bytes (SCREENING_MAX_BATCH_BYTES); split it into several jobs.",
    )
    disconnected = ApiError(
        400, "malformed-request", "Malformed request", "The client disconnected before sending the whole body."
    )
    return await read_body(request.receive, limit, too_large=too_large, disconnected=disconnected)
