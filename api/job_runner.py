"""Screening jobs: claim queued items from the database, score them together, store each record.

One code path stores a job's screening and a synchronous ``POST /v1/screenings``'s:
:func:`screening_service.prepare` then :func:`screening_service.store`, under the item's
idempotency key, so an item run twice (its worker was killed after storing) replays the record
instead of making a second. Between them the claimed items of one rubric are scored in one
``score_many`` call: their answers go to the encoder in shared batches, across jobs.

The item's lease, not the idempotency lock a synchronous call holds, keeps two workers off one
item (a killed worker's Redis lock would stall the next for minutes); a synchronous call racing
a single job with the same key is settled by the key's unique row: the second to store replays.

An item whose request cannot succeed (its answers no longer fit, the candidate was erased) fails at
once; any other failure is retried after ``job_retry_seconds`` until ``job_max_attempts``, then the
item is dead-lettered: failed, with the last problem, counted in ``/metrics``. A worker that stops
gracefully queues its unfinished items again without counting the attempt; one that dies leaves
leases that lapse, and another worker claims the items again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import screening_service, webhook_events
from api.auth import Principal
from api.db import jobs
from api.db.models import ScreeningJob, ScreeningJobItem
from api.errors import ApiError, ProblemDetails, problem_type, to_api_error
from api.schemas import ScreeningIn
from api.services import Services
from api.wake_loop import run_woken

__all__ = ["PERMANENT", "JobRunner", "job_problem"]

log = logging.getLogger("api")
_body_decoder = msgspec.json.Decoder(ScreeningIn)
# problems that another attempt cannot cure; anything else is retried, then dead-lettered
PERMANENT = frozenset({"invalid-answers", "validation-error", "erased", "idempotency-conflict", "malformed-request"})


def job_problem(error: ApiError, instance: str | None = None) -> bytes:
    """Problem details (JSON) for a job or one of its items."""
    details = ProblemDetails(
        type=problem_type(error.slug),
        title=error.title,
        status=error.status,
        detail=error.detail,
        instance=instance,
        errors=error.errors,
    )
    return msgspec.json.encode(details)


def _erased() -> ApiError:
    return ApiError(410, "erased", "Erased", "The candidate was erased before this screening was scored.")


async def _not_erased(item_pk: int, session: AsyncSession) -> None:
    """In the storing transaction: lock the item and refuse to store when its candidate was erased meanwhile."""
    query = select(ScreeningJobItem.body).where(ScreeningJobItem.pk == item_pk).with_for_update()
    body = (await session.execute(query)).scalar_one_or_none()
    if not body:
        raise _erased()


@dataclass(eq=False)
class _Work:
    """One claimed item on its way: its request, and what to score once checked."""

    claim: jobs.Claim
    item: ScreeningJobItem
    principal: Principal
    data: ScreeningIn | None = None
    pending: screening_service.Pending | None = None


async def _job_finished(session: AsyncSession, job: ScreeningJob) -> None:
    """The one place a job finishes, inside the transaction that counts its last item: ``job.completed`` is queued."""
    log.info("screening job %s %s: %d scored, %d failed", job.id, job.status, job.scored, job.failed)
    await webhook_events.record_job_completed(session, job)


class JobRunner:
    """Claims and runs screening-job items; the same for the in-process runner and ``screening worker``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.retry = timedelta(seconds=settings.job_retry_seconds)
        self.batch = settings.job_batch_size
        self.max_attempts = settings.job_max_attempts

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Run batches until ``stop``; between them wait to be woken (``services.job_wake``) or the next poll."""
        poll = self.services.settings.job_poll_seconds
        await run_woken(self._ran_batch, self.services.job_wake, poll, log, "screening jobs", stop)

    async def _ran_batch(self) -> bool:
        return await self.run_batch() > 0

    async def run_batch(self) -> int:
        """Claim up to ``job_batch_size`` items, score them, store each; how many were claimed."""
        if self.services.scorer is None:
            return 0
        async with self.services.sessions() as session, session.begin():
            claims = await jobs.claim_items(session, self.lease, self.batch)
        if not claims:
            return 0
        unfinished = dict(claims)
        heartbeat = asyncio.create_task(self._renew(unfinished))
        try:
            await self._run(claims, unfinished)
        except asyncio.CancelledError:  # shutting down: the next worker takes them, the attempt not counted
            await asyncio.shield(self._release(list(unfinished.items())))
            raise
        finally:
            heartbeat.cancel()
        return len(claims)

    async def _renew(self, unfinished: dict[int, int]) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.services.sessions() as session, session.begin():
                    await jobs.renew_items(session, list(unfinished.items()), self.lease)
            except Exception as exc:  # the batch goes on; a lapsed lease costs at most a replay
                log.warning("screening jobs: leases not renewed: %s", type(exc).__name__)

    async def _release(self, claims: list[jobs.Claim]) -> None:
        with contextlib.suppress(Exception):
            async with self.services.sessions() as session, session.begin():
                await jobs.release_items(session, claims)

    async def _run(self, claims: list[jobs.Claim], unfinished: dict[int, int]) -> None:
        async with self.services.sessions() as session:
            rows = await jobs.items_of(session, [pk for pk, _ in claims])
        work = [_Work((item.pk, unfinished[item.pk]), item, _principal(job)) for item, job in rows]
        ready = [w for w in work if await self._checked(w, unfinished)]
        for group in _by_rubric(ready):
            await self._score(group, unfinished)

    async def _checked(self, work: _Work, unfinished: dict[int, int]) -> bool:
        """Decode and check the item; ``True`` when it waits for its report."""
        if work.claim[1] > self.max_attempts:
            stopped = ApiError(
                500,
                "job-dead-lettered",
                "Gave up",
                f"Gave up after {self.max_attempts} attempts: the worker running it stopped each time.",
            )
            await self._finish(work, unfinished, None, stopped, dead_letter=True)
            return False
        if not work.item.body:
            await self._finish(work, unfinished, None, _erased())
            return False
        try:
            work.data = _body_decoder.decode(work.item.body)
            async with self.services.sessions() as session:
                found = await screening_service.prepare(
                    self.services, session, work.principal, work.data, work.item.idempotency_key
                )
        except Exception as exc:
            await self._failed(work, unfinished, exc)
            return False
        if isinstance(found, str):  # stored by an earlier attempt: replayed, not scored twice
            await self._finish(work, unfinished, found, None)
            return False
        work.pending = found
        return True

    async def _score(self, group: list[_Work], unfinished: dict[int, int]) -> None:
        rubric = group[0].pending.entry.rubric  # type: ignore[union-attr]
        try:
            reports = await self.services.score_many(rubric, [w.pending.candidate for w in group])  # type: ignore[union-attr]
        except Exception as exc:
            for work in group:
                await self._failed(work, unfinished, exc)
            return
        for work, report in zip(group, reports, strict=True):
            try:
                async with self.services.sessions() as session:
                    screening_id, _ = await screening_service.store(
                        self.services,
                        session,
                        work.principal,
                        work.pending,  # type: ignore[arg-type]
                        report,
                        functools.partial(_not_erased, work.item.pk),
                    )
            except Exception as exc:
                await self._failed(work, unfinished, exc)
                continue
            await self._finish(work, unfinished, screening_id, None)

    async def _failed(self, work: _Work, unfinished: dict[int, int], exc: Exception) -> None:
        error = to_api_error(exc)
        if error.slug in PERMANENT:
            await self._finish(work, unfinished, None, error)
            return
        if work.claim[1] >= self.max_attempts:
            detail = f"Gave up after {self.max_attempts} attempts; the last one failed: {error.detail}"
            dead = ApiError(error.status, error.slug, error.title, detail, errors=error.errors)
            await self._finish(work, unfinished, None, dead, dead_letter=True)
            return
        async with self.services.sessions() as session, session.begin():
            await jobs.retry_item(session, work.claim, self.retry, job_problem(error))
        unfinished.pop(work.claim[0], None)

    async def _finish(
        self,
        work: _Work,
        unfinished: dict[int, int],
        screening_id: str | None,
        error: ApiError | None,
        *,
        dead_letter: bool = False,
    ) -> None:
        problem = job_problem(error) if error is not None else None
        async with self.services.sessions() as session, session.begin():
            job = await jobs.finish_item(
                session, work.claim, screening_id=screening_id, problem=problem, dead_letter=dead_letter
            )
            if job is not None:
                await _job_finished(session, job)
        unfinished.pop(work.claim[0], None)
        if dead_letter:
            self.services.metrics.dead_letters.inc()


def _principal(job: ScreeningJob) -> Principal:
    """The key that queued the job: the record is stored (and audited) as made by it."""
    return Principal(key_id=job.created_by, org_id=job.org_id, role=job.created_by_role)  # type: ignore[arg-type]


def _by_rubric(ready: Iterable[_Work]) -> list[list[_Work]]:
    """Items grouped by the rubric content they are scored with (one ``score_many`` call per group)."""
    groups: dict[tuple[str, str, str], list[_Work]] = {}
    for work in ready:
        entry = work.pending.entry  # type: ignore[union-attr]
        groups.setdefault((entry.rubric.id, entry.rubric.version, entry.fingerprint), []).append(work)
    return list(groups.values())
