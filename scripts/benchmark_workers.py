"""Screening-job throughput with 1 and 2 ``screening worker`` processes, beside the raw encoder.

Builds ``--answers`` answers as 5-answer screenings (held-out answers of the built-in rubric, each
given a distinct closing sentence so no two texts are the same and nothing is served from a cache),
encodes the same texts with the raw encoder (answers/s at batch 32: the baseline), then starts two
``screening worker`` processes on the database given (emptied first; default: a new SQLite file)
and Redis (default: ``$SCREENING_TEST_REDIS_URL`` of ``scripts/services.sh``), waits until both have loaded the model, queues the whole set as one NDJSON
batch job and times it to the last stored record: first with both workers, then with one (the other
stopped with SIGTERM). Prints answers/s for each, the scaling ratio, and the ratio to the encoder.

Usage: python scripts/benchmark_workers.py [--answers 10000] [--concurrency 2] [--batch-size 32]
       [--database-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select, text

from api.auth import Principal
from api.db.engine import create_engine, migrate
from api.db.models import ScreeningJob
from api.job_service import accept_batch
from api.settings import Settings
from screening.engine import default_model, method_named, open_encoder
from screening.paths import builtin_rubrics_dir, default_cache_dir

RUBRIC = "customer-service-attitude"
ANSWERS_PER_SCREENING = 5
READY_LINE = "slot(s) taking screening jobs"


def screenings(answers: int) -> list[dict[str, object]]:
    """``answers`` answers as screening requests of 5 answers to 5 different questions, every text distinct."""
    path = builtin_rubrics_dir() / "heldout" / f"{RUBRIC}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_question: dict[str, list[str]] = {}
    for row in rows:
        by_question.setdefault(row["question_id"], []).append(row["text"])
    questions = sorted(by_question)
    bodies = []
    for i in range(math.ceil(answers / ANSWERS_PER_SCREENING)):
        picked = [questions[(i + k) % len(questions)] for k in range(ANSWERS_PER_SCREENING)]
        texts = [by_question[q][(i // len(questions)) % len(by_question[q])] for q in picked]
        bodies.append(
            {
                "candidate_id": f"bench-{i}",
                "application_id": f"bench-app-{i}",
                "rubric": {"id": RUBRIC},
                "answers": [
                    {"question_id": q, "text": f"{t} That was ticket {i}-{k}."}
                    for k, (q, t) in enumerate(zip(picked, texts, strict=True))
                ],
            }
        )
    return bodies


def raw_encoder_rate(texts: list[str]) -> float:
    """Answers/s of the encoder alone on these texts, batch 32."""
    encoder = open_encoder(default_model(method_named(None)), default_cache_dir())
    encoder.encode(texts[:32])  # warm up
    start = time.perf_counter()
    for i in range(0, len(texts), 32):
        encoder.encode(texts[i : i + 32])
    return len(texts) / (time.perf_counter() - start)


async def reset(settings: Settings) -> None:
    """An empty, migrated database."""
    if settings.database_url.startswith("postgresql"):
        engine = create_engine(settings.database_url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await asyncio.to_thread(migrate, settings.database_url)


async def run_job(settings: Settings, body: bytes) -> float:
    """Queue ``body`` as one batch job and wait for its last record: seconds from accepted to finished."""
    from api.app import build_services

    services = build_services(settings)
    principal = Principal(key_id="benchmark", org_id="benchmark", role="integration")
    try:
        async with services.sessions() as session:
            job, _ = await accept_batch(services, session, principal, body, False, None)
        start = time.perf_counter()
        while True:
            async with services.sessions() as session:
                row = (await session.execute(select(ScreeningJob).where(ScreeningJob.id == job.id))).scalar_one()
            if row.status in ("scored", "failed"):
                elapsed = time.perf_counter() - start
                if row.failed:
                    raise SystemExit(f"{row.failed} screening(s) failed; see the workers' logs")
                return elapsed
            await asyncio.sleep(0.2)
    finally:
        if services.job_dispatch is not None:
            await services.job_dispatch.close()
        await services.shared.close()
        await services.engine.dispose()
        services.rubric_parser.close()


def start_workers(count: int, env: dict[str, str], concurrency: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        with (logs / f"worker-{i}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "screening.cli", "worker", "--concurrency", str(concurrency)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    for i, proc in enumerate(procs):
        while READY_LINE not in (logs / f"worker-{i}.log").read_text():
            if proc.poll() is not None:
                raise SystemExit((logs / f"worker-{i}.log").read_text())
            time.sleep(0.5)
    return procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2, help="batches at once per worker")
    parser.add_argument("--batch-size", type=int, default=32, help="SCREENING_JOB_BATCH_SIZE")
    parser.add_argument(
        "--database-url", help="a database to EMPTY and use (default: a new SQLite file); e.g. a PostgreSQL one"
    )
    parser.add_argument("--redis-url", default=os.environ.get("SCREENING_TEST_REDIS_URL"))
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="benchmark-workers-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{logs / 'bench.sqlite3'}"
    prefix = f"bench-{os.getpid()}"
    settings = Settings(
        database_url=database_url,
        redis_url=args.redis_url,
        redis_prefix=prefix,
        job_batch_size=args.batch_size,
        max_batch_lines=100_000,
        max_batch_bytes=512 * 1024 * 1024,
    )
    bodies = screenings(args.answers)
    answers = sum(len(b["answers"]) for b in bodies)  # type: ignore[arg-type]
    body = b"".join(json.dumps(b).encode() + b"\n" for b in bodies)
    texts = [a["text"] for b in bodies for a in b["answers"]]  # type: ignore[union-attr]
    print(
        f"{answers} answers in {len(bodies)} screenings; database {database_url.split('@')[-1]}; "
        f"redis {'yes' if args.redis_url else 'no (workers poll the database)'}; batch {args.batch_size}"
    )
    encoder = raw_encoder_rate(texts)
    print(f"raw encoder (batch 32, same texts): {encoder:.1f} answers/s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_") or k.startswith("SCREENING_TEST_")}
    env.update(
        SCREENING_CACHE_DIR=str(default_cache_dir()),  # the model this process just used: none is built
        SCREENING_DATABASE_URL=database_url,
        SCREENING_REDIS_PREFIX=prefix,
        SCREENING_JOB_BATCH_SIZE=str(args.batch_size),
        **({"SCREENING_REDIS_URL": args.redis_url} if args.redis_url else {}),
    )
    asyncio.run(reset(settings))
    procs = start_workers(2, env, args.concurrency, logs)
    rates: dict[int, float] = {}
    try:
        for workers in (2, 1):
            if workers == 1:
                procs[1].send_signal(signal.SIGTERM)
                procs[1].wait(timeout=120)
            seconds = asyncio.run(run_job(settings, body))
            rates[workers] = answers / seconds
            print(
                f"{workers} worker(s) x {args.concurrency} slot(s): {seconds:.1f} s, {rates[workers]:.1f} answers/s "
                f"({rates[workers] / encoder:.2f}x the raw encoder)"
            )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=120)
    print(f"scaling 1 -> 2 workers: {rates[2] / rates[1]:.2f}x (logs in {logs})")


if __name__ == "__main__":
    main()
