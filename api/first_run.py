"""First run: the embedded database made ready by ``screening serve``, and the first ``hr_admin`` key.

On the embedded default (SQLite) the database is created and migrated when the service starts: it needs no
set-up. PostgreSQL is never migrated implicitly (that is an operator's decision, ``screening db migrate``).

``screening init`` creates the first ``hr_admin`` key only while no live one exists, and shows its token
once, on standard output; run again, it creates nothing and shows no token. The token is never logged.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import Select, select, text
from sqlalchemy.engine import make_url

from api.db import repo
from api.db.engine import NotMigrated, check_migrated, create_engine, migrate, session_factory
from api.db.models import ApiKey
from api.settings import Settings

__all__ = ["ADMIN_ROLE", "FirstKey", "create_first_admin", "has_admin_key", "is_embedded_database", "prepare_database"]

ADMIN_ROLE = "hr_admin"
_INIT_LOCK = 7_301_013  # PostgreSQL advisory lock: two concurrent ``init`` runs create one key, not two


@dataclass(frozen=True, slots=True)
class FirstKey:
    """The outcome of ``init``: the new key and its token, or ``token=None`` and the live admin keys' ids."""

    key_id: str | None
    token: str | None
    existing: tuple[str, ...] = ()


def is_embedded_database(url: str) -> bool:
    """Whether the database is the embedded kind (SQLite), which the service may create and migrate itself."""
    return make_url(url).get_backend_name() == "sqlite"


@contextmanager
def _migration_lock(database: Path | None) -> Iterator[None]:
    """Hold an exclusive lock beside the SQLite file while migrating: processes starting together (``serve``
    workers, ``init``, ``worker``) migrate one after the other, never the same step twice at once.
    """
    if database is None:
        yield
        return
    with open(database.with_name(database.name + ".migrate-lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_database(settings: Settings) -> None:
    """Create and migrate an embedded (SQLite) database; raise :class:`~api.db.engine.NotMigrated` for another
    that is not at the newest schema.
    """
    url = settings.database_url
    if is_embedded_database(url):
        database = make_url(url).database
        in_file = bool(database) and database != ":memory:"
        if in_file:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        with _migration_lock(Path(database).expanduser() if in_file else None):
            try:
                migrate(url)
            except CommandError as exc:  # e.g. a database from a newer release: this one knows no such revision
                raise NotMigrated(f"the embedded database {url} cannot be migrated by this release: {exc}") from exc
        return
    import asyncio

    asyncio.run(_check(url))


async def _check(url: str) -> None:
    engine = create_engine(url)
    try:
        await check_migrated(engine)
    finally:
        await engine.dispose()


def _live_admins() -> Select[tuple[str]]:
    return select(ApiKey.id).where(ApiKey.role == ADMIN_ROLE, ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at)


async def has_admin_key(settings: Settings) -> bool:
    """Whether any organisation has a live ``hr_admin`` key."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return (await session.execute(_live_admins().limit(1))).first() is not None
    finally:
        await engine.dispose()


async def create_first_admin(settings: Settings, org: str, name: str) -> FirstKey:
    """Create an ``hr_admin`` key for ``org`` unless a live one exists (in any organisation); in one transaction."""
    engine = create_engine(settings.database_url)
    try:
        await check_migrated(engine)
        async with session_factory(engine)() as session, session.begin():
            if engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _INIT_LOCK})
            existing = tuple((await session.execute(_live_admins())).scalars())
            if existing:
                return FirstKey(key_id=None, token=None, existing=existing)
            key, token = await repo.create_key(session, org, ADMIN_ROLE, name)
            return FirstKey(key_id=key.id, token=token)
    finally:
        await engine.dispose()
