"""The loop every background worker of the service runs: a round of work, then wait to be woken or for the poll.

Calibrations, screening jobs, webhook deliveries and the Greenhouse outboxes each keep their queue in the
database; after a commit that queued work, the writer sets an :class:`asyncio.Event` that wakes the loop at
once, and the poll catches what another process queued. A round that raises (the database is down) is
logged and the loop goes on: a lost dependency must not end a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["run_woken"]


async def run_woken(
    work: Callable[[], Awaitable[bool]],
    wake: asyncio.Event,
    poll_seconds: float,
    log: logging.Logger,
    name: str,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``work`` until ``stop`` is set; after a round that returns ``False`` (nothing more to do now),
    wait for ``wake`` or ``poll_seconds``.
    """
    while stop is None or not stop.is_set():
        wake.clear()  # before looking: work queued during the round below wakes the next wait
        try:
            busy = await work()
        except Exception as exc:  # a database outage must not end the loop
            log.warning("%s: %s: %s", name, type(exc).__name__, (str(exc).splitlines() or [""])[0][:200])
            busy = False
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll_seconds)
