"""Calibration queries: every one scoped to an organisation, except the job queue's claim, which takes
the oldest claimable calibration of any organisation (the database is the queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import leases
from api.db.models import Calibration, GoldAnswerRecord, Review, Screening
from api.domain import NotFound
from api.schemas import CalibrationResult
from screening.calibration.gold import GoldAnswer
from screening.calibration.report import without_candidates
from screening.calibration.what_if import what_if_without

__all__ = [
    "claim",
    "claimable",
    "erase_gold",
    "get_calibration",
    "gold_answers",
    "gold_record",
    "human_overall_levels",
    "latest_result",
    "list_calibrations",
    "renew_lease",
    "same_request",
    "saved_as",
    "scrub_result",
    "what_if_screenings",
]

_gold_decoder = msgspec.json.Decoder(GoldAnswer)
_result_decoder = msgspec.json.Decoder(CalibrationResult)
LISTED = 100


def gold_record(calibration_id: str, org_id: str, answer: GoldAnswer) -> GoldAnswerRecord:
    """The row that stores one rated answer of a calibration's gold."""
    return GoldAnswerRecord(
        calibration_id=calibration_id,
        org_id=org_id,
        candidate_id=answer.candidate_id,
        line=answer.line,
        answer=msgspec.json.encode(answer),
    )


async def get_calibration(
    session: AsyncSession, org_id: str, rubric_id: str, calibration_id: str, *, for_update: bool = False
) -> Calibration:
    """The organisation's calibration of this rubric; :class:`NotFound` otherwise (another tenant's too)."""
    query = select(Calibration).where(
        Calibration.id == calibration_id, Calibration.org_id == org_id, Calibration.rubric_id == rubric_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"calibration of rubric {rubric_id!r}", calibration_id)
    return found


async def list_calibrations(session: AsyncSession, org_id: str, rubric_id: str) -> list[Calibration]:
    """The organisation's newest calibrations of a rubric (at most :data:`LISTED`), newest first."""
    query = (
        select(Calibration)
        .where(Calibration.org_id == org_id, Calibration.rubric_id == rubric_id)
        .order_by(Calibration.created_at.desc(), Calibration.id.desc())
        .limit(LISTED)
    )
    return list((await session.execute(query)).scalars())


async def same_request(
    session: AsyncSession,
    org_id: str,
    rubric_id: str,
    fingerprint: str,
    gold_digest: str,
    folds: int,
    seed: int,
) -> Calibration | None:
    """An earlier calibration of the same gold, rubric content and settings that did not fail (a retry)."""
    query = select(Calibration).where(
        Calibration.org_id == org_id,
        Calibration.rubric_id == rubric_id,
        Calibration.rubric_fingerprint == fingerprint,
        Calibration.gold_digest == gold_digest,
        Calibration.folds == folds,
        Calibration.seed == seed,
        Calibration.status != "failed",
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def saved_as(session: AsyncSession, org_id: str, rubric_id: str, version: str) -> bool:
    """Whether a calibration of the organisation was saved as this version (which is then immutable)."""
    query = select(Calibration.id).where(
        Calibration.org_id == org_id, Calibration.rubric_id == rubric_id, Calibration.fitted_version == version
    )
    return (await session.execute(query.limit(1))).first() is not None


async def gold_answers(session: AsyncSession, calibration_id: str) -> list[GoldAnswer]:
    """A calibration's stored gold (what erasure left of it), in file order."""
    query = (
        select(GoldAnswerRecord.answer)
        .where(GoldAnswerRecord.calibration_id == calibration_id)
        .order_by(GoldAnswerRecord.line)
    )
    return [_gold_decoder.decode(blob) for blob in (await session.execute(query)).scalars()]


def claimable(now: datetime) -> ColumnElement[bool]:
    """Queued, or running under a lease that lapsed (its process died)."""
    return leases.claimable(Calibration, now)


async def claim(session: AsyncSession, lease: timedelta) -> tuple[str, int] | None:
    """Take the oldest claimable calibration: ``(id, attempt)``, or ``None``. Atomic across processes."""
    taken = await leases.claim(session, Calibration, Calibration.id, Calibration.created_at, lease)
    return taken[0] if taken else None


async def renew_lease(session: AsyncSession, calibration_id: str, attempt: int, lease: timedelta) -> bool:
    """Extend the running job's lease; ``False`` when another attempt has taken it over."""
    return bool(await leases.renew(session, Calibration, Calibration.id, [(calibration_id, attempt)], lease))


async def what_if_screenings(
    session: AsyncSession, org_id: str, rubric_id: str, limit: int
) -> tuple[list[Screening], int]:
    """The organisation's newest stored screenings of a rubric (at most ``limit``) and how many more there are."""
    scope = and_(Screening.org_id == org_id, Screening.rubric_id == rubric_id, Screening.answers.is_not(None))
    total = (await session.execute(select(func.count()).select_from(Screening).where(scope))).scalar_one()
    query = select(Screening).where(scope).order_by(Screening.created_at.desc(), Screening.id.desc()).limit(limit)
    rows = list((await session.execute(query)).scalars())
    return rows, max(0, total - len(rows))


async def human_overall_levels(session: AsyncSession, screening_ids: Sequence[str]) -> dict[str, float | None]:
    """The overall level a human decided for each reviewed screening (the newest review stands)."""
    if not screening_ids:
        return {}
    query = (
        select(Review.screening_id, Review.level)
        .where(Review.screening_id.in_(screening_ids), Review.target == "overall")
        .order_by(Review.pk)
    )
    return {screening_id: level for screening_id, level in (await session.execute(query)).all()}


async def latest_result(
    session: AsyncSession, org_id: str, rubric_id: str, version: str, fingerprint: str
) -> tuple[str, CalibrationResult] | None:
    """The newest finished calibration about a version: the one it was saved from, else one of its content."""
    query = select(Calibration).where(
        Calibration.org_id == org_id, Calibration.rubric_id == rubric_id, Calibration.status == "done"
    )
    query = query.where(
        or_(
            Calibration.fitted_version == version,
            and_(Calibration.rubric_version == version, Calibration.rubric_fingerprint == fingerprint),
        )
    )
    found = (await session.execute(query.order_by(Calibration.finished_at.desc()).limit(1))).scalar_one_or_none()
    if found is None or found.result is None:
        return None
    return found.id, _result_decoder.decode(found.result)


def scrub_result(blob: bytes, candidate_ids: set[str], texts: Sequence[str], screening_ids: set[str]) -> bytes:
    """A stored result without what quotes erased candidates (their answers' texts, their screenings)."""
    result = _result_decoder.decode(blob)
    return msgspec.json.encode(
        CalibrationResult(
            report=without_candidates(result.report, candidate_ids, texts),
            what_if=what_if_without(result.what_if, candidate_ids, screening_ids),
        )
    )


async def erase_gold(session: AsyncSession, org_id: str, candidate_id: str, screening_ids: Sequence[str]) -> int:
    """Delete a candidate's gold answers and scrub them (and their screenings) from every stored result.

    Returns the number of gold answers deleted.
    """
    theirs = and_(GoldAnswerRecord.org_id == org_id, GoldAnswerRecord.candidate_id == candidate_id)
    query = select(GoldAnswerRecord).where(theirs)
    holding = select(GoldAnswerRecord.calibration_id).where(theirs)
    # lock every calibration that holds their gold (a job finishing meanwhile waits, then sees it gone)
    # or a result, before the gold rows themselves
    results = (
        select(Calibration)
        .where(Calibration.org_id == org_id)
        .where(or_(Calibration.result.is_not(None), Calibration.id.in_(holding)))
        .order_by(Calibration.id)
    )
    locked = list((await session.execute(results.with_for_update())).scalars())
    records = list((await session.execute(query.with_for_update())).scalars())
    texts = [_gold_decoder.decode(r.answer).text for r in records]
    needles = [msgspec.json.encode(i) for i in (candidate_id, *screening_ids)]
    for calibration in locked:
        blob = calibration.result
        if blob is None:
            continue
        if records or any(n in blob for n in needles):  # a result that cannot name them is left alone
            calibration.result = scrub_result(blob, {candidate_id}, texts, set(screening_ids))
    if records:
        await session.execute(delete(GoldAnswerRecord).where(GoldAnswerRecord.pk.in_([r.pk for r in records])))
    return len(records)
