"""Calibrations for HR: upload rated answers, read the agreement report and the what-if, save a calibrated version.

The gold is validated as strictly as a rubric (every problem with its line and field), stored per
organisation and rubric, and computed on by :mod:`api.calibration_jobs`. Saving (``fit``) adds a new
version of the rubric for the organisation; the version the gold was rated against stays as it is.
"""

from __future__ import annotations

import logging
import uuid

import anyio.to_thread
import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import rubric_service, rubrics
from api.auth import Principal
from api.db import calibrations, repo
from api.db.models import Calibration, RubricUpload, utcnow
from api.domain import Conflict, InvalidField, NotFound
from api.rubrics import RubricEntry
from api.schemas import CalibrationIn, CalibrationOut, CalibrationResult, CalibrationSummary, FitIn, FitOut
from api.screening_service import end_reads
from api.services import Services
from screening.calibration.fit import calibrated_rubric, rubric_toml
from screening.calibration.gold import GoldSet, gold_set, parse_gold
from screening.rubric import Rubric, rubric_fingerprint

__all__ = ["create", "detail", "fit", "summaries"]

log = logging.getLogger("api")
_result_decoder = msgspec.json.Decoder(CalibrationResult)


def _summary(row: Calibration) -> CalibrationSummary:
    return CalibrationSummary(
        id=row.id,
        rubric_id=row.rubric_id,
        rubric_version=row.rubric_version,
        rubric_fingerprint=row.rubric_fingerprint,
        gold_digest=row.gold_digest,
        answers=row.answers,
        candidates=row.candidates,
        folds=row.folds,
        seed=row.seed,
        status=row.status,  # type: ignore[arg-type]
        error=row.error,
        fitted_version=row.fitted_version,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def _out(row: Calibration) -> CalibrationOut:
    result = _result_decoder.decode(row.result) if row.result is not None else None
    return CalibrationOut(**msgspec.structs.asdict(_summary(row)), result=result)


async def _entry(
    services: Services, session: AsyncSession, principal: Principal, rubric_id: str, version: str | None
) -> RubricEntry:
    """The visible version (newest when ``version`` is None); 404 for an unknown rubric, 422 for an unknown version."""
    entries = await rubrics.visible(session, services.library, services.rubric_parser, principal.org_id, rubric_id)
    if not entries:
        raise NotFound("rubric", rubric_id)
    if version is None:
        return entries[-1]
    for entry in entries:
        if entry.rubric.version == version:
            return entry
    known = ", ".join(e.rubric.version for e in entries)
    raise InvalidField(
        f"Rubric {rubric_id!r} has no version {version!r} (versions: {known}).",
        fields=[("rubric_version", f"unknown version {version!r}")],
    )


def _checked_gold(data: CalibrationIn, rubric: Rubric, most: int) -> GoldSet:
    """Parse and validate the gold (in a worker thread: a large file must not block the loop)."""
    gold = parse_gold(data.gold.encode("utf-8"), data.format, rubric, source="gold")
    if len(gold.answers) > most:
        raise InvalidField(
            f"At most {most} rated answers are calibrated at once (SCREENING_CALIBRATION_MAX_ANSWERS).",
            fields=[("gold", f"{len(gold.answers)} rated answers; at most {most}")],
        )
    if len(gold.candidate_ids) < 2:
        raise InvalidField(
            "Cross-validation needs rated answers of at least 2 candidates.",
            fields=[("gold", f"{len(gold.candidate_ids)} candidate(s); at least 2 are needed")],
        )
    return gold


async def create(
    services: Services, session: AsyncSession, principal: Principal, rubric_id: str, data: CalibrationIn
) -> tuple[CalibrationOut, int]:
    """Store the gold and queue its calibration (202); the same gold and settings again return the first (200)."""
    entry = await _entry(services, session, principal, rubric_id, data.rubric_version)
    await end_reads(session)
    most = services.settings.calibration_max_answers
    gold = await anyio.to_thread.run_sync(_checked_gold, data, entry.rubric, most)
    version, folds, seed = entry.rubric.version, int(data.folds), int(data.seed)
    async with session.begin():
        same = await calibrations.same_request(
            session, principal.org_id, rubric_id, entry.fingerprint, gold.digest, folds, seed
        )
        if same is not None:
            return _out(same), 200
        now = utcnow()
        row = Calibration(
            id=str(uuid.uuid4()),
            org_id=principal.org_id,
            rubric_id=rubric_id,
            rubric_version=version,
            rubric_fingerprint=entry.fingerprint,
            gold_digest=gold.digest,
            answers=len(gold.answers),
            candidates=len(gold.candidate_ids),
            folds=folds,
            seed=seed,
            status="queued",
            attempts=0,
            created_by=principal.key_id,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        session.add_all(calibrations.gold_record(row.id, principal.org_id, a) for a in gold.answers)
        await repo.add_audit(
            session,
            principal,
            "calibration_requested",
            details={
                "calibration_id": row.id,
                "rubric_id": rubric_id,
                "version": version,
                "gold_digest": gold.digest,
                "answers": len(gold.answers),
                "candidates": len(gold.candidate_ids),
            },
        )
    services.calibration_wake.set()
    return _out(row), 202


async def summaries(
    services: Services, session: AsyncSession, principal: Principal, rubric_id: str
) -> list[CalibrationSummary]:
    """The organisation's calibrations of a rubric, newest first; 404 for a rubric it cannot see."""
    await _entry(services, session, principal, rubric_id, None)
    return [_summary(r) for r in await calibrations.list_calibrations(session, principal.org_id, rubric_id)]


async def detail(session: AsyncSession, principal: Principal, rubric_id: str, calibration_id: str) -> CalibrationOut:
    """One calibration, with its agreement report and what-if once done."""
    return _out(await calibrations.get_calibration(session, principal.org_id, rubric_id, calibration_id))


def _check_not_saved(row: Calibration) -> None:
    """409 when the calibration was saved already (a calibration becomes one version, once)."""
    if row.fitted_version is not None:
        raise Conflict(
            "calibration-already-saved",
            "Calibration already saved",
            f"This calibration was saved as version {row.fitted_version!r}.",
        )


def _check_gold_unchanged(row: Calibration, gold: GoldSet) -> None:
    """409 when rated answers were erased since the report: its figures no longer describe this gold."""
    if gold.digest != row.gold_digest:
        raise Conflict(
            "calibration-gold-changed",
            "Rated answers erased",
            "Rated answers of this calibration were erased after its report was made; upload the remaining "
            "gold again to calibrate and save.",
        )


def _calibrated(rubric: Rubric, gold: GoldSet, version: str, calibration_id: str) -> tuple[Rubric, str]:
    calibrated = calibrated_rubric(rubric, gold, version, calibration_id)
    return calibrated, rubric_toml(calibrated)


async def fit(
    services: Services,
    session: AsyncSession,
    principal: Principal,
    rubric_id: str,
    calibration_id: str,
    data: FitIn,
) -> FitOut:
    """Save a finished calibration as a new version of the rubric for the organisation (201).

    The gold's answers (what erasure left of them) become anchors; the version the gold was rated
    against, and every other, stays as it is. A calibration is saved once; a version is never replaced.
    """
    row = await calibrations.get_calibration(session, principal.org_id, rubric_id, calibration_id)
    if row.status != "done":
        raise Conflict(
            "calibration-not-done",
            "Calibration not done",
            f"The calibration is {row.status}; save it once its report is done and you have read it.",
        )
    _check_not_saved(row)
    entries = await rubrics.visible(session, services.library, services.rubric_parser, principal.org_id, rubric_id)
    base = next((e for e in entries if e.rubric.version == row.rubric_version), None)
    if base is None or base.fingerprint != row.rubric_fingerprint:
        raise Conflict(
            "rubric-version-changed",
            "Rubric version changed",
            f"Version {row.rubric_version!r} is no longer the one the gold was rated against; calibrate again.",
        )
    if any(e.rubric.version == data.version for e in entries):
        raise Conflict(
            "rubric-version-exists",
            "Rubric version exists",
            f"Version {data.version!r} of {rubric_id!r} exists and is never replaced; choose a new version.",
        )
    gold = gold_set(base.rubric, await calibrations.gold_answers(session, calibration_id))
    _check_gold_unchanged(row, gold)
    await end_reads(session)
    calibrated, toml = await anyio.to_thread.run_sync(_calibrated, base.rubric, gold, data.version, calibration_id)
    fingerprint = rubric_fingerprint(calibrated)
    try:
        async with session.begin():
            row = await calibrations.get_calibration(
                session, principal.org_id, rubric_id, calibration_id, for_update=True
            )
            _check_not_saved(row)  # another save may have committed meanwhile
            # an erasure may have committed while the version was built: its anchors must not outlive it
            _check_gold_unchanged(row, gold_set(base.rubric, await calibrations.gold_answers(session, calibration_id)))
            now = utcnow()
            session.add(
                RubricUpload(
                    org_id=principal.org_id,
                    rubric_id=rubric_id,
                    version=data.version,
                    title=calibrated.title,
                    fingerprint=fingerprint,
                    toml=toml,
                    uploaded_by=principal.key_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            row.fitted_version, row.updated_at = data.version, now
            await repo.add_audit(
                session,
                principal,
                "calibration_saved",
                details={
                    "calibration_id": calibration_id,
                    "rubric_id": rubric_id,
                    "base_version": row.rubric_version,
                    "version": data.version,
                    "fingerprint": fingerprint,
                    "gold_digest": gold.digest,
                },
            )
    except IntegrityError as exc:
        raise Conflict(
            "rubric-version-exists",
            "Rubric version exists",
            f"Version {data.version!r} of {rubric_id!r} was stored meanwhile; choose a new version.",
        ) from exc
    try:  # committed: warming the embeddings is an optimisation, never a reason to report failure
        await services.prepare(calibrated)
    except Exception as exc:
        log.warning("calibrated rubric %s %s not pre-encoded: %s", rubric_id, data.version, type(exc).__name__)
    return FitOut(calibration_id=calibration_id, rubric=rubric_service.validation(calibrated))
