"""``/v1/reports``: organisation-wide reports for HR (adverse impact)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import fairness_service
from api.auth import Principal, roles
from api.openapi import KEYED, problem_responses
from api.services import Services
from api.timestamps import parse_timestamp
from screening.fairness import AdverseImpactReport, to_csv

__all__ = ["ReportController"]

Timestamp = Annotated[
    str | None,
    Parameter(
        description="ISO 8601 (UTC when no offset is given).", max_length=40, schema_extra={"format": "date-time"}
    ),
]


RUBRIC_ID = Annotated[str, Parameter(description="Screenings scored with this rubric.", max_length=64)]
CUT = Annotated[
    float | None, Parameter(description="Selected = overall level at or above this cut (four-fifths rule).")
]
ERRORS = problem_responses(*KEYED, 403, 400, 422)


async def _report(
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    rubric_id: RUBRIC_ID,
    cut: CUT = None,
    created_after: Timestamp = None,
    created_before: Timestamp = None,
) -> AdverseImpactReport:
    """The report the query asks for (a dependency: both renderings take the same query parameters)."""
    after = parse_timestamp(created_after, "created_after")
    before = parse_timestamp(created_before, "created_before")
    return await fairness_service.adverse_impact_report(services, db_session, principal, rubric_id, cut, after, before)


class ReportController(Controller):
    """Reports over the organisation's stored screenings (hr_admin)."""

    path = "/v1/reports"
    tags = ["reports"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012
    dependencies = {"report": Provide(_report)}  # noqa: RUF012

    @get(
        "/adverse-impact",
        operation_id="adverseImpactReport",
        opt=roles("hr_admin"),
        summary="Adverse-impact report of a rubric's scores by self-identified sex and race/ethnicity",
        responses=ERRORS,
    )
    async def adverse_impact(self, report: NamedDependency[AdverseImpactReport]) -> AdverseImpactReport:
        """Selection rates and impact ratios at the cut (UGESP four-fifths flag), NYC LL144 scoring rates (share
        above the median) by sex, race/ethnicity and their intersections, unknowns, small categories, Fisher's
        exact p-values and per-dimension standardised gaps. Group figures only: no candidate appears in it.
        """
        return report

    @get(
        "/adverse-impact/csv",
        operation_id="adverseImpactReportCsv",
        opt=roles("hr_admin"),
        media_type="text/csv; charset=utf-8",
        summary="The adverse-impact report as CSV",
        responses=ERRORS,
    )
    async def adverse_impact_csv(self, report: NamedDependency[AdverseImpactReport]) -> str:
        """The same report, one row per grouping and category, for a spreadsheet."""
        return to_csv(report)
