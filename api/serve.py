"""The serving process that ``screening serve`` becomes (by ``exec``): uvicorn over :func:`api.asgi.app_from_env`.

It starts from a fresh interpreter that has imported nothing of the engine, so that :mod:`api.asgi`,
imported by each worker, can keep torch out on an ONNX backend before spaCy (whose thinc imports torch
when installed) is first imported: a lean worker. Settings come from ``SCREENING_*`` variables,
already checked by ``screening serve``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> None:
    """Run uvicorn with the service's settings."""
    import uvicorn

    from api.settings import Settings

    settings = Settings.from_env()
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile  # /metrics sums every worker's counters (prometheus_client multiprocess mode)

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="screening-metrics-")
    uvicorn.run(
        "api.asgi:app_from_env",
        factory=True,
        access_log=False,  # the app logs each request by its route template: no candidate ids in logs
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        proxy_headers=settings.forwarded_allow_ips is not None,  # the client's address from a trusted proxy only
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        timeout_worker_healthcheck=120,  # workers load the model: slow to answer at first
    )


def exec_server() -> None:
    """Replace this process by a fresh interpreter running :func:`main` (it never returns)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-c", "from api.serve import main; main()"])
