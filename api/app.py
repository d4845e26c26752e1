"""The Litestar application: wiring of settings, database, stores, scorer and controllers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore

from api.auth import authenticate
from api.controllers.keys import KeyController
from api.controllers.rubrics import RubricController
from api.controllers.screenings import CandidateController, ScreeningController
from api.controllers.system import healthz, metrics, readyz
from api.db.engine import check_migrated, create_engine, session_factory
from api.errors import exception_handlers
from api.metrics import Metrics, instrument_scorer
from api.services import Services
from api.settings import Settings
from screening.engine import build_scorer, method_named
from screening.paths import builtin_rubrics_dir
from screening.rubric import RubricLibrary
from screening.scorer import Scorer

__all__ = ["create_app", "default_scorer_factory"]

log = logging.getLogger("api")
ScorerFactory = Callable[[], Scorer]


def default_scorer_factory(settings: Settings) -> ScorerFactory:
    """Return a function that builds the real scorer (model loaded offline) from settings."""

    def build() -> Scorer:
        cache_dir = Path(settings.cache_dir) if settings.cache_dir else None
        return build_scorer(settings.model, cache_dir=cache_dir, method=method_named(settings.method))

    return build


def _stores(settings: Settings) -> tuple[Store, Store, RedisStore | None]:
    if settings.redis_url is None:
        return MemoryStore(), MemoryStore(), None
    root = RedisStore.with_client(settings.redis_url, namespace=settings.redis_prefix)
    return root.with_namespace("rate"), root.with_namespace("idempotency"), root


async def _load_scorer(services: Services, scorer: Scorer | None, factory: ScorerFactory | None) -> None:
    """Load the model (unless given), pre-encode the built-in rubrics and fit their newest versions, off the loop."""
    try:
        if scorer is None:
            scorer = await anyio.to_thread.run_sync(factory)  # type: ignore[arg-type]
        for rubric in services.library:
            await anyio.to_thread.run_sync(scorer.prepare, rubric)
        for rubric_id in services.library.ids():  # the newest versions' level models, fitted now
            prepared = scorer.prepare(services.library.get(rubric_id))
            await anyio.to_thread.run_sync(prepared.warm)
        instrument_scorer(scorer, services.metrics)
        services.scorer = scorer
        log.info("model and %d rubric(s) loaded", len(services.library.ids()))
    except Exception as exc:
        services.load_error = f"model failed to load: {exc}"
        log.exception("model failed to load")


def _lifespan(scorer: Scorer | None, factory: ScorerFactory | None) -> Callable[[Litestar], object]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services: Services = app.state.services
        await check_migrated(services.engine)
        task = None
        if scorer is not None:  # given a loaded model: ready as soon as start-up ends
            await _load_scorer(services, scorer, None)
        else:  # serve /healthz (and a 503 /readyz) while the model loads
            task = asyncio.create_task(_load_scorer(services, None, factory))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await services.engine.dispose()

    return lifespan


def create_app(
    settings: Settings, scorer: Scorer | None = None, *, scorer_factory: ScorerFactory | None = None
) -> Litestar:
    """Build the app.

    With ``scorer`` the model is not loaded again; otherwise ``scorer_factory`` (default: the real
    model from settings) runs in the background at start-up and ``/readyz`` says 503 until it is done.
    """
    engine = create_engine(settings.database_url)
    rate_store, idempotency_store, redis_root = _stores(settings)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        rate_store=rate_store,
        idempotency_store=idempotency_store,
        metrics=Metrics(),
        library=RubricLibrary.from_folder(builtin_rubrics_dir()),
        limiter=anyio.CapacityLimiter(settings.scoring_concurrency),
    )
    factory = scorer_factory or (None if scorer is not None else default_scorer_factory(settings))
    on_shutdown = [redis_root._redis.aclose] if redis_root is not None else []
    return Litestar(
        route_handlers=[
            ScreeningController,
            CandidateController,
            RubricController,
            KeyController,
            healthz,
            readyz,
            metrics,
        ],
        dependencies={"principal": Provide(authenticate)},
        exception_handlers=exception_handlers,
        lifespan=[_lifespan(scorer, factory)],
        on_shutdown=on_shutdown,
        middleware=[DefineMiddleware(services.metrics.middleware)],
        state=State({"services": services}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Attitude screening API",
            version="1.0.0",
            use_handler_docstrings=True,
            description="Scores candidates' situational-judgement answers against HR-owned rubrics, explainably.",
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http", scheme="bearer", description="An API key from `screening keys create`."
                    )
                }
            ),
        ),
        debug=False,
    )
