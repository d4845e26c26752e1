"""``screening worker``: a process that loads the model once and runs screening jobs.

Any number of them, on any machines, share one database and one Redis. With Redis, SAQ hands out
"score a batch" tasks (``worker_concurrency`` at once per process) and each process reconciles the
queue with the database; without Redis, the process claims items from the database directly
(polling every ``job_poll_seconds``). SIGTERM or SIGINT stops it gracefully: the batches running
finish (for up to ``job_lease_seconds``), any cut short go back to the queue without counting the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from saq import Worker

from api.app import build_services, default_scorer_factory, load_scorer
from api.db.engine import check_migrated
from api.job_dispatch import SCORE_BATCH
from api.job_runner import JobRunner
from api.services import Services
from api.settings import Settings

__all__ = ["run_worker"]

log = logging.getLogger("api")


async def run_worker(settings: Settings, concurrency: int) -> int:
    """Run jobs until stopped; the exit status (1 when the model failed to load)."""
    services = build_services(settings, blocking_queue=True)
    try:
        await check_migrated(services.engine)
        await load_scorer(services, None, default_scorer_factory(settings))
        if services.scorer is None:
            log.error("%s", services.load_error)
            return 1
        runner = JobRunner(services)
        if settings.redis_url is None:
            await _poll_database(runner, concurrency)
        else:
            await _serve_saq(services, runner, concurrency)
        return 0
    finally:
        if services.job_dispatch is not None:
            await services.job_dispatch.close()
        await services.shared.close()
        await services.engine.dispose()
        services.rubric_parser.close()


async def _poll_database(runner: JobRunner, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("worker: %d slot(s) claiming screening jobs from the database", concurrency)
    await asyncio.gather(*(runner.run_forever(stop) for _ in range(concurrency)))


async def _serve_saq(services: Services, runner: JobRunner, concurrency: int) -> None:
    dispatch = services.job_dispatch
    assert dispatch is not None and dispatch.queue is not None  # Redis is configured

    async def score_batch(_ctx: object) -> int:
        return await runner.run_batch()

    worker = Worker(
        dispatch.queue,
        functions=[(SCORE_BATCH, score_batch)],
        concurrency=concurrency,
        dequeue_timeout=1.0,
        shutdown_grace_period_s=int(services.settings.job_lease_seconds),
    )
    reconciler = asyncio.create_task(dispatch.reconcile_forever())
    log.info("worker: %d slot(s) taking screening jobs from %s", concurrency, dispatch.queue.name)
    try:
        await worker.start()  # returns on SIGTERM or SIGINT, after the running batches
    finally:
        reconciler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciler
