"""Liveness, readiness and metrics: the only routes that need no API key."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from api.db import jobs
from api.domain import NotReady
from api.errors import log_throttled
from api.metrics import CONTENT_TYPE
from api.openapi import NOT_READY, problem_responses
from api.services import Services
from api.webhook_delivery import refresh_gauges

__all__ = ["healthz", "metrics", "readyz"]


PUBLIC = {"exclude_from_auth": True}


@get("/healthz", operation_id="healthz", tags=["system"], summary="Liveness", opt=PUBLIC)
async def healthz() -> dict[str, str]:
    """Say the process is up and serving requests."""
    return {"status": "ok"}


async def _checks(services: NamedDependency[Services]) -> dict[str, str]:
    checks = {"model": "ok" if services.scorer is not None else (services.load_error or "loading")}
    try:
        async with services.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["shared_state"] = await services.shared.ping()
    return checks


@get(
    "/readyz",
    operation_id="readyz",
    tags=["system"],
    summary="Readiness",
    opt=PUBLIC,
    responses=problem_responses(notes={503: NOT_READY}),
)
async def readyz(services: NamedDependency[Services]) -> dict[str, Any]:
    """Ready when the model and rubrics are loaded and the database answers.

    Without Redis the service still serves (``status: degraded``): rate limits and idempotency locks then
    hold per process.
    """
    checks = await _checks(services)
    failing = {k: v for k, v in checks.items() if k != "shared_state" and v != "ok"}
    if failing:
        raise NotReady("Not ready: " + ", ".join(f"{k} {v}" for k, v in failing.items()), headers={"Retry-After": "5"})
    return {"status": "ready" if checks["shared_state"] == "ok" else "degraded", "checks": checks}


@get(
    "/metrics",
    operation_id="metrics",
    tags=["system"],
    summary="Prometheus metrics",
    opt=PUBLIC,
    media_type=CONTENT_TYPE,
)
async def metrics(services: NamedDependency[Services]) -> Response[bytes]:
    """Request counts and latencies, scoring latency, encoder batch sizes, cache hit rate, degraded state,
    screening jobs, webhook deliveries, outbox backlog and disabled endpoints.
    """
    body = b""
    try:
        await refresh_gauges(services.sessions, services.metrics)
        async with services.sessions() as session:
            body = services.metrics.job_items(await jobs.item_counts(session))
    except Exception as exc:  # the database is down: the process's own figures are still served
        log_throttled(f"metrics:{type(exc).__name__}", f"database figures not read: {type(exc).__name__}")
    return Response(content=services.metrics.render() + body, media_type=CONTENT_TYPE)
