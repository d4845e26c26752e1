"""Prometheus metrics: requests, latencies, scoring latency, encoder batch sizes, cache hit rate."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from api.errors import status_of
from screening.encoder import CachingEncoder

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from screening.scorer import Scorer

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "Metrics", "instrument_scorer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
access_log = logging.getLogger("api.access")


class _CacheCollector(Collector):
    """Cache hits and misses read at scrape time: rubric embeddings and idempotency keys."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        counts = dict(self.metrics.cache_counts)
        encoder = self.metrics.scorer.reference_encoder if self.metrics.scorer else None
        if isinstance(encoder, CachingEncoder):
            counts["embeddings"] = (encoder.hits, encoder.misses)
        requests = CounterMetricFamily(
            "screening_cache_requests", "Cache lookups by cache and result.", labels=["cache", "result"]
        )
        ratio = GaugeMetricFamily(
            "screening_cache_hit_ratio", "Hits / lookups since start, by cache.", labels=["cache"]
        )
        for cache, (hits, misses) in sorted(counts.items()):
            requests.add_metric([cache, "hit"], hits)
            requests.add_metric([cache, "miss"], misses)
            ratio.add_metric([cache], hits / (hits + misses) if hits + misses else 0.0)
        yield requests
        yield ratio


class Metrics:
    """One registry per app (tests build several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "screening_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "screening_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            registry=self.registry,
        )
        self.scoring = Histogram(
            "screening_scoring_duration_seconds",
            "Time to score one candidate (engine only).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self.batch_sizes = Histogram(
            "screening_encoder_batch_size",
            "Texts per encoder call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "screening_shared_state_fallbacks",
            "Rate-limit, idempotency and lock operations served in process because Redis failed, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "screening_webhook_deliveries",
            "Webhook delivery attempts by result: sent (2xx), failed (will retry), dead (retries exhausted).",
            ["result"],
            registry=self.registry,
        )
        self.webhook_endpoints_disabled = Counter(
            "screening_webhook_endpoints_disabled",
            "Webhook endpoints disabled by the sender after a delivery exhausted its retries.",
            registry=self.registry,
        )
        self.webhook_backlog = Gauge(
            "screening_webhook_outbox_backlog",
            "Webhook deliveries not yet delivered nor dead (read from the database at scrape time).",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.webhook_disabled = Gauge(
            "screening_webhook_disabled_endpoints",
            "Webhook endpoints now disabled (read from the database at scrape time).",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.dead_letters = Counter(
            "screening_job_dead_letters",
            "Screening-job items this process gave up on after their last attempt (dead-lettered).",
            registry=self.registry,
        )
        self.cache_counts: dict[str, tuple[int, int]] = {"idempotency": (0, 0)}
        self.scorer: Scorer | None = None
        self.local_registry = CollectorRegistry()  # per-process figures, never summed over workers
        self.local_registry.register(_CacheCollector(self))
        self.registry.register(_CacheCollector(self))

    def shared_state_fallback(self, operation: str) -> None:
        """Count one shared-state operation served in process because Redis failed."""
        self.fallbacks.labels(operation).inc()

    def cache_lookup(self, cache: str, *, hit: bool) -> None:
        """Count one cache lookup."""
        hits, misses = self.cache_counts.get(cache, (0, 0))
        self.cache_counts[cache] = (hits + hit, misses + (not hit))

    def render(self) -> bytes:
        """Render the Prometheus text exposition.

        With several workers (``PROMETHEUS_MULTIPROC_DIR`` set, as ``screening serve --workers N`` does),
        counters and histograms are summed over every worker; the cache figures are this worker's.
        """
        if not os.environ.get(MULTIPROC_ENV):
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return generate_latest(combined) + generate_latest(self.local_registry)

    @staticmethod
    def job_items(counts: dict[str, int]) -> bytes:
        """The screening-job items of every organisation per state, from the database (the queue's truth)."""
        # written as text, not through a Gauge: in multiprocess mode every Gauge is also written to the shared
        # folder, and the next scrape would list the family twice (a scrape Prometheus refuses whole)
        lines = [
            "# HELP screening_job_items Screening-job items per state, read from the database; "
            "dead_letter: failed after every attempt.",
            "# TYPE screening_job_items gauge",
            *(f'screening_job_items{{state="{state}"}} {float(count)}' for state, count in sorted(counts.items())),
        ]
        return ("\n".join(lines) + "\n").encode()

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware counting, timing and logging requests by route template.

        The access log names the route template (``/v1/screenings/{screening_id}``), never the path or query
        string, so candidate and application ids stay out of logs.
        """

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            except Exception as exc:  # answered by the exception handlers outside this middleware
                status = status_of(exc)
                raise
            finally:
                route = str(scope.get("path_template") or "unmatched")  # type: ignore[union-attr]
                method = str(scope.get("method", ""))
                elapsed = time.perf_counter() - start
                self.requests.labels(method, route, str(status)).inc()
                self.latency.labels(method, route).observe(elapsed)
                access_log.info("%s %s %d %.1f ms", method, route, status, elapsed * 1000)

        return middleware


class _BatchSizeObserver:
    """Observes the sizes of the scorer's answer-encoding batches into ``metrics``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, batch_size: int) -> None:
        """Count one batch."""
        self.metrics.batch_sizes.observe(batch_size)


def instrument_scorer(scorer: Scorer, metrics: Metrics) -> None:
    """Point the scorer's encoder metrics at ``metrics`` (one observer per scorer, retargeted by later apps)."""
    observer = next((o for o in scorer.encode_observers if isinstance(o, _BatchSizeObserver)), None)
    if observer is None:
        scorer.add_encode_observer(_BatchSizeObserver(metrics))
    else:
        observer.metrics = metrics
    metrics.scorer = scorer
