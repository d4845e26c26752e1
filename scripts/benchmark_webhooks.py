"""Webhook sender throughput and commit-to-receipt latency against a real receiver on loopback.

For each database given: migrate a fresh one, register one endpoint, then
- throughput: write ``--events`` events in one transaction and time one sender (``--concurrency``
  deliveries at once) until all are delivered (deliveries/s, each signed and POSTed over HTTP);
- latency: with the sender loop running (woken by commits, as in the service), commit one event at a
  time and time until the receiver has it (p50 / p95 over ``--rounds``).

Usage: python scripts/benchmark_webhooks.py [--postgres postgresql+asyncpg://...] [--events 500]
(the PostgreSQL database's public schema is dropped and recreated: point it at a scratch database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import threading
import time

import uvicorn
from sqlalchemy import text

from api.db.engine import create_engine, migrate, session_factory
from api.db.models import WebhookEndpoint, utcnow
from api.metrics import Metrics
from api.settings import Settings
from api.webhook_delivery import WebhookSender
from api.webhook_events import WAKE_KEY, record_event


class Receiver:
    """Counts deliveries; answers 200."""

    def __init__(self) -> None:
        self.count = 0
        self.arrived = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.count += 1
        self.arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def serve(receiver: Receiver, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


async def prepare(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await asyncio.to_thread(migrate, url)


async def run(url: str, receiver: Receiver, target: str, events: int, concurrency: int, rounds: int) -> None:
    await prepare(url)
    settings = Settings(
        database_url=url, webhook_allow_private=True, webhook_allow_http=True, webhook_concurrency=concurrency
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    wake = asyncio.Event()
    sessions.configure(info={WAKE_KEY: wake})
    now = utcnow()
    async with sessions() as session, session.begin():
        session.add(
            WebhookEndpoint(
                id="bench", org_id="acme", url=target, events=["job.completed"], description="", secret="whsec_bench",
                status="enabled", created_by="k", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    async with sessions() as session, session.begin():
        for i in range(events):
            await record_event(session, org_id="acme", event_type="job.completed", data={"job_id": f"job-{i}"})
    sender = WebhookSender(sessions, settings, Metrics(), wake=wake)
    start_count, start = receiver.count, time.perf_counter()
    while await sender.run_once():
        pass
    elapsed = time.perf_counter() - start
    delivered = receiver.count - start_count
    print(f"{engine.dialect.name}: {delivered} deliveries in {elapsed:.2f} s = {delivered / elapsed:.0f}/s "
          f"(concurrency {concurrency})")  # fmt: skip
    loop = asyncio.create_task(sender.run_forever())
    await asyncio.sleep(0.2)
    latencies = []
    for i in range(rounds):
        receiver.arrived.clear()
        start = time.perf_counter()
        async with sessions() as session, session.begin():
            await record_event(session, org_id="acme", event_type="job.completed", data={"job_id": f"late-{i}"})
        while not receiver.arrived.is_set():
            await asyncio.sleep(0.001)
        latencies.append((time.perf_counter() - start) * 1000)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"{engine.dialect.name}: commit to receipt p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms "
          f"over {rounds} events (sender woken by the commit)")  # fmt: skip
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a scratch PostgreSQL URL (postgresql+asyncpg://...)")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    receiver = Receiver()
    server = serve(receiver, args.port)
    urls = [f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.sqlite3"] + ([args.postgres] if args.postgres else [])
    try:
        for url in urls:
            asyncio.run(
                run(url, receiver, f"http://127.0.0.1:{args.port}/hook", args.events, args.concurrency, args.rounds)
            )
    finally:
        server.should_exit = True


if __name__ == "__main__":
    main()
