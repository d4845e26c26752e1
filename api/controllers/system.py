"""Liveness, readiness and metrics (no API key needed)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text

from api.errors import ApiError
from api.metrics import CONTENT_TYPE
from api.services import Services

__all__ = ["healthz", "metrics", "readyz"]


@get("/healthz", operation_id="healthz", tags=["system"], summary="Liveness")
async def healthz() -> dict[str, str]:
    """Say the process is up and serving requests."""
    return {"status": "ok"}


async def _checks(services: Services) -> dict[str, str]:
    checks = {"model": "ok" if services.scorer is not None else (services.load_error or "loading")}
    try:
        async with services.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    for name, store in (("rate_store", services.rate_store), ("idempotency_store", services.idempotency_store)):
        try:
            await store.exists("readyz")
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    return checks


@get("/readyz", operation_id="readyz", tags=["system"], summary="Readiness")
async def readyz(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Ready only when the model and rubrics are loaded and the database and stores answer."""
    checks = await _checks(request.app.state.services)
    failing = {k: v for k, v in checks.items() if v != "ok"}
    if failing:
        raise ApiError(
            503,
            "not-ready",
            "Service not ready",
            "Not ready: " + ", ".join(f"{k} {v}" for k, v in failing.items()),
            headers={"Retry-After": "5"},
        )
    return {"status": "ready", "checks": checks}


@get("/metrics", operation_id="metrics", tags=["system"], summary="Prometheus metrics", include_in_schema=True)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Request counts and latencies, scoring latency, encoder batch sizes and cache hit rate."""
    return Response(content=request.app.state.services.metrics.render(), media_type=CONTENT_TYPE)
