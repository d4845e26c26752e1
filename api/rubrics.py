"""The rubrics an organisation can see: built-in ones (everyone) and its own uploads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import ModelResult, RubricUpload, Screening
from api.rubric_parsing import RubricParser
from api.schemas import RubricSource
from screening.errors import RubricNotFound
from screening.rubric import Rubric, RubricLibrary, _version_key, rubric_fingerprint

__all__ = ["RubricEntry", "is_used", "resolve", "stored_upload", "visible", "visible_ids"]


@dataclass(frozen=True, slots=True)
class RubricEntry:
    """One rubric version visible to an organisation."""

    rubric: Rubric
    source: RubricSource
    fingerprint: str
    created_at: datetime | None = None


def _builtin(library: RubricLibrary, rubric_id: str) -> list[RubricEntry]:
    return [RubricEntry(r, "builtin", rubric_fingerprint(r)) for r in library.versions(rubric_id)]


async def _uploads(session: AsyncSession, org_id: str, rubric_id: str | None = None) -> list[RubricUpload]:
    query = select(RubricUpload).where(RubricUpload.org_id == org_id)
    if rubric_id is not None:
        query = query.where(RubricUpload.rubric_id == rubric_id)
    return list((await session.execute(query)).scalars())


async def visible_ids(session: AsyncSession, library: RubricLibrary, org_id: str) -> list[str]:
    """List the ids of every rubric the organisation can use."""
    return sorted(set(library.ids()) | {u.rubric_id for u in await _uploads(session, org_id)})


async def visible(
    session: AsyncSession, library: RubricLibrary, parser: RubricParser, org_id: str, rubric_id: str
) -> list[RubricEntry]:
    """List the visible versions of one rubric, oldest first: a built-in rubric's own versions and the
    organisation's (for a built-in id, only calibrated versions it saved; plain uploads use other ids).

    Stored uploads are parsed by ``parser`` (memoised, in its child process), never on the event loop.
    """
    builtin = _builtin(library, rubric_id) if rubric_id in library.ids() else []
    uploads = await _uploads(session, org_id, rubric_id)
    entries = [RubricEntry(await parser.parse(u.toml), "organisation", u.fingerprint, u.created_at) for u in uploads]
    return sorted(builtin + entries, key=lambda e: _version_key(e.rubric.version))


async def resolve(
    session: AsyncSession,
    library: RubricLibrary,
    parser: RubricParser,
    org_id: str,
    rubric_id: str,
    version: str | None,
) -> RubricEntry:
    """Find the pinned version, or the newest; :class:`RubricNotFound` names what is available."""
    entries = await visible(session, library, parser, org_id, rubric_id)
    if version is not None:
        entries = [e for e in entries if e.rubric.version == version]
    if not entries:
        raise RubricNotFound(rubric_id, await visible_ids(session, library, org_id), version)
    return entries[-1]


async def is_used(session: AsyncSession, org_id: str, rubric_id: str, version: str) -> bool:
    """Tell whether an organisation's rubric version has scored anyone (then it is immutable)."""
    query = select(
        exists().where(
            ModelResult.screening_id == Screening.id,
            Screening.org_id == org_id,
            Screening.rubric_id == rubric_id,
            ModelResult.rubric_version == version,
        )
    )
    return bool((await session.execute(query)).scalar())


async def stored_upload(session: AsyncSession, org_id: str, rubric_id: str, version: str) -> RubricUpload | None:
    """The organisation's stored upload of one version, locked for update."""
    query = select(RubricUpload).where(
        RubricUpload.org_id == org_id, RubricUpload.rubric_id == rubric_id, RubricUpload.version == version
    )
    return (await session.execute(query.with_for_update())).scalar_one_or_none()
