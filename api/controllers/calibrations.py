"""``/v1/rubrics/{rubric_id}/calibrations``: HR's rated answers, the agreement report, what-if and saving."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import calibration_service
from api.auth import Principal, roles
from api.openapi import CALIBRATED_BEFORE, JSON_BODY, KEYED, PATH_ID, problem_responses
from api.schemas import CalibrationIn, CalibrationOut, CalibrationSummary, FitIn, FitOut
from api.services import Services

__all__ = ["CalibrationController"]

HR = roles("hr_admin")
RubricId = Annotated[str, Parameter(description="The rubric's id.", max_length=64)]
CalibrationId = Annotated[str, Parameter(description="The calibration's id.", max_length=40)]
NO_CALIBRATION = "No such rubric, or no such calibration of it, in this organisation."
GOLD_INVALID = (
    "Invalid body, an unknown `rubric_version`, fewer than 2 candidates, or gold with problems "
    "(`invalid-gold`: each line and field in `errors`)."
)


class CalibrationController(Controller):
    """Calibrations of one rubric, for hr_admin keys of the organisation."""

    path = "/v1/rubrics/{rubric_id:str}/calibrations"
    tags = ["calibration"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="createCalibration",
        status_code=202,
        opt=HR,
        summary="Upload rated answers and calibrate",
        responses={
            200: CALIBRATED_BEFORE,
            **problem_responses(*KEYED, 403, *JSON_BODY, *PATH_ID, notes={404: "No such rubric.", 422: GOLD_INVALID}),
        },
        response_headers=[
            ResponseHeader(name="Location", description="The calibration's URL, to poll.", documentation_only=True)
        ],
    )
    async def create(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        rubric_id: RubricId,
        data: JSONBody[CalibrationIn],
    ) -> Response[CalibrationOut]:
        """Store human-rated answers for a version of the rubric and queue their calibration (202).

        The job computes the agreement of the model with the raters (before, and cross-validated after
        calibrating), the raters' own agreement, and how stored screenings would move (what-if); poll
        the calibration until `status` is `done`. The same gold with the same settings returns the
        calibration already made (200).
        """
        out, status = await calibration_service.create(services, db_session, principal, rubric_id, data)
        location = f"/v1/rubrics/{rubric_id}/calibrations/{out.id}"
        return Response(content=out, status_code=status, headers={"Location": location})

    @get(
        "/",
        operation_id="listCalibrations",
        opt=HR,
        summary="List calibrations of a rubric",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: "No such rubric."}),
    )
    async def list_calibrations(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        rubric_id: RubricId,
    ) -> list[CalibrationSummary]:
        """The organisation's calibrations of the rubric, newest first (at most 100)."""
        return await calibration_service.summaries(services, db_session, principal, rubric_id)

    @get(
        "/{calibration_id:str}",
        operation_id="getCalibration",
        opt=HR,
        summary="Read a calibration",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_CALIBRATION}),
    )
    async def get_calibration(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        rubric_id: RubricId,
        calibration_id: CalibrationId,
    ) -> CalibrationOut:
        """The calibration's state and, once done, its agreement report and what-if (nothing stored was changed)."""
        return await calibration_service.detail(db_session, principal, rubric_id, calibration_id)

    @post(
        "/{calibration_id:str}/fit",
        operation_id="saveCalibration",
        status_code=201,
        opt=HR,
        summary="Save a calibration as a new rubric version",
        responses=problem_responses(
            *KEYED,
            403,
            *JSON_BODY,
            *PATH_ID,
            notes={
                404: NO_CALIBRATION,
                409: "Not done yet, saved before, the version exists, the base version changed, or rated "
                "answers were erased since the report.",
            },
        ),
    )
    async def fit(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        rubric_id: RubricId,
        calibration_id: CalibrationId,
        data: JSONBody[FitIn],
    ) -> FitOut:
        """Save the calibrated rubric (its references plus the rated answers as anchors) as a new version.

        The version the gold was rated against stays, unchanged; new screenings that do not pin a version
        use the newest, and every score made with it names the calibration in its provenance.
        """
        return await calibration_service.fit(services, db_session, principal, rubric_id, calibration_id, data)
