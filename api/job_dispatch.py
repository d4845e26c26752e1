"""Waking whoever runs screening jobs: SAQ tasks over Redis, or the in-process runner's event.

The database holds every job and item (see :mod:`api.db.jobs`); a SAQ task carries no job, only
"claim and score one batch of whatever is oldest", so a task lost with Redis loses nothing. Each
``screening worker`` also reconciles every ``job_poll_seconds``: when fewer tasks are queued than
the claimable items need (Redis restarted or was flushed, a worker died and its leases lapsed), it
enqueues the difference.
"""

from __future__ import annotations

import asyncio
import logging
import math

from saq import Queue
from saq.queue.redis import RedisQueue
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.db import jobs
from api.settings import Settings
from api.stores import redis_client

__all__ = ["SCORE_BATCH", "JobDispatch", "saq_queue"]

log = logging.getLogger("api")
SCORE_BATCH = "score_batch"  # the one SAQ task: claim and score up to job_batch_size items
MOST_TASKS = 256  # queued at once by one call; the reconciler tops up as they drain
TASK_TIMEOUT_SECONDS = 900


def saq_queue(settings: Settings, *, blocking: bool = False) -> Queue | None:
    """The SAQ queue on the configured Redis (``None`` without Redis).

    ``blocking`` (a worker's dequeue waits on Redis) drops the client's socket timeout; the API's
    client fails fast like the rest of its shared state.
    """
    if settings.redis_url is None:
        return None
    client = redis_client(settings.redis_url, socket_timeout=None if blocking else 2.0)
    return RedisQueue(client, name=f"{settings.redis_prefix}:screening-jobs")


class JobDispatch:
    """Tells runners that items were queued; with Redis, by SAQ tasks that any worker may take."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker, wake: asyncio.Event, queue: Queue | None):
        self.settings = settings
        self.sessions = sessions
        self.wake = wake
        self.queue = queue

    def _tasks(self, items: int) -> int:
        return min(MOST_TASKS, math.ceil(items / self.settings.job_batch_size))

    async def notify(self, items: int) -> None:
        """Wake runners for ``items`` newly queued items (best effort: the reconciler covers a failure)."""
        self.wake.set()
        await self._enqueue(self._tasks(items))

    async def _enqueue(self, count: int) -> int:
        if self.queue is None or count <= 0:
            return 0
        try:
            for _ in range(count):
                await self.queue.enqueue(SCORE_BATCH, timeout=TASK_TIMEOUT_SECONDS, retries=1)
        except Exception as exc:
            log.warning("screening jobs: workers not woken (%s: %s); the reconciler will", type(exc).__name__, exc)
            return 0
        return count

    async def reconcile(self) -> int:
        """Enqueue the tasks claimable items lack (Redis lost them, or leases lapsed); how many."""
        if self.queue is None:
            return 0
        async with self.sessions() as session:
            claimable = await jobs.claimable_count(session)
        if not claimable:
            return 0
        try:
            queued = await self.queue.count("queued")
        except Exception as exc:
            log.warning("screening jobs: Redis unavailable (%s); retrying", type(exc).__name__)
            return 0
        return await self._enqueue(self._tasks(claimable) - queued)

    async def reconcile_forever(self) -> None:
        """Reconcile every ``job_poll_seconds``; a failure is logged and the loop goes on."""
        while True:
            try:
                added = await self.reconcile()
                if added:
                    log.info("screening jobs: %d task(s) enqueued for waiting items", added)
            except Exception as exc:
                log.warning("screening jobs: reconcile failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.settings.job_poll_seconds)

    async def close(self) -> None:
        """Close the queue's Redis connections."""
        if self.queue is not None:
            await self.queue.disconnect()
