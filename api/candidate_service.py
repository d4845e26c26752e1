"""The candidate's side of a Greenhouse invitation: open the link, save a draft, submit, ask for a human review.

The link's token is the only credential (no sign-in); it is looked up by its sha256. A link closes for
good once the answers are submitted (409 after that) or when it expires (410). Submitting stores the
answers and then scores them through :func:`score_submission`, the one function that turns a
submission into a screening (the same code path as ``POST /v1/screenings``, idempotent on the
invitation, so a retry never makes a second record).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from api import screening_service, webhook_events
from api.auth import Principal, hash_token
from api.db import invitations, repo
from api.db.models import Invitation, Screening, utcnow
from api.domain import Conflict, DomainError, InvalidField, NotFound
from api.rubrics import resolve
from api.schemas import AnswerIn, RubricRef, ScreeningIn
from api.services import Services
from screening.rubric import Rubric

__all__ = [
    "CANDIDATE_ACTOR",
    "OPEN_STATES",
    "CandidateForm",
    "LinkClosed",
    "form",
    "request_review",
    "save",
    "score_submission",
    "submit",
    "submitted",
]

log = logging.getLogger("api")
OPEN_STATES = frozenset({"sent", "started"})
SCORE_LEASE = timedelta(minutes=2)  # a submission not scored by then (the process died) is scored by a worker
MAX_TOKEN_CHARS = 100


class LinkClosed(DomainError):
    """The link expired before the answers were submitted."""

    status, slug, title = 410, "link-expired", "This link has expired"


def already_submitted() -> Conflict:
    """The answers were submitted: the link no longer takes answers."""
    return Conflict(
        "already-submitted", "Already submitted", "Your answers were already submitted; they cannot be changed."
    )


@dataclass(frozen=True, slots=True)
class CandidateForm:
    """What the candidate's page shows: the greeting, the questions and the saved draft."""

    invitation: Invitation
    rubric: Rubric
    draft: dict[str, str]


def _actor(invitation: Invitation) -> Principal:
    """The candidate, as the audit log names them (never by name or email)."""
    return Principal(key_id=CANDIDATE_ACTOR, org_id=invitation.org_id, role="candidate")  # type: ignore[arg-type]


CANDIDATE_ACTOR = "candidate-link"


async def _invitation(session: AsyncSession, token: str, *, for_update: bool = False) -> Invitation:
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise NotFound.plain("This link is not valid.")
    found = await invitations.by_token(session, hash_token(token), for_update=for_update)
    if found is None:
        raise NotFound.plain("This link is not valid. Check that you copied the whole link from the email.")
    return found


def _check_open(invitation: Invitation, now: datetime) -> None:
    if invitation.state not in OPEN_STATES:
        raise already_submitted()
    if invitation.expires_at <= now:
        raise LinkClosed("This link has expired; your answers were not submitted. Ask the employer to send a new one.")


async def _rubric(services: Services, session: AsyncSession, invitation: Invitation) -> Rubric:
    entry = await resolve(
        session,
        services.library,
        services.rubric_parser,
        invitation.org_id,
        invitation.rubric_id,
        invitation.rubric_version,
    )
    return entry.rubric


def _draft(invitation: Invitation) -> dict[str, str]:
    return msgspec.json.decode(invitation.draft, type=dict[str, str]) if invitation.draft else {}


async def form(services: Services, session: AsyncSession, token: str) -> CandidateForm:
    """Open the link: the questions and the draft; the first visit marks the invitation ``started``."""
    invitation = await _invitation(session, token)
    _check_open(invitation, utcnow())
    rubric = await _rubric(services, session, invitation)
    await screening_service.end_reads(session)
    if invitation.state == "sent":
        async with session.begin():
            invitation = await _invitation(session, token, for_update=True)
            if invitation.state == "sent":
                invitation.state, invitation.updated_at = "started", utcnow()
    return CandidateForm(invitation=invitation, rubric=rubric, draft=_draft(invitation))


def _answers(services: Services, rubric: Rubric, given: dict[str, str], *, complete: bool) -> dict[str, str]:
    """The rubric's answers from a form (bounded); with ``complete``, every question must be answered."""
    limit = services.settings.max_answer_chars
    answers: dict[str, str] = {}
    fields: list[tuple[str, str]] = []
    for question in rubric.questions:
        text = given.get(question.id, "").replace("\r\n", "\n").strip()
        if len(text) > limit:
            fields.append((question.id, f"{len(text)} characters; at most {limit} are accepted"))
        elif complete and not text:
            fields.append((question.id, "answer this question before submitting"))
        answers[question.id] = text
    if fields:
        raise InvalidField("; ".join(f"{q}: {m}" for q, m in fields), fields=fields)
    return answers


async def save(services: Services, session: AsyncSession, token: str, given: dict[str, str]) -> CandidateForm:
    """Keep the answers so far (a draft); the link stays open."""
    checked = await form(services, session, token)
    answers = _answers(services, checked.rubric, given, complete=False)
    async with session.begin():
        invitation = await _invitation(session, token, for_update=True)
        _check_open(invitation, utcnow())
        invitation.draft = msgspec.json.encode(answers)
        invitation.state, invitation.updated_at = "started", utcnow()
    return CandidateForm(invitation=invitation, rubric=checked.rubric, draft=answers)


async def submit(services: Services, session: AsyncSession, token: str, given: dict[str, str]) -> Invitation:
    """Store the complete answers and close the link, then score them (a failure is retried by the worker)."""
    checked = await form(services, session, token)
    answers = _answers(services, checked.rubric, given, complete=True)
    async with session.begin():
        invitation = await _invitation(session, token, for_update=True)
        now = utcnow()
        _check_open(invitation, now)
        invitation.draft = msgspec.json.encode(answers)
        invitation.state, invitation.submitted_at, invitation.updated_at = "submitted", now, now
        invitation.score_next_at, invitation.score_attempts = now + SCORE_LEASE, 1
        await repo.add_audit(
            session, _actor(invitation), "greenhouse-submitted", at=now, details={"partner_interview_id": invitation.id}
        )
    try:
        await score_submission(services, invitation.id)
    except Exception as exc:  # the answers are stored; the worker scores them when the lease lapses
        log.warning("invitation %s: scoring deferred to the worker: %s: %s", invitation.id, type(exc).__name__, exc)
    return invitation


async def submitted(session: AsyncSession, token: str) -> Invitation | None:
    """The invitation once its answers are submitted; ``None`` while the link is still open."""
    invitation = await _invitation(session, token)
    return None if invitation.state in OPEN_STATES else invitation


async def request_review(services: Services, session: AsyncSession, token: str) -> Invitation:
    """Record the candidate's request for a human review and flag the screening (if scored) for review."""
    async with session.begin():
        invitation = await _invitation(session, token, for_update=True)
        if invitation.state in OPEN_STATES:
            raise Conflict("not-submitted", "Not submitted yet", "Submit your answers first; then ask for a review.")
        if invitation.review_requested_at is None:
            now = utcnow()
            invitation.review_requested_at, invitation.updated_at = now, now
            await _flag_for_review(session, invitation)
            await repo.add_audit(
                session,
                _actor(invitation),
                "human-review-requested",
                screening_id=invitation.screening_id,
                at=now,
                details={"partner_interview_id": invitation.id, "by": "candidate"},
            )
    return invitation


async def _flag_for_review(session: AsyncSession, invitation: Invitation) -> None:
    """A scored screening the candidate asked a person to look at goes to ``needs_review`` (unless reviewed)."""
    if invitation.screening_id is None:
        return
    screening = await session.get(Screening, invitation.screening_id, with_for_update=True)
    if screening is not None and screening.status == "scored":
        screening.status, screening.updated_at = "needs_review", utcnow()
        await webhook_events.record_needs_review(session, screening)


class _Created(msgspec.Struct):
    id: str


class _Withdrawn(Exception):
    """The invitation was erased (or is no longer waiting to be scored) while its answers were scored."""


async def _still_submitted(invitation_id: str, session: AsyncSession) -> None:
    """In the storing transaction: lock the invitation and refuse to store unless it still waits for its score."""
    invitation = await session.get(Invitation, invitation_id, with_for_update=True, populate_existing=True)
    if invitation is None or invitation.state != "submitted":
        raise _Withdrawn(invitation_id)


async def score_submission(services: Services, invitation_id: str) -> str | None:
    """Score a submitted invitation into a screening (idempotent on the invitation); its id, or ``None`` when the
    invitation is gone or already scored. Raises what scoring raises (the caller retries).

    The one seam between a submission and scoring: to score in a job queue instead, enqueue here.
    """
    async with services.sessions() as session:
        invitation = await session.get(Invitation, invitation_id)
        if invitation is None or invitation.state != "submitted":
            return None
        rubric = await _rubric(services, session, invitation)
        answers = _draft(invitation)
        data = ScreeningIn(
            candidate_id=invitation.candidate_id,
            application_id=invitation.application_id,
            rubric=RubricRef(id=invitation.rubric_id, version=invitation.rubric_version),
            answers=[AnswerIn(question_id=q.id, text=answers[q.id]) for q in rubric.questions if answers.get(q.id)],
        )
        principal = Principal(key_id=invitation.created_by, org_id=invitation.org_id, role="integration")
        await screening_service.end_reads(session)
        key = f"greenhouse:{invitation.id}"
        guard = functools.partial(_still_submitted, invitation_id)
        try:
            body = await screening_service.create(services, session, principal, data, key, guard)
        except _Withdrawn:  # the candidate was erased while the answers were scored: nothing is stored
            return None
    screening_id = msgspec.json.decode(body, type=_Created).id
    async with services.sessions() as session, session.begin():
        invitation = await session.get(Invitation, invitation_id, with_for_update=True, populate_existing=True)
        if invitation is None or invitation.state != "submitted":
            return None
        now = utcnow()
        invitation.screening_id, invitation.state = screening_id, "scored"
        invitation.score_next_at, invitation.score_error = None, None
        invitation.callback_next_at, invitation.updated_at = now, now
        if invitation.review_requested_at is not None:
            await _flag_for_review(session, invitation)
    services.greenhouse_wake.set()
    return screening_id
