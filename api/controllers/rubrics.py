"""``/v1/rubrics``: built-in rubrics for everyone, uploaded ones for their organisation."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import rubrics
from api.auth import Principal, roles
from api.controllers.base import OrgController, services_of
from api.db import repo
from api.db.models import RubricUpload, utcnow
from api.errors import ApiError
from api.schemas import RubricDetail, RubricSummary, RubricValidation, RubricVersionInfo, RubricWarning
from api.schemas import RubricUpload as RubricUploadIn
from api.services import Services
from screening.rubric import Rubric, rubric_fingerprint, rubric_warnings

__all__ = ["RubricController"]

READ = roles("integration", "recruiter", "hr_admin")


def _parse(services: Services, toml: str) -> Rubric:
    size = len(toml.encode("utf-8"))
    if size > services.settings.max_rubric_bytes:
        raise ApiError(
            413,
            "payload-too-large",
            "Rubric too large",
            f"The rubric is {size} bytes; at most {services.settings.max_rubric_bytes} are accepted.",
        )
    return rubrics.parse_upload(toml)


def _validation(rubric: Rubric) -> RubricValidation:
    return RubricValidation(
        valid=True,
        id=rubric.id,
        version=rubric.version,
        fingerprint=rubric_fingerprint(rubric),
        questions=len(rubric.questions),
        dimensions=len(rubric.dimensions),
        references=len(rubric.references),
        warnings=tuple(RubricWarning(location=w.location, message=w.message) for w in rubric_warnings(rubric)),
    )


class RubricController(OrgController):
    """Rubrics visible to the caller's organisation."""

    path = "/v1/rubrics"
    tags = ["rubrics"]  # noqa: RUF012

    @get("/", operation_id="listRubrics", opt=READ, summary="List rubrics")
    async def list_rubrics(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
    ) -> list[RubricSummary]:
        """Built-in rubrics and this organisation's uploads, newest version of each."""
        services = services_of(request)
        out: list[RubricSummary] = []
        async with services.sessions() as session:
            for rubric_id in await rubrics.visible_ids(session, services.library, principal.org_id):
                entries = await rubrics.visible(session, services.library, principal.org_id, rubric_id)
                latest = entries[-1]
                out.append(
                    RubricSummary(
                        id=rubric_id,
                        title=latest.rubric.title,
                        latest_version=latest.rubric.version,
                        versions=tuple(e.rubric.version for e in entries),
                        source=latest.source,
                    )
                )
        return out

    @get("/{rubric_id:str}", operation_id="getRubric", opt=READ, summary="Read a rubric and its versions")
    async def get_rubric(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        rubric_id: Annotated[str, Parameter(description="The rubric's id.", max_length=64)],
    ) -> RubricDetail:
        """Return the newest version in full, and every version with its fingerprint and whether it was used."""
        services = services_of(request)
        async with services.sessions() as session:
            entries = await rubrics.visible(session, services.library, principal.org_id, rubric_id)
            if not entries:
                raise ApiError.not_found("rubric", rubric_id)
            versions = []
            for e in entries:
                used = e.source == "organisation" and await rubrics.is_used(
                    session, principal.org_id, rubric_id, e.rubric.version
                )
                versions.append(
                    RubricVersionInfo(
                        version=e.rubric.version,
                        fingerprint=e.fingerprint,
                        title=e.rubric.title,
                        source=e.source,
                        used=used or e.source == "builtin",
                        created_at=e.created_at,
                    )
                )
        return RubricDetail(
            id=rubric_id,
            source=entries[-1].source,
            latest=msgspec.to_builtins(entries[-1].rubric),
            versions=tuple(versions),
        )

    @post("/validate", operation_id="validateRubric", status_code=200, opt=READ, summary="Validate a rubric")
    async def validate(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], data: JSONBody[RubricUploadIn]
    ) -> RubricValidation:
        """Check rubric TOML without storing it; every problem is listed with its location."""
        return _validation(_parse(services_of(request), data.toml))

    @post("/", operation_id="uploadRubric", status_code=201, opt=roles("hr_admin"), summary="Upload a rubric version")
    async def upload(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], data: JSONBody[RubricUploadIn]
    ) -> Response[RubricValidation]:
        """Store a new version for this organisation. A version that has scored anyone cannot change (409)."""
        services = services_of(request)
        rubric = _parse(services, data.toml)
        if rubric.id in services.library.ids():
            raise ApiError(
                409,
                "rubric-id-reserved",
                "Rubric id reserved",
                f"{rubric.id!r} is a built-in rubric id; upload under another id.",
            )
        fingerprint = rubric_fingerprint(rubric)
        status = 201
        try:
            async with services.sessions() as session, session.begin():
                existing = (
                    await session.execute(
                        select(RubricUpload)
                        .where(
                            RubricUpload.org_id == principal.org_id,
                            RubricUpload.rubric_id == rubric.id,
                            RubricUpload.version == rubric.version,
                        )
                        .with_for_update()
                    )
                ).scalar_one_or_none()
                now = utcnow()
                if existing is None:
                    session.add(
                        RubricUpload(
                            org_id=principal.org_id,
                            rubric_id=rubric.id,
                            version=rubric.version,
                            title=rubric.title,
                            fingerprint=fingerprint,
                            toml=data.toml,
                            uploaded_by=principal.key_id,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                elif existing.fingerprint == fingerprint:
                    status = 200
                elif await rubrics.is_used(session, principal.org_id, rubric.id, rubric.version):
                    raise ApiError(
                        409,
                        "rubric-version-immutable",
                        "Rubric version in use",
                        f"Version {rubric.version!r} of {rubric.id!r} has scored candidates and cannot "
                        "change; upload it as a new version.",
                    )
                else:
                    existing.toml, existing.fingerprint, existing.title = data.toml, fingerprint, rubric.title
                    existing.updated_at, existing.uploaded_by = now, principal.key_id
                    status = 200
                if status == 201 or existing is not None:
                    await repo.add_audit(
                        session,
                        principal,
                        "rubric_uploaded",
                        details={"rubric_id": rubric.id, "version": rubric.version, "fingerprint": fingerprint},
                    )
        except IntegrityError as exc:
            raise ApiError(
                409,
                "rubric-version-conflict",
                "Rubric version conflict",
                "Another upload of this version happened at the same time; retry.",
            ) from exc
        await services.prepare(rubric)
        return Response(content=_validation(rubric), status_code=status)
