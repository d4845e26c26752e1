"""Greenhouse's Assessment Partner contract, partner side: ``list_tests``, ``send_test``, ``test_status``.

Greenhouse calls these with HTTP Basic (an integration key of the organisation as user name; see
:data:`api.auth.BASIC_AUTH_PATHS`). ``send_test`` stores an invitation (idempotent on organisation,
test, candidate email and application) and leaves the email to the worker
(:mod:`api.greenhouse_worker`); ``test_status`` reports the state and, once scored, the standing
decision as a 0-100 score and flat metadata (never answer text). Domain errors only.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import rubric_service
from api.auth import Principal, hash_token
from api.db import invitations, repo
from api.db.models import Invitation, utcnow
from api.decision import decide
from api.domain import InvalidField, NotFound, Unavailable
from api.greenhouse_callback import check_callback_url
from api.greenhouse_schemas import GreenhouseCandidate, PartnerTest, SendTestIn, SendTestOut, TestStatusOut
from api.partner_secret import PartnerSecret
from api.rendering import decode_report
from api.rubrics import resolve
from api.screening_service import end_reads
from api.services import Services
from screening.errors import RubricNotFound
from screening.report import ScaleInfo

__all__ = [
    "COMPLETE",
    "candidate_link",
    "configured",
    "exposed_link",
    "list_tests",
    "percent",
    "profile_url",
    "send_test",
    "test_status",
]

log = logging.getLogger("api")
COMPLETE = "complete"
_PERSON = re.compile(r"/people/([0-9]{1,20})(?:/|$)")


def configured(services: Services) -> tuple[str, PartnerSecret]:
    """The public base URL and the integration secret; 503 naming the missing setting otherwise."""
    missing = []
    if services.settings.public_url is None:
        missing.append("SCREENING_PUBLIC_URL (the https address candidates and recruiters reach this service at)")
    if services.partner_secret is None:
        missing.append("SCREENING_GREENHOUSE_SECRET (a Fernet key: required with PostgreSQL)")
    if missing:
        raise Unavailable(f"The Greenhouse integration is not configured; set {' and '.join(missing)}.")
    return services.settings.public_url.rstrip("/"), services.partner_secret  # type: ignore[union-attr,return-value]


def profile_url(public_url: str, screening_id: str) -> str:
    """The recruiter's review page of a screening (it lands on sign-in first)."""
    return f"{public_url}/ui/screenings/{screening_id}"


async def list_tests(services: Services, session: AsyncSession, principal: Principal) -> list[PartnerTest]:
    """Every rubric the organisation can use, as a test (its newest version is pinned when one is sent)."""
    return [
        PartnerTest(partner_test_id=s.id, partner_test_name=s.title)
        for s in await rubric_service.summaries(services, session, principal)
    ]


def _ids(candidate: GreenhouseCandidate) -> tuple[str, str]:
    """``(candidate id, application id)`` from the profile URL and/or ``greenhouse_application_id``."""
    person, application = None, None
    if candidate.greenhouse_profile_url:
        parts = urlsplit(candidate.greenhouse_profile_url)
        if match := _PERSON.search(parts.path):
            person = match.group(1)
        found = parse_qs(parts.query).get("application_id", [])
        if found and found[0].isdigit() and len(found[0]) <= 20:
            application = found[0]
    if candidate.greenhouse_application_id is not None:
        application = str(candidate.greenhouse_application_id)
    if application is None:
        path = "candidate.greenhouse_application_id"
        raise InvalidField(
            f"{path}: missing; send it, or greenhouse_profile_url with ?application_id=",
            fields=[(path, "the application id is missing (also not in candidate.greenhouse_profile_url)")],
        )
    return person or f"application-{application}", application


def _test_id(value: str) -> tuple[str, str | None]:
    rubric_id, _, version = value.partition("@")
    return rubric_id, version or None


async def send_test(
    services: Services, session: AsyncSession, principal: Principal, data: SendTestIn, api_key: str
) -> SendTestOut:
    """Store an invitation (or find the one an earlier identical send made); its email goes out afterwards."""
    _, secret = configured(services)
    rubric_id, version = _test_id(data.partner_test_id)
    try:
        entry = await resolve(session, services.library, services.rubric_parser, principal.org_id, rubric_id, version)
    except RubricNotFound as exc:
        message = f"no test {data.partner_test_id!r}; available: {', '.join(exc.available) or 'none'}"
        raise InvalidField(f"partner_test_id: {message}", fields=[("partner_test_id", message)]) from exc
    candidate_id, application_id = _ids(data.candidate)
    check_callback_url(data.url, services.settings.allow_private_callbacks)
    email = data.candidate.email.strip().lower()
    if found := await invitations.same_send(session, principal.org_id, entry.rubric.id, email, application_id):
        await end_reads(session)
        if found.state in ("sent", "started") and found.expires_at <= utcnow():
            await _reopen(services, session, principal, found.id, api_key)
        return SendTestOut(partner_interview_id=found.id)
    await end_reads(session)
    now = utcnow()
    invitation_id = secrets.token_urlsafe(24)
    row = Invitation(
        id=invitation_id,
        org_id=principal.org_id,
        rubric_id=entry.rubric.id,
        rubric_version=entry.rubric.version,
        created_by=principal.key_id,
        candidate_id=candidate_id,
        application_id=application_id,
        first_name=data.candidate.first_name.strip(),
        email=email,
        profile_url=data.candidate.greenhouse_profile_url,
        callback_url=data.url,
        callback_credential=secret.seal(api_key),
        token_sha256=hash_token(secret.candidate_token(invitation_id)),
        state="sent",
        expires_at=now + timedelta(days=services.settings.candidate_link_days),
        mail_attempts=0,
        mail_next_at=now if services.settings.smtp_url else None,
        score_attempts=0,
        callback_attempts=0,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin():
            session.add(row)
            await repo.add_audit(
                session, principal, "greenhouse-invited", at=now, details={"partner_interview_id": invitation_id}
            )
    except IntegrityError:  # a concurrent identical send_test stored it first
        found = await invitations.same_send(session, principal.org_id, entry.rubric.id, email, application_id)
        if found is None:
            raise
        return SendTestOut(partner_interview_id=found.id)
    if services.settings.smtp_url is None:
        log.warning("no mail is configured (SCREENING_SMTP_URL): invitation %s was not emailed", invitation_id)
    services.greenhouse_wake.set()
    return SendTestOut(partner_interview_id=invitation_id)


async def _reopen(
    services: Services, session: AsyncSession, principal: Principal, invitation_id: str, api_key: str
) -> None:
    """Greenhouse sent an expired, unanswered test again: the same link works for a new period and is mailed again."""
    _, secret = configured(services)
    now = utcnow()
    async with session.begin():
        found = await session.get(Invitation, invitation_id, with_for_update=True, populate_existing=True)
        if found is None or found.state not in ("sent", "started") or found.expires_at > now:
            return  # erased, answered or reopened meanwhile
        found.expires_at = now + timedelta(days=services.settings.candidate_link_days)
        found.callback_credential = secret.seal(api_key)
        found.mail_attempts, found.mail_error, found.mail_sent_at = 0, None, None
        found.mail_next_at = now if services.settings.smtp_url else None
        found.updated_at = now
        await repo.add_audit(
            session, principal, "greenhouse-reopened", at=now, details={"partner_interview_id": found.id}
        )
    services.greenhouse_wake.set()


def percent(level: float | None, scale: ScaleInfo) -> float | None:
    """A level on the rubric's scale as 0-100 (one decimal)."""
    if level is None:
        return None
    span = max(scale.max - scale.min, 1)
    return round(100 * min(max((level - scale.min) / span, 0.0), 1.0), 1)


async def test_status(
    services: Services, session: AsyncSession, principal: Principal, invitation_id: str
) -> TestStatusOut:
    """The invitation's state; once scored, the review page, the standing 0-100 score and flat metadata."""
    invitation = await invitations.get(session, principal.org_id, invitation_id)
    if invitation is None:
        raise NotFound("partner_interview_id", invitation_id)
    if invitation.state != "scored" or invitation.screening_id is None:
        return TestStatusOut(partner_status=invitation.state)
    public_url, _ = configured(services)
    await end_reads(session)
    async with session.begin():
        screening = await repo.get_screening(session, principal.org_id, invitation.screening_id)
        reviews = await repo.reviews_for(session, screening.id)
        await repo.add_audit(
            session, principal, "viewed", screening_id=screening.id, details={"via": "greenhouse test_status"}
        )
    report = decode_report(screening.report or b"")
    decision = decide(report, reviews)
    metadata: dict[str, str | int | float | bool] = {
        "rubric": f"{screening.rubric_id}@{screening.rubric_version}",
        "method": report.provenance.method,
        "scale": f"{report.scale.min}-{report.scale.max}",
        "overall_stands": decision.overall.stands,
        "needs_review": screening.status == "needs_review",
        "review_reasons": ",".join(sorted({r.code for r in report.reasons})),
        "human_review_requested": invitation.review_requested_at is not None,
    }
    if decision.overall.level is not None:
        metadata["overall_level"] = round(decision.overall.level, 2)
    for dimension in decision.dimensions:
        if dimension.level is not None:
            metadata[f"level_{dimension.dimension_id}"] = round(dimension.level, 2)
    return TestStatusOut(
        partner_status=COMPLETE,
        partner_profile_url=profile_url(public_url, screening.id),
        partner_score=percent(decision.overall.level, report.scale),
        metadata=metadata,
    )


def candidate_link(public_url: str, secret: PartnerSecret, invitation_id: str) -> str:
    """The candidate's link of an invitation (a credential: it is emailed, and shown only where allowed)."""
    return f"{public_url}/candidate/{secret.candidate_token(invitation_id)}"


async def exposed_link(services: Services, session: AsyncSession, principal: Principal, invitation_id: str) -> str:
    """The candidate's link, for an operator without mail who enabled ``SCREENING_EXPOSE_CANDIDATE_LINKS``."""
    public_url, secret = configured(services)
    if not services.settings.expose_candidate_links:
        raise NotFound.plain("Candidate links are not exposed here (SCREENING_EXPOSE_CANDIDATE_LINKS is off).")
    invitation = await invitations.get(session, principal.org_id, invitation_id)
    if invitation is None:
        raise NotFound("partner_interview_id", invitation_id)
    await end_reads(session)
    async with session.begin():
        await repo.add_audit(
            session, principal, "greenhouse-link-read", details={"partner_interview_id": invitation_id}
        )
    return candidate_link(public_url, secret, invitation_id)
