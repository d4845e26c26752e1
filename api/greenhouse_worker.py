"""The Greenhouse worker: emails candidates their link, scores submissions the request could not, PATCHes
Greenhouse when a test is complete. It runs in the service's own processes with the database as the queue.

Each job is a due time on the invitation row (``mail_next_at``, ``score_next_at``, ``callback_next_at``).
A worker claims the most overdue one atomically by moving its due time a lease ahead
(:func:`api.db.invitations.claim`), does the work outside any transaction, then clears the due time
(done) or sets the next attempt (backoff), unless another attempt took it over meanwhile. A process
that dies mid-job leaves the lease to lapse; any worker then takes the job again. ``clock`` is the
time the worker goes by (tests move it forward to reach a retry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from api import candidate_service, greenhouse_service
from api.candidate_mail import invitation_message, send_message
from api.db import invitations
from api.db.models import Invitation, utcnow
from api.greenhouse_callback import TIMEOUT_SECONDS, USER_AGENT, CallbackFailed, next_attempt_at, patch_complete
from api.outbound import PinnedHttp
from api.services import Services
from api.wake_loop import run_woken
from api.webhook_addresses import DeniedAddress

__all__ = ["LEASE", "MAIL_BACKOFF_MINUTES", "MAX_SCORE_ATTEMPTS", "GreenhouseWork"]

log = logging.getLogger("api")
LEASE = timedelta(minutes=5)
MAIL_BACKOFF_MINUTES = (1, 5, 15, 60, 240)  # SMTP down: retried, then given up (the link can still be read out)
MAX_SCORE_ATTEMPTS = 5
ERROR_CHARS = 500


class GreenhouseWork:
    """The loop of the three outboxes, one job at a time."""

    def __init__(self, services: Services, clock: Callable[[], datetime] = utcnow) -> None:
        self.services = services
        self.clock = clock
        self.wake = services.greenhouse_wake
        self.http = PinnedHttp(timeout=TIMEOUT_SECONDS, user_agent=USER_AGENT)

    async def run_forever(self) -> None:
        """Run due jobs; between them, wait to be woken or for the next poll."""
        try:
            poll = self.services.settings.greenhouse_poll_seconds
            await run_woken(self.run_one, self.wake, poll, log, "greenhouse worker")
        finally:
            await self.http.aclose()

    async def run_one(self) -> bool:
        """Run one due job of any outbox; ``False`` when none was due."""
        if self.services.partner_secret is None:
            return False
        for outbox, run in (("mail", self._mail), ("score", self._score), ("callback", self._callback)):
            now = self.clock()
            async with self.services.sessions() as session, session.begin():
                claimed = await invitations.claim(session, outbox, now, LEASE)  # type: ignore[arg-type]
            if claimed is not None:
                await run(*claimed)
                return True
        return False

    async def _load(self, invitation_id: str) -> Invitation | None:
        async with self.services.sessions() as session:
            return await session.get(Invitation, invitation_id)

    async def _finish(self, invitation_id: str, outbox: str, attempt: int, **values: object) -> None:
        """Store a job's outcome, unless another attempt took the job over (or the row was erased)."""
        async with self.services.sessions() as session, session.begin():
            row = await session.get(Invitation, invitation_id, with_for_update=True, populate_existing=True)
            if row is None or getattr(row, f"{outbox}_attempts") != attempt:
                return
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()

    async def _mail(self, invitation_id: str, attempt: int) -> None:
        row, settings = await self._load(invitation_id), self.services.settings
        if row is None or settings.smtp_url is None or self.services.partner_secret is None:
            return
        public_url = (settings.public_url or "").rstrip("/")
        link = greenhouse_service.candidate_link(public_url, self.services.partner_secret, row.id)
        domain = urlsplit(public_url).hostname or "localhost"
        message = invitation_message(settings.mail_from, row.email, row.first_name, link, row.expires_at, domain)
        try:
            await send_message(settings.smtp_url, message)
        except Exception as exc:  # SMTP down or refusing: try again later
            retry = _after(self.clock(), attempt, MAIL_BACKOFF_MINUTES)
            log.warning("invitation %s: mail attempt %d failed: %s", invitation_id, attempt, type(exc).__name__)
            await self._finish(invitation_id, "mail", attempt, mail_next_at=retry, mail_error=_said(exc))
            return
        await self._finish(invitation_id, "mail", attempt, mail_next_at=None, mail_error=None, mail_sent_at=utcnow())

    async def _score(self, invitation_id: str, attempt: int) -> None:
        try:
            await candidate_service.score_submission(self.services, invitation_id)
        except Exception as exc:
            give_up = attempt >= MAX_SCORE_ATTEMPTS
            log.warning("invitation %s: scoring attempt %d failed: %s", invitation_id, attempt, type(exc).__name__)
            retry = None if give_up else self.clock() + timedelta(minutes=2**attempt)
            values: dict[str, object] = {"score_next_at": retry, "score_error": _said(exc)}
            if give_up:
                values["state"] = "failed"
            await self._finish(invitation_id, "score", attempt, **values)

    async def _callback(self, invitation_id: str, attempt: int) -> None:
        row, secret = await self._load(invitation_id), self.services.partner_secret
        if row is None or secret is None:
            return
        api_key = secret.open(row.callback_credential) if row.callback_credential else None
        if api_key is None:
            error = "the stored credential cannot be opened (SCREENING_GREENHOUSE_SECRET changed?)"
            await self._finish(invitation_id, "callback", attempt, callback_next_at=None, callback_error=error)
            return
        try:
            await patch_complete(self.http, row.callback_url, api_key, self.services.settings.allow_private_callbacks)
        except (DeniedAddress, CallbackFailed, httpx.HTTPError) as exc:
            retry = next_attempt_at(self.clock(), attempt)
            log.warning("invitation %s: callback attempt %d failed: %s", invitation_id, attempt, _said(exc))
            values: dict[str, object] = {"callback_next_at": retry, "callback_error": _said(exc)}
            if retry is None:
                values["callback_credential"] = None  # given up: the key is not kept for nothing
            await self._finish(invitation_id, "callback", attempt, **values)
            return
        await self._finish(
            invitation_id,
            "callback",
            attempt,
            callback_next_at=None,
            callback_error=None,
            callback_done_at=utcnow(),
            callback_credential=None,  # delivered: the key is no longer needed
        )


def _after(now: datetime, attempt: int, minutes: tuple[int, ...]) -> datetime | None:
    return None if attempt > len(minutes) else now + timedelta(minutes=minutes[attempt - 1])


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
