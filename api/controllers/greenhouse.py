"""``/partners/greenhouse``: Greenhouse's Assessment Partner API (``list_tests``, ``send_test``, ``test_status``).

Greenhouse authenticates with HTTP Basic (an integration key as user name, empty password); the API-key
middleware accepts Basic on these paths only. Errors are problem details, like every other route.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import greenhouse_service
from api.auth import Principal, roles, token_from
from api.greenhouse_schemas import PartnerTest, SendTestIn, SendTestOut, TestStatusOut
from api.openapi import JSON_BODY, KEYED, problem_responses
from api.services import Services

__all__ = ["GREENHOUSE_PATH", "GreenhouseController"]

GREENHOUSE_PATH = "/partners/greenhouse"
INTEGRATION = roles("integration")
InterviewId = Annotated[
    str,
    QueryParameter(
        name="partner_interview_id",
        description="The `partner_interview_id` that `send_test` returned.",
        min_length=1,
        max_length=40,
    ),
]
NO_INVITATION = "No invitation with this `partner_interview_id` in this organisation."
NO_QUERY = "No `partner_interview_id` in the query, or a NUL character in it."


class GreenhouseController(Controller):
    """The partner side of Greenhouse's assessment contract, for the organisation of the calling key."""

    path = GREENHOUSE_PATH
    tags = ["greenhouse"]  # noqa: RUF012
    security = [{"greenhouseBasic": []}]  # noqa: RUF012
    opt = INTEGRATION

    @get(
        "/list_tests",
        operation_id="greenhouseListTests",
        summary="Greenhouse: the tests (rubrics) this organisation can send",
        responses=problem_responses(*KEYED, 403),
    )
    async def list_tests(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
    ) -> list[PartnerTest]:
        """Every rubric visible to the organisation; its newest version is pinned when a test is sent."""
        return await greenhouse_service.list_tests(services, db_session, principal)

    @post(
        "/send_test",
        operation_id="greenhouseSendTest",
        status_code=200,
        summary="Greenhouse: invite a candidate to answer a rubric",
        responses=problem_responses(*KEYED, 403, *JSON_BODY),
    )
    async def send_test(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        data: JSONBody[SendTestIn],
    ) -> SendTestOut:
        """Store the invitation (the same test, email and application return the same id) and email the link."""
        api_key = token_from(request) or ""
        return await greenhouse_service.send_test(services, db_session, principal, data, api_key)

    @get(
        "/test_status",
        operation_id="greenhouseTestStatus",
        summary="Greenhouse: the state of an invitation, and the result once complete",
        responses=problem_responses(*KEYED, 403, 422, notes={400: NO_QUERY, 404: NO_INVITATION}),
    )
    async def test_status(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        partner_interview_id: InterviewId,
    ) -> TestStatusOut:
        """``complete`` with the review page, the standing 0-100 score and flat metadata; else the state."""
        return await greenhouse_service.test_status(services, db_session, principal, partner_interview_id)

    @get(
        "/candidate_link",
        operation_id="greenhouseCandidateLink",
        summary="The candidate's link, where the operator allows it (no mail)",
        responses=problem_responses(
            *KEYED, 403, 422, notes={400: NO_QUERY, 404: NO_INVITATION + " Or links are not exposed."}
        ),
    )
    async def candidate_link(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        partner_interview_id: InterviewId,
    ) -> dict[str, str]:
        """Only with ``SCREENING_EXPOSE_CANDIDATE_LINKS=true``: the link is a credential; each read is audited."""
        link = await greenhouse_service.exposed_link(services, db_session, principal, partner_interview_id)
        return {"candidate_url": link}
