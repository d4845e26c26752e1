"""One-time sign-in links to one screening: created through the API, opened once on the review pages.

A link is a row (organisation, screening, creating key, expiry, when used) and a token signed with the
review pages' secret that names the row. Opening it sets ``used_at`` with a conditional UPDATE, so two
workers racing for the same link cannot both win; the row is in the database rather than in the shared
store because that store falls back to one process's memory when Redis is down, which would let a used
link work again. The session a link opens acts in the creating key's name, with recruiter rights on that
one screening only, and ends when that key is revoked or the screening erased (its link row goes with it).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.db.models import ApiKey, ReviewLink, utcnow
from api.domain import LinkRefused
from api.schemas import ReviewLinkOut
from api.services import Services
from api.ui.session import LINK_PATH, CookieSigner, LinkToken

__all__ = ["LINK_ROLES", "check", "checked_token", "consume", "create", "session_principal"]

# The ATS (it authenticates its own users and puts the link behind ``partner_profile_url``) and HR (who
# answer for who sees candidate data). A recruiter has a personal key and signs in with it; letting
# recruiters mint links would let them hand access to people who hold no key.
LINK_ROLES = ("integration", "hr_admin")
USED = "This link was already used; a link works once. Ask for a new one."


def _principal(link: ReviewLink, key: ApiKey) -> Principal:
    return Principal(key_id=key.id, org_id=link.org_id, role="recruiter", via_link=link.id)


async def create(
    services: Services, session: AsyncSession, principal: Principal, screening_id: str, signer: CookieSigner, base: str
) -> ReviewLinkOut:
    """A link to one of the organisation's screenings (404 for another's, 410 if erased); audited."""
    async with session.begin():
        screening = await repo.get_screening(session, principal.org_id, screening_id)
        now = utcnow()
        link = ReviewLink(
            id=str(uuid.uuid4()),
            org_id=principal.org_id,
            screening_id=screening.id,
            created_by=principal.key_id,
            created_at=now,
            expires_at=now + timedelta(minutes=services.settings.review_link_minutes),
        )
        session.add(link)
        details = {"link_id": link.id, "expires_at": link.expires_at.isoformat()}
        await repo.add_audit(session, principal, "review_link_created", screening_id=screening.id, details=details)
    token = signer.new_link_token(link.id, int(link.expires_at.timestamp()))
    root = (services.settings.public_url or base).rstrip("/")
    return ReviewLinkOut(
        id=link.id, screening_id=link.screening_id, url=f"{root}{LINK_PATH}?token={token}", expires_at=link.expires_at
    )


async def _link_and_key(session: AsyncSession, link_id: str) -> tuple[ReviewLink, ApiKey] | None:
    query = select(ReviewLink, ApiKey).join(ApiKey, ApiKey.id == ReviewLink.created_by).where(ReviewLink.id == link_id)
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


def checked_token(signer: CookieSigner, token: str | None) -> LinkToken:
    """The token's link, when its signature holds and it has not expired; :class:`LinkRefused` otherwise."""
    found = signer.link_token(token)
    if found is None:
        raise LinkRefused(404, "This is not a sign-in link of this service (it may have been cut short or altered).")
    if found.expires <= utcnow().timestamp():
        raise LinkRefused(410, "This link has expired. Ask for a new one where you found it.")
    return found


async def _usable(session: AsyncSession, link_id: str) -> tuple[ReviewLink, ApiKey]:
    """The link and its creating key, when the link can still open a session; :class:`LinkRefused` otherwise."""
    found = await _link_and_key(session, link_id)
    if found is None:
        raise LinkRefused(404, "This link does not exist (or the screening it led to was erased).")
    link, key = found
    if key.revoked_at is not None or key.org_id != link.org_id:
        raise LinkRefused(403, "The key that created this link has been revoked.")
    if link.used_at is not None:
        raise LinkRefused(410, USED)
    if link.expires_at <= utcnow():
        raise LinkRefused(410, "This link has expired. Ask for a new one where you found it.")
    return link, key


async def check(session: AsyncSession, token: LinkToken) -> None:
    """Refuse, without using it, a link that could not open a session (its landing page says so at once)."""
    async with session.begin():
        await _usable(session, token.link_id)


async def consume(session: AsyncSession, token: LinkToken) -> tuple[ReviewLink, Principal]:
    """Use the link once: the link and the session's principal; :class:`LinkRefused` if it cannot be used."""
    async with session.begin():
        link, key = await _usable(session, token.link_id)
        claim = (
            update(ReviewLink).where(ReviewLink.id == link.id, ReviewLink.used_at.is_(None)).values(used_at=utcnow())
        )
        if (await session.execute(claim)).rowcount != 1:  # another request opened it in the meantime
            raise LinkRefused(410, USED)
        principal = _principal(link, key)
        await repo.add_audit(
            session, principal, "review_link_used", screening_id=link.screening_id, details={"link_id": link.id}
        )
    return link, principal


async def session_principal(services: Services, link_id: str, screening_id: str) -> Principal | None:
    """The principal of a session opened with a link, while its key is live and its screening still there."""
    async with services.sessions() as session:
        found = await _link_and_key(session, link_id)
    if found is None:
        return None
    link, key = found
    if key.revoked_at is not None or key.org_id != link.org_id or link.screening_id != screening_id:
        return None
    return _principal(link, key)
