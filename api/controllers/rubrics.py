"""``/v1/rubrics``: built-in rubrics for everyone, uploaded ones for their organisation."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import rubric_service
from api.auth import Principal, roles
from api.openapi import (
    JSON_BODY,
    KEYED,
    NO_RUBRIC,
    PATH_ID,
    RUBRIC_INVALID,
    RUBRIC_TOO_LARGE,
    STORED_BEFORE,
    UPLOAD_CONFLICT,
    problem_responses,
)
from api.schemas import RubricDetail, RubricSummary, RubricValidation
from api.schemas import RubricUpload as RubricUploadIn
from api.services import Services
from screening.model_card import ModelCard

__all__ = ["RubricController"]

READ = roles("integration", "recruiter", "hr_admin")


class RubricController(Controller):
    """Rubrics visible to the caller's organisation."""

    path = "/v1/rubrics"
    tags = ["rubrics"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @get("/", operation_id="listRubrics", opt=READ, summary="List rubrics", responses=problem_responses(*KEYED))
    async def list_rubrics(
        self, services: NamedDependency[Services], db_session: NamedDependency[AsyncSession], principal: Principal
    ) -> list[RubricSummary]:
        """Built-in rubrics and this organisation's uploads, newest version of each."""
        return await rubric_service.summaries(services, db_session, principal)

    @get(
        "/{rubric_id:str}",
        operation_id="getRubric",
        opt=READ,
        summary="Read a rubric and its versions",
        responses=problem_responses(*KEYED, *PATH_ID, notes={404: NO_RUBRIC}),
    )
    async def get_rubric(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        rubric_id: Annotated[str, Parameter(description="The rubric's id.", max_length=64)],
    ) -> RubricDetail:
        """Return the newest version in full, and every version with its fingerprint and whether it was used."""
        return await rubric_service.detail(services, db_session, principal, rubric_id)

    @get(
        "/{rubric_id:str}/versions/{version:str}/card",
        operation_id="getModelCard",
        opt=READ,
        summary="The model card of a rubric version",
        responses=problem_responses(*KEYED, *PATH_ID, notes={404: "No such rubric or version for this organisation."}),
    )
    async def get_card(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        rubric_id: Annotated[str, Parameter(description="The rubric's id.", max_length=64)],
        version: Annotated[str, Parameter(description="The rubric version.", max_length=32)],
    ) -> ModelCard:
        """Intended use, what it does not measure, the method and model with hashes, references per level,
        warnings, calibration status, known limits, and (for hr_admin) adverse-impact figures when data exist.
        """
        return await rubric_service.card(services, db_session, principal, rubric_id, version)

    @post(
        "/validate",
        operation_id="validateRubric",
        status_code=200,
        opt=READ,
        summary="Validate a rubric",
        responses=problem_responses(*KEYED, *JSON_BODY, notes={413: RUBRIC_TOO_LARGE, 422: RUBRIC_INVALID}),
    )
    async def validate(self, services: NamedDependency[Services], data: JSONBody[RubricUploadIn]) -> RubricValidation:
        """Check rubric TOML without storing it; every problem is listed with its location."""
        return rubric_service.validation(await rubric_service.parse(services, data.toml))

    @post(
        "/",
        operation_id="uploadRubric",
        status_code=201,
        opt=roles("hr_admin"),
        summary="Upload a rubric version",
        responses={
            200: STORED_BEFORE,
            **problem_responses(
                *KEYED, 403, *JSON_BODY, notes={409: UPLOAD_CONFLICT, 413: RUBRIC_TOO_LARGE, 422: RUBRIC_INVALID}
            ),
        },
    )
    async def upload(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        data: RubricUploadIn,
    ) -> Response[RubricValidation]:
        """Store a new version for this organisation. A version that has scored anyone cannot change (409)."""
        result, status = await rubric_service.upload(services, db_session, principal, data.toml)
        return Response(content=result, status_code=status)
