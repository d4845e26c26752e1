"""Calibration jobs: computed in the service's own processes, with the database as the queue.

A request stores the gold and a ``queued`` calibration and wakes this loop; the loop claims the
oldest claimable calibration (atomically, so several workers never run one twice), renews its
lease while it computes, and stores ``done`` with the result or ``failed`` with the reason. A
process that dies mid-job leaves a lease that lapses; any worker then claims the job again, at
most :data:`MAX_ATTEMPTS` times. The computation (cross-validated agreement report, then the
what-if on stored screenings) runs in a thread of its own, one at a time, so screenings keep
their scoring threads. Nothing stored is changed but the calibration's own row.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import anyio
import anyio.to_thread
import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import rubrics
from api.db import calibrations
from api.db.models import Calibration, GoldAnswerRecord, Screening, utcnow
from api.rendering import report_levels
from api.schemas import CalibrationResult
from api.services import Services
from api.wake_loop import run_woken
from screening.calibration.errors import CalibrationError
from screening.calibration.fit import calibrated_rubric
from screening.calibration.gold import GoldSet, gold_set
from screening.calibration.report import calibration_report
from screening.calibration.what_if import StoredScreening, what_if
from screening.errors import ScreeningError
from screening.report import CandidateAnswers
from screening.rubric import Rubric

__all__ = ["MAX_ATTEMPTS", "CalibrationJobs"]

log = logging.getLogger("api")
MAX_ATTEMPTS = 3
WHAT_IF_VERSION = "what-if"
_answers_decoder = msgspec.json.Decoder(CandidateAnswers)


class _Work(msgspec.Struct, frozen=True, kw_only=True):
    """What one calibration computes from, read before the computation starts."""

    rubric: Rubric
    gold: GoldSet
    folds: int
    seed: int
    screenings: tuple[StoredScreening, ...]
    left_out: int


class CalibrationJobs:
    """The loop that runs queued calibrations of every organisation, one at a time."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.wake = services.calibration_wake  # set by a request that queued a calibration
        self._thread = anyio.CapacityLimiter(1)

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.services.settings.calibration_lease_seconds)

    async def run_forever(self) -> None:
        """Run claimable calibrations; between them, wait to be woken or for the next poll."""
        poll = self.services.settings.calibration_poll_seconds
        await run_woken(self.run_one, self.wake, poll, log, "calibration loop")

    async def run_one(self) -> bool:
        """Claim and run one calibration; ``False`` when there was none to run (or no model yet)."""
        if self.services.scorer is None:
            return False
        async with self.services.sessions() as session, session.begin():
            claimed = await calibrations.claim(session, self._lease)
        if claimed is None:
            return False
        calibration_id, attempt = claimed
        if attempt > MAX_ATTEMPTS:
            reason = f"gave up after {MAX_ATTEMPTS} attempts: the process running it stopped each time"
            await self._finish(calibration_id, attempt, None, reason, None)
            return True
        heartbeat = asyncio.create_task(self._renew(calibration_id, attempt))
        work: _Work | None = None
        try:
            work = await self._read(calibration_id)
            result, error = await self._compute(work), None
        except (CalibrationError, ScreeningError) as exc:
            result, error = None, str(exc)
        except Exception as exc:
            log.exception("calibration %s failed", calibration_id)
            result, error = None, f"internal error ({type(exc).__name__}); upload the gold again or report it"
        finally:
            heartbeat.cancel()
        await self._finish(calibration_id, attempt, result, error, work)
        return True

    async def _renew(self, calibration_id: str, attempt: int) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self.services.sessions() as session, session.begin():
                    await calibrations.renew_lease(session, calibration_id, attempt, self._lease)
            except Exception as exc:  # the job goes on; a lapsed lease costs at most a second run
                log.warning("calibration %s: lease not renewed: %s", calibration_id, type(exc).__name__)

    async def _read(self, calibration_id: str) -> _Work:
        services = self.services
        async with services.sessions() as session:
            row = await session.get(Calibration, calibration_id)
            if row is None:
                raise CalibrationError("the calibration was deleted")
            entry = await rubrics.resolve(
                session, services.library, services.rubric_parser, row.org_id, row.rubric_id, row.rubric_version
            )
            if entry.fingerprint != row.rubric_fingerprint:
                raise CalibrationError(
                    f"version {row.rubric_version} of {row.rubric_id!r} changed after the gold was checked; "
                    "upload the gold again"
                )
            gold = gold_set(entry.rubric, await calibrations.gold_answers(session, calibration_id))
            stored, left_out = await calibrations.what_if_screenings(
                session, row.org_id, row.rubric_id, services.settings.what_if_limit
            )
            humans = await calibrations.human_overall_levels(session, [s.id for s in stored])
        in_gold = set(gold.candidate_ids)
        screenings = tuple(_stored(s, humans.get(s.id), s.candidate_id in in_gold) for s in stored)
        return _Work(
            rubric=entry.rubric, gold=gold, folds=row.folds, seed=row.seed, screenings=screenings, left_out=left_out
        )

    async def _compute(self, work: _Work) -> CalibrationResult:
        scorer = self.services.ready_scorer()
        resamples = self.services.settings.calibration_resamples

        def compute() -> CalibrationResult:
            report = calibration_report(scorer, work.rubric, work.gold, work.folds, work.seed, resamples=resamples)
            version = WHAT_IF_VERSION if work.rubric.version != WHAT_IF_VERSION else f"{WHAT_IF_VERSION}-2"
            calibrated = calibrated_rubric(work.rubric, work.gold, version)
            changes = what_if(scorer, calibrated, work.screenings, left_out=work.left_out)
            return CalibrationResult(report=report, what_if=changes)

        return await anyio.to_thread.run_sync(compute, limiter=self._thread, abandon_on_cancel=True)

    async def _finish(
        self,
        calibration_id: str,
        attempt: int,
        result: CalibrationResult | None,
        error: str | None,
        work: _Work | None,
    ) -> None:
        """Store the outcome, unless another attempt took the job over; what was erased meanwhile stays out."""
        async with self.services.sessions() as session, session.begin():
            query = select(Calibration).where(Calibration.id == calibration_id).with_for_update()
            row = (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()
            if row is None or row.attempts != attempt or row.status != "running":
                return
            blob = None
            if result is not None and work is not None:
                blob = await _without_erased(session, row, msgspec.json.encode(result), work)
            now = utcnow()
            row.status = "done" if blob is not None else "failed"
            row.result, row.error = blob, None if blob is not None else (error or "no result")
            row.lease_until, row.finished_at, row.updated_at = None, now, now
        log.info("calibration %s %s", calibration_id, row.status)


def _stored(screening: Screening, human: float | None, in_gold: bool) -> StoredScreening:
    levels = report_levels(screening.report or b'{"overall": {}}')
    return StoredScreening(
        screening_id=screening.id,
        candidate_id=screening.candidate_id,
        rubric_version=screening.rubric_version,
        answers=_answers_decoder.decode(screening.answers or b""),
        overall=levels.overall.level,
        dimensions={d.dimension_id: d.level for d in levels.dimensions},
        human_overall=human,
        in_gold=in_gold,
    )


async def _without_erased(session: AsyncSession, row: Calibration, blob: bytes, work: _Work) -> bytes:
    """``blob`` without candidates and screenings erased while the job computed."""
    present = set(
        (
            await session.execute(
                select(GoldAnswerRecord.candidate_id).where(GoldAnswerRecord.calibration_id == row.id)
            )
        ).scalars()
    )
    gone = set(work.gold.candidate_ids) - present
    ids = [s.screening_id for s in work.screenings]
    kept = set((await session.execute(select(Screening.id).where(Screening.id.in_(ids)))).scalars()) if ids else set()
    gone_screenings = set(ids) - kept
    if not gone and not gone_screenings:
        return blob
    texts = [a.text for a in work.gold.answers if a.candidate_id in gone]
    return calibrations.scrub_result(blob, gone, texts, gone_screenings)
