"""With several workers, /metrics sums every worker's counters (prometheus_client multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys

WORKER = """
from api.metrics import Metrics
m = Metrics()
m.requests.labels("GET", "/v1/screenings", "200").inc({n})
m.scoring.observe(0.2)
"""

SCRAPE = """
from api.metrics import Metrics
print(Metrics().render().decode())
"""


def test_metrics_are_summed_over_worker_processes(tmp_path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (2, 3):  # two workers, each its own process
        subprocess.run([sys.executable, "-c", WORKER.format(n=n)], env=env, check=True)
    scraped = subprocess.run([sys.executable, "-c", SCRAPE], env=env, check=True, capture_output=True, text=True)
    lines = scraped.stdout.splitlines()
    assert 'screening_http_requests_total{method="GET",route="/v1/screenings",status="200"} 5.0' in lines
    assert "screening_scoring_duration_seconds_count 2.0" in lines
    assert any(line.startswith("screening_cache_hit_ratio") for line in lines), "this worker's cache figures too"
