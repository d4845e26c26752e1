"""The front door at ``/``: the service's name and version and where to go from there.

A small page (the review pages' base template, no script) for people; the same links as JSON for
``Accept: application/json``. Public: it shows nothing that the public routes it links to do not.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.response import Template

from screening.scorer import engine_version

__all__ = ["LINKS", "FrontDoor", "Link", "front_door"]

SERVICE_NAME = "Attitude screening"


class Link(msgspec.Struct, frozen=True, kw_only=True):
    """Where to go, and what is there."""

    rel: str
    href: str
    title: str
    description: str


class FrontDoor(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON front door: the service, its versions, and its links by relation."""

    service: str
    version: str
    api_version: str
    links: dict[str, str]


LINKS: tuple[Link, ...] = (
    Link(
        rel="reference",
        href="/schema",
        title="API reference",
        description="Every operation with its parameters, responses and errors; try them with an API key.",
    ),
    Link(
        rel="openapi",
        href="/schema/openapi.json",
        title="OpenAPI document (JSON)",
        description="The contract, for code generators and applicant tracking system integrations.",
    ),
    Link(
        rel="readiness",
        href="/readyz",
        title="Readiness",
        description="Whether the model is loaded and the database answers (503 until then).",
    ),
    Link(rel="liveness", href="/healthz", title="Liveness", description="Whether the process is up."),
    Link(
        rel="sign_in",
        href="/ui/sign-in",
        title="Sign in to the review pages",
        description="For recruiters and HR, with a personal API key: screenings, their evidence, reviews.",
    ),
)
"""The links shown on the page and returned as JSON, in this order."""
_VARY = {"Vary": "Accept"}


@get("/", name="front-door", opt={"ui_public": True}, sync_to_thread=False)
def front_door(request: Request[Any, Any, Any]) -> Response[Any]:
    """The front door: HTML, or JSON when the client prefers ``application/json``."""
    api_version = request.app.openapi_config.version if request.app.openapi_config else ""
    if request.accept.best_match([MediaType.HTML, MediaType.JSON], default=MediaType.HTML) == MediaType.JSON:
        body = FrontDoor(
            service=SERVICE_NAME,
            version=engine_version(),
            api_version=api_version,
            links={link.rel: link.href for link in LINKS},
        )
        return Response(body, media_type=MediaType.JSON, headers=_VARY)
    context = {"service": SERVICE_NAME, "version": engine_version(), "api_version": api_version, "links": LINKS}
    return Template(template_name="front_door.html.j2", context=context, headers=_VARY)
