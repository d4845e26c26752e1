"""The Litestar application: wiring of settings, database, stores, scorer and controllers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

from api.auth import PUBLIC_PATHS, ApiKeyAuthentication, require_role
from api.calibration_jobs import CalibrationJobs
from api.controllers.calibrations import CalibrationController
from api.controllers.greenhouse import GreenhouseController
from api.controllers.jobs import ScreeningJobController
from api.controllers.keys import KeyController
from api.controllers.reports import ReportController
from api.controllers.rubrics import RubricController
from api.controllers.screenings import CandidateController, ScreeningController
from api.controllers.system import healthz, metrics, readyz
from api.controllers.webhooks import WebhookController
from api.db.engine import check_migrated, create_engine, session_factory
from api.dependencies import dependencies
from api.errors import exception_handlers
from api.greenhouse_worker import GreenhouseWork
from api.job_dispatch import JobDispatch, saq_queue
from api.job_runner import JobRunner
from api.metrics import Metrics, instrument_scorer
from api.openapi import openapi_config
from api.partner_secret import load_partner_secret
from api.request_gate import RequestGate
from api.rubric_parsing import RubricParser
from api.services import Services
from api.settings import Settings
from api.stores import SharedState
from api.strict_json import StrictJSONRequest
from api.ui import template_config, ui_routes
from api.ui.candidate import candidate_router
from api.ui.session import session_signer
from api.webhook_delivery import WebhookSender
from api.webhook_events import WAKE_KEY
from screening.engine import build_scorer, method_named
from screening.paths import builtin_rubrics_dir
from screening.rubric import RubricLibrary
from screening.scorer import Scorer

__all__ = ["build_services", "create_app", "default_scorer_factory", "load_scorer"]

log = logging.getLogger("api")
ScorerFactory = Callable[[], Scorer]


def default_scorer_factory(settings: Settings) -> ScorerFactory:
    """Return a function that builds the real scorer (model loaded offline) from settings."""

    def build() -> Scorer:
        cache_dir = Path(settings.cache_dir) if settings.cache_dir else None
        return build_scorer(
            settings.model,
            cache_dir=cache_dir,
            method=method_named(settings.method),
            backend=settings.encoder_backend,
            batching=settings.encoder_batching,
        )

    return build


async def load_scorer(services: Services, scorer: Scorer | None, factory: ScorerFactory | None) -> None:
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
        calibrations = asyncio.create_task(CalibrationJobs(services).run_forever())
        sender = WebhookSender(services.sessions, services.settings, services.metrics, wake=services.webhook_wake)
        webhooks = asyncio.create_task(sender.run_forever())
        greenhouse = asyncio.create_task(app.state.greenhouse_work.run_forever())
        screening_jobs = None
        if services.settings.runs_jobs_in_process:  # the embedded default: no `screening worker` needed
            screening_jobs = asyncio.create_task(JobRunner(services).run_forever())
        if scorer is not None:  # given a loaded model: ready as soon as start-up ends
            await load_scorer(services, scorer, None)
        else:  # serve /healthz (and a 503 /readyz) while the model loads
            task = asyncio.create_task(load_scorer(services, None, factory))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            for loop_task in (calibrations, webhooks, greenhouse, screening_jobs):
                if loop_task is not None:
                    loop_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop_task
            if services.job_dispatch is not None:
                await services.job_dispatch.close()
            await services.engine.dispose()
            await services.shared.close()
            services.rubric_parser.close()

    return lifespan


def build_services(settings: Settings, *, blocking_queue: bool = False) -> Services:
    """Everything a process serving or running screenings holds, from settings (the model loads later)."""
    engine = create_engine(settings.database_url)
    metrics_ = Metrics()
    sessions = session_factory(engine)
    webhook_wake = asyncio.Event()
    sessions.configure(info={WAKE_KEY: webhook_wake})  # a commit that wrote webhook events wakes the sender
    services = Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        shared=SharedState(settings.redis_url, settings.redis_prefix, on_fallback=metrics_.shared_state_fallback),
        metrics=metrics_,
        library=RubricLibrary.from_folder(builtin_rubrics_dir()),
        rubric_parser=RubricParser(settings.rubric_parse_seconds),
        limiter=anyio.CapacityLimiter(settings.scoring_concurrency),
        webhook_wake=webhook_wake,
        partner_secret=load_partner_secret(settings),
    )
    queue = saq_queue(settings, blocking=blocking_queue)
    services.job_dispatch = JobDispatch(settings, services.sessions, services.job_wake, queue)
    return services


def create_app(
    settings: Settings, scorer: Scorer | None = None, *, scorer_factory: ScorerFactory | None = None
) -> Litestar:
    """Build the app.

    With ``scorer`` the model is not loaded again; otherwise ``scorer_factory`` (default: the real
    model from settings) runs in the background at start-up and ``/readyz`` says 503 until it is done.
    """
    services = build_services(settings)
    factory = scorer_factory or (None if scorer is not None else default_scorer_factory(settings))
    return Litestar(
        route_handlers=[
            ScreeningController,
            ScreeningJobController,
            CandidateController,
            RubricController,
            CalibrationController,
            KeyController,
            ReportController,
            WebhookController,
            GreenhouseController,
            candidate_router(),
            healthz,
            readyz,
            metrics,
            *ui_routes(),
        ],
        dependencies=dependencies,
        guards=[require_role],
        exception_handlers=exception_handlers,
        lifespan=[_lifespan(scorer, factory)],
        middleware=[
            DefineMiddleware(services.metrics.middleware),
            DefineMiddleware(ApiKeyAuthentication, exclude=[f"^{p}" for p in PUBLIC_PATHS], exclude_http_methods=[]),
            DefineMiddleware(RequestGate, max_body_bytes=settings.max_body_bytes),
        ],
        state=State(
            {
                "services": services,
                "ui_signer": session_signer(settings.session_secret, settings.session_hours),
                "greenhouse_work": GreenhouseWork(services),  # its clock is what tests move forward
            }
        ),
        template_config=template_config(),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config(settings),
        request_class=StrictJSONRequest,
        debug=False,
    )
