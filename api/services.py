"""What the app holds at run time (settings, database, shared state, scorer) and how scoring runs off the loop."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api.domain import NotReady
from api.job_dispatch import JobDispatch
from api.metrics import Metrics
from api.partner_secret import PartnerSecret
from api.rubric_parsing import RubricParser
from api.settings import Settings
from api.stores import SharedState
from screening.prepared import PreparedRubric
from screening.report import CandidateAnswers, CandidateReport
from screening.rubric import Rubric, RubricLibrary
from screening.scorer import Scorer

__all__ = ["Services"]


@dataclass(eq=False)
class Services:
    """Everything handlers need; created by ``create_app`` and filled in by the lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    shared: SharedState
    metrics: Metrics
    library: RubricLibrary
    rubric_parser: RubricParser
    scorer: Scorer | None = None
    load_error: str | None = None
    limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))
    calibration_wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: a calibration was queued
    webhook_wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: a commit wrote webhook events
    partner_secret: PartnerSecret | None = None  # the Greenhouse integration's (None: not configured)
    greenhouse_wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: mail, scoring or a callback is due
    job_wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: screening-job items were queued
    job_dispatch: JobDispatch | None = None  # wakes whoever runs screening jobs (set by ``build_services``)

    def ready_scorer(self) -> Scorer:
        """Return the scorer, or raise 503 while the model is still loading."""
        if self.scorer is None:
            detail = self.load_error or "The scoring model is still loading; retry shortly."
            raise NotReady(detail, headers={"Retry-After": "5"})
        return self.scorer

    async def score(self, rubric: Rubric, candidate: CandidateAnswers) -> CandidateReport:
        """Score in a worker thread; at most ``scoring_concurrency`` at once."""
        scorer = self.ready_scorer()
        start = time.perf_counter()
        report = await anyio.to_thread.run_sync(scorer.score, rubric, candidate, limiter=self.limiter)
        self.metrics.scoring.observe(time.perf_counter() - start)
        return report

    async def score_many(self, rubric: Rubric, candidates: list[CandidateAnswers]) -> list[CandidateReport]:
        """Score several candidates in one worker thread, their answers encoded in shared batches."""
        scorer = self.ready_scorer()
        start = time.perf_counter()
        reports = await anyio.to_thread.run_sync(scorer.score_many, rubric, candidates, limiter=self.limiter)
        elapsed = (time.perf_counter() - start) / max(1, len(candidates))
        for _ in candidates:
            self.metrics.scoring.observe(elapsed)
        return reports

    async def prepared(self, rubric: Rubric) -> PreparedRubric:
        """The scorer's prepared rubric (encoded and fitted off the loop); 503 while the model loads."""
        scorer = self.ready_scorer()
        return await anyio.to_thread.run_sync(scorer.prepare, rubric, limiter=self.limiter)

    async def prepare(self, rubric: Rubric) -> None:
        """Pre-encode a rubric's references off the loop (when the model is loaded)."""
        if self.scorer is not None:
            await self.prepared(rubric)
