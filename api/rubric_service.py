"""Rubrics: list and read the visible ones, validate TOML, and store an organisation's versions."""

from __future__ import annotations

import logging

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import fairness_service, rubrics
from api.auth import Principal
from api.db import calibrations, repo
from api.db.models import RubricUpload, utcnow
from api.domain import Conflict, InvalidField, NotFound, TooLarge
from api.schemas import RubricDetail, RubricSummary, RubricValidation, RubricVersionInfo, RubricWarning
from api.services import Services
from screening.model_card import ModelCard, card_calibration, model_card
from screening.rubric import Rubric, rubric_fingerprint, rubric_warnings

__all__ = ["card", "detail", "parse", "summaries", "upload", "validation"]

log = logging.getLogger("api")


async def parse(services: Services, toml: str) -> Rubric:
    """Parse and validate uploaded TOML within the size limit and time budget."""
    size = len(toml.encode("utf-8"))
    if size > services.settings.max_rubric_bytes:
        raise TooLarge(f"The rubric is {size} bytes; at most {services.settings.max_rubric_bytes} are accepted.")
    return await services.rubric_parser.parse(toml)


def validation(rubric: Rubric) -> RubricValidation:
    """A valid rubric's identity and warnings."""
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


async def summaries(services: Services, session: AsyncSession, principal: Principal) -> list[RubricSummary]:
    """Built-in rubrics and the organisation's uploads, newest version of each."""
    out: list[RubricSummary] = []
    for rubric_id in await rubrics.visible_ids(session, services.library, principal.org_id):
        entries = await rubrics.visible(session, services.library, services.rubric_parser, principal.org_id, rubric_id)
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


async def detail(services: Services, session: AsyncSession, principal: Principal, rubric_id: str) -> RubricDetail:
    """The newest version in full, and every version with its fingerprint and whether it was used."""
    entries = await rubrics.visible(session, services.library, services.rubric_parser, principal.org_id, rubric_id)
    if not entries:
        raise NotFound("rubric", rubric_id)
    versions = []
    for e in entries:
        used = e.source == "builtin" or await rubrics.is_used(session, principal.org_id, rubric_id, e.rubric.version)
        versions.append(
            RubricVersionInfo(
                version=e.rubric.version,
                fingerprint=e.fingerprint,
                title=e.rubric.title,
                source=e.source,
                used=used,
                created_at=e.created_at,
            )
        )
    return RubricDetail(
        id=rubric_id,
        source=entries[-1].source,
        latest=msgspec.to_builtins(entries[-1].rubric),
        versions=tuple(versions),
    )


async def upload(
    services: Services, session: AsyncSession, principal: Principal, toml: str
) -> tuple[RubricValidation, int]:
    """Store a version for the organisation (201), or re-store the same one (200); a used version is immutable."""
    rubric = await parse(services, toml)
    if rubric.calibration is not None and rubric.calibration.calibration_id is not None:
        raise InvalidField(
            "A calibration id is set only by saving a calibration (POST .../calibrations/{id}/fit).",
            fields=[("calibration.calibration_id", "set only by saving a calibration; leave it out")],
        )
    if rubric.id in services.library.ids():
        raise Conflict(
            "rubric-id-reserved",
            "Rubric id reserved",
            f"{rubric.id!r} is a built-in rubric id; upload under another id.",
        )
    fingerprint = rubric_fingerprint(rubric)
    try:
        async with session.begin():
            existing = await rubrics.stored_upload(session, principal.org_id, rubric.id, rubric.version)
            now = utcnow()
            if existing is None:
                status = 201
                session.add(
                    RubricUpload(
                        org_id=principal.org_id,
                        rubric_id=rubric.id,
                        version=rubric.version,
                        title=rubric.title,
                        fingerprint=fingerprint,
                        toml=toml,
                        uploaded_by=principal.key_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
            elif existing.fingerprint == fingerprint:
                status = 200
            elif await rubrics.is_used(session, principal.org_id, rubric.id, rubric.version) or (
                await calibrations.saved_as(session, principal.org_id, rubric.id, rubric.version)
            ):
                raise Conflict(
                    "rubric-version-immutable",
                    "Rubric version in use",
                    f"Version {rubric.version!r} of {rubric.id!r} has scored candidates or was saved from a "
                    "calibration, and cannot change; upload it as a new version.",
                )
            else:
                status = 200
                existing.toml, existing.fingerprint, existing.title = toml, fingerprint, rubric.title
                existing.updated_at, existing.uploaded_by = now, principal.key_id
            await repo.add_audit(
                session,
                principal,
                "rubric_uploaded",
                details={"rubric_id": rubric.id, "version": rubric.version, "fingerprint": fingerprint},
            )
    except IntegrityError as exc:
        raise Conflict(
            "rubric-version-conflict",
            "Rubric version conflict",
            "Another upload of this version happened at the same time; retry.",
        ) from exc
    try:  # committed: warming the embeddings is an optimisation, never a reason to report failure
        await services.prepare(rubric)
    except Exception as exc:
        log.warning("stored rubric %s %s not pre-encoded: %s", rubric.id, rubric.version, type(exc).__name__)
    return validation(rubric), status


async def card(
    services: Services, session: AsyncSession, principal: Principal, rubric_id: str, version: str
) -> ModelCard:
    """The model card of one visible rubric version; adverse-impact figures for hr_admin only."""
    entries = await rubrics.visible(session, services.library, services.rubric_parser, principal.org_id, rubric_id)
    entry = next((e for e in entries if e.rubric.version == version), None)
    if entry is None:
        raise NotFound(f"version of rubric {rubric_id!r}", version)
    prepared = await services.prepared(entry.rubric)
    provenance = services.ready_scorer().provenance(prepared)
    impact = None
    if principal.role == "hr_admin":
        impact = await fairness_service.compute(session, principal, entry.rubric, cut=None)
    found = await calibrations.latest_result(session, principal.org_id, rubric_id, version, entry.fingerprint)
    calibration = card_calibration(entry.rubric, found[1].report, found[0]) if found else None
    return model_card(entry.rubric, provenance, impact, calibration)
