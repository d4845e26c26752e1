"""The async engine, session factory and migration state (Alembic)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

__all__ = [
    "BUSY_TIMEOUT_MS",
    "NotMigrated",
    "alembic_config",
    "check_migrated",
    "create_engine",
    "migrate",
    "session_factory",
]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIGRATE_COMMAND = "screening db migrate"
BUSY_TIMEOUT_MS = 30_000  # SQLite: how long a writer waits for another


class NotMigrated(RuntimeError):
    """The database schema is not at the newest migration."""


def create_engine(url: str) -> AsyncEngine:
    """Create an async engine.

    SQLite gets WAL, full sync, foreign keys, ``secure_delete`` (deleted content is zeroed, so an erasure
    erases), a busy timeout, and ``BEGIN IMMEDIATE`` transactions (SQLite ignores ``FOR UPDATE``). PostgreSQL gets short connect and pool timeouts and a pre-ping, so a lost
    server is reported at once (503) and a recovered one is used again without a restart.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # we issue BEGIN ourselves

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            # Take the write lock when a transaction starts, so reads made to decide a write (what
            # PostgreSQL's SELECT ... FOR UPDATE protects) cannot change before it commits.
            if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args = {"timeout": 5} if "+asyncpg" in url else {}
    return create_async_engine(
        url, pool_pre_ping=True, pool_timeout=10, connect_args=connect_args, hide_parameters=True
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Make sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Build the Alembic configuration for ``api/migrations`` and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def check_migrated(engine: AsyncEngine) -> None:
    """Raise :class:`NotMigrated`, saying which command fixes it, unless the schema is at head."""
    url = engine.url.render_as_string(hide_password=False)
    async with engine.connect() as connection:
        current = await connection.run_sync(_current)
    head = _head(url)
    if current != head:
        shown = engine.url.render_as_string(hide_password=True)
        raise NotMigrated(
            f"database {shown} is not migrated (at revision {current or 'none'}, needs {head}); "
            f"run `{MIGRATE_COMMAND}` with the same SCREENING_DATABASE_URL first"
        )


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (synchronous; runs its own event loop)."""
    command.upgrade(alembic_config(url), revision)
