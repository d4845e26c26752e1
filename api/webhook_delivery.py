"""The webhook sender: one loop per service process, with the outbox table as its queue.

Each round claims up to ``SCREENING_WEBHOOK_CONCURRENCY`` due deliveries of enabled endpoints
(atomically: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional update everywhere, so two
workers never send one delivery at the same time), signs each body, POSTs it to the registered URL
(pinned to a checked address, a timeout, no redirects followed, no proxy) and stores the outcome.
A 2xx is delivered; anything else is retried after :data:`RETRY_MINUTES` (1, 15, 60, 120, 240 and
480 minutes, each ± :data:`JITTER`: about 15.3 hours in all, Greenhouse's own schedule). After the
last attempt the delivery is ``dead`` and its endpoint is disabled with an alert (an error log line,
``screening_webhook_endpoints_disabled_total`` and the endpoint's ``disabled_reason``). A process
that dies while sending leaves a lease that lapses; the delivery is then claimed again (receivers
dedupe on the event id). The clock is injected, so the schedule is tested without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from api.metrics import Metrics
from api.outbound import JITTER, MAX_ATTEMPTS, RETRY_MINUTES, PinnedHttp, retry_delay, trusted_cas
from api.settings import Settings
from api.wake_loop import run_woken
from api.webhook_addresses import DeniedAddress
from api.webhook_signature import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign

__all__ = [
    "JITTER",
    "MAX_ATTEMPTS",
    "RETRY_MINUTES",
    "Clock",
    "WebhookSender",
    "refresh_gauges",
    "retry_delay",
]

log = logging.getLogger("api.webhooks")
Clock = Callable[[], datetime]
USER_AGENT = "attitude-screening-webhooks/1"
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class _Job:
    """A claimed delivery and what sending it needs."""

    delivery_id: str
    attempt: int
    event_id: str
    event_type: str
    payload: bytes
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def _claimable(now: datetime) -> object:
    enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.status == "enabled")
    due = or_(
        and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == "sending", WebhookDelivery.lease_until < now),
    )
    return and_(due, WebhookDelivery.endpoint_id.in_(enabled))


async def _claim(session: AsyncSession, now: datetime, lease: timedelta, limit: int) -> list[_Job]:
    """Take up to ``limit`` due deliveries (oldest due first) with their endpoints' URL and secret."""
    query = (
        select(WebhookDelivery.id)
        .where(_claimable(now))  # type: ignore[arg-type]
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    found = list((await session.execute(query)).scalars())
    if not found:
        return []
    taken = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(found), _claimable(now))  # type: ignore[arg-type]
        .values(status="sending", attempts=WebhookDelivery.attempts + 1, lease_until=now + lease, updated_at=now)
        .returning(WebhookDelivery.id, WebhookDelivery.attempts)
        .execution_options(synchronize_session=False)
    )
    attempts = dict(taken.all())
    if not attempts:
        return []
    rows = await session.execute(
        select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(list(attempts)))
    )
    return [
        _Job(
            delivery_id=d.id,
            attempt=attempts[d.id],
            event_id=d.event_id,
            event_type=d.event_type,
            payload=d.payload,
            url=url,
            secret=secret,
        )
        for d, url, secret in rows.all()
    ]


class WebhookSender:
    """Claims, signs, sends and reschedules webhook deliveries; :meth:`run_forever` is the worker loop."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Clock = utcnow,
        wake: asyncio.Event | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.wake = wake or asyncio.Event()
        self.rng = rng or random.Random()
        self.http = PinnedHttp(
            timeout=settings.webhook_timeout_seconds,
            user_agent=USER_AGENT,
            verify=trusted_cas(settings.webhook_ca_file),  # SCREENING_WEBHOOK_CA_FILE's CAs, or certifi's
            max_connections=settings.webhook_concurrency,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is held: the send's timeout with room for resolving and storing."""
        return timedelta(seconds=3 * self.settings.webhook_timeout_seconds + 30)

    async def aclose(self) -> None:
        """Close every connection."""
        await self.http.aclose()

    async def run_forever(self) -> None:
        """Send due deliveries; between rounds, wait to be woken (a commit with events) or for the next poll."""
        try:
            await run_woken(self._full_round, self.wake, self.settings.webhook_poll_seconds, log, "webhook sender")
        finally:
            await self.aclose()

    async def _full_round(self) -> bool:
        """One round; ``True`` when it took as many as one round may (more may be due at once)."""
        return await self.run_once() >= self.settings.webhook_concurrency

    async def run_once(self) -> int:
        """Claim and send one round of due deliveries; how many were attempted."""
        async with self.sessions() as session, session.begin():
            jobs = await _claim(session, self.clock(), self.lease, self.settings.webhook_concurrency)
        if not jobs:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(job) for job in jobs))
        await self._finish(list(zip(jobs, outcomes, strict=True)))
        return len(jobs)

    async def _attempt(self, job: _Job) -> _Outcome | None:
        """Send one delivery; ``None`` when its attempts are used up (a process died during the last one)."""
        if job.attempt > MAX_ATTEMPTS:
            return None
        start = time.perf_counter()
        status: int | None = None
        try:
            status = await self._post(job)
        except DeniedAddress as exc:
            error: str | None = str(exc)
        except httpx.TimeoutException:
            error = f"timed out after {self.settings.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        except Exception as exc:  # counted as a failed attempt, never a stuck delivery
            log.exception("webhook delivery %s: unexpected error", job.delivery_id)
            error = f"internal error ({type(exc).__name__})"
        else:
            error = _refusal(status)
        return _Outcome(status, error, _ms(start))

    async def _post(self, job: _Job) -> int:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(job.secret, job.payload, int(self.clock().timestamp())),
            EVENT_ID_HEADER: job.event_id,
            EVENT_TYPE_HEADER: job.event_type,
        }
        allow_private = self.settings.webhook_allow_private
        return await self.http.send("POST", job.url, allow_private=allow_private, headers=headers, content=job.payload)

    async def _finish(self, results: list[tuple[_Job, _Outcome | None]]) -> None:
        """Store a round's outcomes in one transaction, except for deliveries taken over, redelivered or deleted
        meanwhile; count and alert once it is committed.
        """
        now = self.clock()
        ids = sorted(job.delivery_id for job, _ in results)
        query = select(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id)
        counted: list[str] = []
        disabled: list[str] = []
        async with self.sessions() as session, session.begin():
            found = await session.execute(query.with_for_update().execution_options(populate_existing=True))
            rows = {row.id: row for row in found.scalars()}
            for job, outcome in results:
                row = rows.get(job.delivery_id)
                if row is None or row.status != "sending" or row.attempts != job.attempt:
                    continue
                result = self._record(session, row, job, outcome, now)
                counted.append(result)
                if result == "dead" and (alert := await self._disable(session, row, now)):
                    disabled.append(alert)
        for result in counted:
            self.metrics.webhook_deliveries.labels(result).inc()
        for alert in disabled:
            self.metrics.webhook_endpoints_disabled.inc()
            log.error("%s", alert)

    def _record(
        self, session: AsyncSession, row: WebhookDelivery, job: _Job, outcome: _Outcome | None, now: datetime
    ) -> str:
        """Store one attempt's outcome on its delivery; ``sent``, ``failed`` (retried later) or ``dead``."""
        if outcome is not None:
            session.add(
                WebhookAttempt(
                    delivery_id=row.id,
                    attempt=job.attempt,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=round(outcome.duration_ms, 1),
                    created_at=now,
                )
            )
            row.last_status_code, row.last_error = outcome.status_code, outcome.error
        else:
            row.last_error = "the process sending the last attempt stopped"
        row.lease_until, row.updated_at = None, now
        if outcome is not None and outcome.delivered:
            row.status, row.delivered_at, row.next_attempt_at = "delivered", now, None
            return "sent"
        delay = retry_delay(job.attempt, self.rng) if outcome is not None else None
        if delay is not None:
            row.status, row.next_attempt_at = "pending", now + delay
            return "failed"
        row.status, row.next_attempt_at = "dead", None
        return "dead"

    async def _disable(self, session: AsyncSession, row: WebhookDelivery, now: datetime) -> str | None:
        """Disable the dead delivery's endpoint (unless it already is); the alert to log once committed."""
        endpoint = await session.get(WebhookEndpoint, row.endpoint_id, with_for_update=True)
        if endpoint is None or endpoint.status != "enabled":
            return None
        endpoint.status, endpoint.disabled_at, endpoint.updated_at = "disabled", now, now
        endpoint.disabled_reason = (
            f"delivery {row.id} failed {row.attempts} times over about 15 hours "
            f"(last: {row.last_error or 'no answer'}); fix the receiver, enable the endpoint and redeliver"
        )[:ERROR_CHARS]
        return (
            f"webhook endpoint {endpoint.id} of organisation {endpoint.org_id} disabled: "
            f"delivery {row.id} exhausted {row.attempts} attempts (last: {row.last_error})"
        )


def _refusal(status: int) -> str | None:
    """Why a receiver's answer is not a delivery (``None``: a 2xx is)."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"redirect ({status}) not followed: register the final URL"
    return f"the receiver answered {status}"


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def refresh_gauges(sessions: async_sessionmaker, metrics: Metrics) -> None:
    """Set the outbox backlog and disabled-endpoint gauges from the database (at scrape time)."""
    async with sessions() as session:
        backlog = select(func.count()).select_from(WebhookDelivery)
        backlog = backlog.where(WebhookDelivery.status.in_(("pending", "sending")))
        disabled = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.status == "disabled")
        metrics.webhook_backlog.set((await session.execute(backlog)).scalar_one())
        metrics.webhook_disabled.set((await session.execute(disabled)).scalar_one())
