"""Prometheus metrics: requests, latencies, scoring latency, encoder batch sizes, cache hit rate."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from screening.encoder import CachingEncoder, Encoder, EncoderWrapper

if TYPE_CHECKING:
    import numpy as np
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from screening.scorer import Scorer

__all__ = ["CONTENT_TYPE", "Metrics", "instrument_scorer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
        self.cache_counts: dict[str, tuple[int, int]] = {"idempotency": (0, 0)}
        self.scorer: Scorer | None = None
        self.registry.register(_CacheCollector(self))

    def cache_lookup(self, cache: str, *, hit: bool) -> None:
        """Count one cache lookup."""
        hits, misses = self.cache_counts.get(cache, (0, 0))
        self.cache_counts[cache] = (hits + hit, misses + (not hit))

    def render(self) -> bytes:
        """Render the Prometheus text exposition."""
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware counting requests and timing them by route template."""

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
            finally:
                route = str(scope.get("path_template") or "unmatched")  # type: ignore[union-attr]
                method = str(scope.get("method", ""))
                self.requests.labels(method, route, str(status)).inc()
                self.latency.labels(method, route).observe(time.perf_counter() - start)

        return middleware


class _CountingEncoder(EncoderWrapper):
    """Wraps the scorer's encoder to report how many texts each call encodes."""

    def __init__(self, inner: Encoder, metrics: Metrics) -> None:
        super().__init__(inner)
        self.metrics = metrics

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode and count the batch."""
        if texts:
            self.metrics.batch_sizes.observe(len(texts))
        return self.inner.encode(texts)


def instrument_scorer(scorer: Scorer, metrics: Metrics) -> None:
    """Point the scorer's encoder metrics at ``metrics`` (wrapping the encoder once)."""
    if isinstance(scorer.encoder, _CountingEncoder):
        scorer.encoder.metrics = metrics
    else:
        scorer.encoder = _CountingEncoder(scorer.encoder, metrics)  # type: ignore[assignment]
    metrics.scorer = scorer
