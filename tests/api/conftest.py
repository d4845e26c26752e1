"""Fixtures for the API suite: one real scorer per session, the app over each storage backend, API keys.

Backends: ``embedded`` (SQLite file + in-memory stores) and ``servers`` (PostgreSQL + Redis from
``SCREENING_TEST_POSTGRES_URL`` / ``SCREENING_TEST_REDIS_URL``). Without those variables the
``servers`` tests skip locally and fail when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api_support import add_key
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.app import create_app
from api.db.engine import create_engine, migrate, session_factory
from api.settings import Settings
from screening.engine import build_scorer

BACKENDS = ["embedded", "servers"]

KeyMaker = Callable[..., Awaitable[dict[str, str]]]


def need_env(name: str) -> str:
    """A test service URL: skip locally without it, fail in CI."""
    value = os.environ.get(name)
    if not value:
        message = f"{name} is not set (run scripts/test.sh, or export it to point at a real server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return value


def in_thread(function: Callable[[], Any]) -> Any:
    """Run a blocking function (that may start its own event loop) in a thread and return its result."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedding cache shared by the session scorer and the server process."""
    explicit = os.environ.get("SCREENING_CACHE_DIR")
    path = Path(explicit) if explicit else tmp_path_factory.mktemp("screening-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def scorer(cache_dir: Path):
    """The one real scorer of the session (real model, real spaCy)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return build_scorer(cache_dir=cache_dir)


def make_settings(backend: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Migrated, empty storage for ``backend`` and settings pointing at it."""
    if backend == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'screening.sqlite3'}"
        settings = Settings(database_url=url, **overrides)
    else:
        url = need_env("SCREENING_TEST_POSTGRES_URL")
        redis_url = need_env("SCREENING_TEST_REDIS_URL")
        in_thread(lambda: asyncio.run(_reset_postgres(url)))
        settings = Settings(database_url=url, redis_url=redis_url, redis_prefix=f"test-{uuid.uuid4().hex}", **overrides)
    in_thread(lambda: migrate(url))
    return settings


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``embedded`` (SQLite, memory stores) or ``servers`` (PostgreSQL, Redis)."""
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Settings:
    """Settings for a fresh, migrated database of the backend under test."""
    return make_settings(backend, tmp_path)


@pytest_asyncio.fixture
async def app(settings: Settings, scorer) -> AsyncIterator[Litestar]:
    """The app with the session's scorer (ready once start-up ends)."""
    yield create_app(settings, scorer=scorer)


@pytest_asyncio.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    """A test client with the app's lifespan running."""
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest_asyncio.fixture
async def loop_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client running the app on the test's own event loop, so requests really run concurrently.

    (``AsyncTestClient`` runs the app in a portal thread and waits for each request in turn.)
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:  # enter and exit the lifespan in one task
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    await asyncio.wait([asyncio.create_task(started.wait()), lifespan], return_when=asyncio.FIRST_COMPLETED)
    if lifespan.done():
        lifespan.result()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client
    stop.set()
    await lifespan


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[async_sessionmaker]:
    """Sessions on the test's own event loop (the app runs on the test client's loop)."""
    engine = create_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest_asyncio.fixture
async def key(settings: Settings) -> KeyMaker:
    """``await key(role, org="acme")`` -> request headers for a new key."""

    async def make(role: str, org: str = "acme") -> dict[str, str]:
        return (await add_key(settings, org, role))[1]

    return make
