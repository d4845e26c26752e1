"""End-to-end throughput of the served API beside the raw encoder, per encoder backend, in one run.

For each backend: the raw encoder on the same texts (answers/s at batch 32; the encode time of one
screening's 5 answers), then the real server (``screening serve``, embedded default: SQLite, no Redis,
one worker, rate limit off) driven on loopback by 1, 4 and 16 concurrent clients posting 5-answer
screenings for ``--seconds`` each, then the same server as a naive per-request-encoding service
(cross-request batching off) at the highest concurrency as the baseline. Prints answers/s,
p50/p95/p99 per screening, the worker's RSS, and the ratios against the issue's targets:

- answers/s under concurrency >= 0.8x the backend's raw batch throughput
- p50 of one screening at 1 client <= 1.3x the raw encode time of its texts
- answers/s at 16 clients >= answers/s at 1 client
- >= 3x the naive per-request-encoding service on the same backend
- RSS <= 600 MB per worker on an ONNX backend

Usage: python scripts/benchmark_api.py [--backends torch,onnx,onnx-int8] [--seconds 20] [--clients 1,4,16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from screening.engine import build_scorer, default_model, method_named, open_encoder
from screening.paths import builtin_rubrics_dir, default_cache_dir
from screening.report import Answer, CandidateAnswers
from screening.rubric import RubricLibrary

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = "customer-service-attitude"
ANSWERS = 5
BIN = Path(sys.executable).parent


def heldout_screenings() -> list[list[dict[str, str]]]:
    """5-answer screenings from the held-out answers, 5 different questions each, every answer used once."""
    path = builtin_rubrics_dir() / "heldout" / f"{RUBRIC}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_question: dict[str, list[str]] = {}
    for row in rows:
        by_question.setdefault(row["question_id"], []).append(row["text"])
    questions = sorted(by_question)
    screenings = []
    for i in range(len(rows) // ANSWERS):
        slots = [ANSWERS * i + k for k in range(ANSWERS)]
        picked = [(questions[s % len(questions)], s // len(questions)) for s in slots]
        if any(n >= len(by_question[q]) for q, n in picked):
            break
        screenings.append([{"question_id": q, "text": by_question[q][n]} for q, n in picked])
    return screenings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Raw:
    batch_rate: float  # answers/s at batch 32
    screening_p50: float  # seconds to encode one screening's answers
    units_p50: float  # seconds to encode every text the engine encodes for one screening (sentences, clauses, answers)
    units_per_screening: float


def engine_texts(backend: str, screenings: list[list[dict[str, str]]]) -> list[list[str]]:
    """The texts the engine encodes for each screening (recorded from a real scorer on ``backend``)."""
    scorer = build_scorer(backend=backend)  # type: ignore[arg-type]
    rubric = RubricLibrary.from_folder(builtin_rubrics_dir()).get(RUBRIC)
    recorded: list[list[str]] = []
    inner = scorer.encoder.encode

    def recording(texts: list[str]) -> object:
        recorded[-1].extend(texts)
        return inner(texts)

    scorer.encoder.encode = recording  # type: ignore[method-assign]
    for index, screening in enumerate(screenings):
        recorded.append([])
        answers = tuple(Answer(question_id=a["question_id"], text=a["text"]) for a in screening)
        scorer.score(rubric, CandidateAnswers(candidate_id=f"c{index}", answers=answers))
    return recorded


def raw_encoder(backend: str, screenings: list[list[dict[str, str]]]) -> Raw:
    """The backend's encoder alone on the same texts: the whole answers, and every text the engine encodes."""
    units = engine_texts(backend, screenings)
    encoder = open_encoder(default_model(method_named(None)), default_cache_dir(), backend=backend)  # type: ignore[arg-type]
    texts = [a["text"] for s in screenings for a in s]
    encoder.encode(texts[:32])  # warm up
    start = time.perf_counter()
    for i in range(0, len(texts), 32):
        encoder.encode(texts[i : i + 32])
    batch_rate = len(texts) / (time.perf_counter() - start)
    times, unit_times = [], []
    for screening, texts in zip(screenings, units, strict=True):
        start = time.perf_counter()
        encoder.encode([a["text"] for a in screening])
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        encoder.encode(texts)
        unit_times.append(time.perf_counter() - start)
    return Raw(
        batch_rate=batch_rate,
        screening_p50=statistics.median(times),
        units_p50=statistics.median(unit_times),
        units_per_screening=sum(map(len, units)) / len(units),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``screening serve`` on a fresh SQLite database, with one integration key."""

    def __init__(self, backend: str, batching: bool, folder: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "SCREENING_DATABASE_URL": f"sqlite+aiosqlite:///{folder / f'bench-{backend}-{batching}.sqlite3'}",
            "SCREENING_ENCODER_BACKEND": backend,
            "SCREENING_ENCODER_BATCHING": "true" if batching else "false",
            "SCREENING_RATE_LIMIT_PER_MINUTE": "0",
            "SCREENING_LOG_LEVEL": "warning",
        }
        self.env.pop("SCREENING_REDIS_URL", None)
        subprocess.run([BIN / "screening", "db", "migrate"], env=self.env, check=True, capture_output=True)
        made = subprocess.run(
            [BIN / "screening", "keys", "create", "--org", "bench", "--role", "integration"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        self.headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
        self.process = subprocess.Popen(
            [BIN / "screening", "serve", "--port", str(self.port)], env=self.env, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the server did not become ready")

    def rss_mb(self) -> float:
        """Resident memory of the serving process (the worker: one process with workers=1)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Load:
    clients: int
    rate: float  # answers/s
    latencies: list[float]
    errors: int


async def drive(server: Server, screenings: list[list[dict[str, str]]], clients: int, seconds: float) -> Load:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    counter = 0

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, counter
        while time.monotonic() < stop:
            counter += 1
            body = {
                "candidate_id": f"bench-{index}-{counter}",
                "application_id": f"app-{counter}",
                "rubric": {"id": RUBRIC},
                "answers": screenings[counter % len(screenings)],
            }
            start = time.perf_counter()
            response = await http.post("/v1/screenings", json=body, headers=server.headers)
            if response.status_code == 201:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
        start = time.monotonic()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.monotonic() - start
    return Load(clients=clients, rate=ANSWERS * len(latencies) / elapsed, latencies=latencies, errors=errors)


def row(name: str, load: Load) -> str:
    p = [percentile(load.latencies, q) * 1000 for q in (0.5, 0.95, 0.99)] if load.latencies else [float("nan")] * 3
    return f"| {name} | {load.clients} | {load.rate:.1f} | {p[0]:.0f} | {p[1]:.0f} | {p[2]:.0f} | {load.errors} |"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def bench_backend(backend: str, screenings: list[list[dict[str, str]]], args: argparse.Namespace, folder: Path) -> None:
    raw = raw_encoder(backend, screenings)
    print(f"\n## backend {backend}\n")
    print(
        f"raw encoder: {raw.batch_rate:.1f} answers/s at batch 32; one screening's {ANSWERS} answers in "
        f"{raw.screening_p50 * 1000:.1f} ms (p50); the {raw.units_per_screening:.1f} texts the engine encodes "
        f"for one screening (sentences, clauses, answers) in {raw.units_p50 * 1000:.1f} ms (p50)\n"
    )
    print("| service | clients | answers/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    loads: dict[int, Load] = {}
    server = Server(backend, True, folder)
    try:
        server.wait_ready()
        asyncio.run(drive(server, screenings, 2, 3))  # warm up
        for clients in args.clients:
            loads[clients] = asyncio.run(drive(server, screenings, clients, args.seconds))
            print(row("batched", loads[clients]), flush=True)
        rss = server.rss_mb()
    finally:
        server.stop()
    top = max(args.clients)
    naive = Server(backend, False, folder)
    try:
        naive.wait_ready()
        asyncio.run(drive(naive, screenings, 2, 3))
        baseline = asyncio.run(drive(naive, screenings, top, args.seconds))
        print(row("naive per-request encoding", baseline), flush=True)
    finally:
        naive.stop()
    best = max(load.rate for load in loads.values())
    one = loads[min(args.clients)]
    p50_one = percentile(one.latencies, 0.5) if one.latencies else float("nan")
    print(f"\nworker RSS: {rss:.0f} MB")
    print(
        f"- concurrency throughput / raw batch: {best / raw.batch_rate:.2f}x (target >= 0.8x: {verdict(best >= 0.8 * raw.batch_rate)})"
    )
    print(
        f"- p50 at 1 client / raw encode of its texts: {p50_one / raw.screening_p50:.2f}x (target <= 1.3x: {verdict(p50_one <= 1.3 * raw.screening_p50)})"
    )
    print(f"- p50 at 1 client / raw encode of the texts the engine encodes for it: {p50_one / raw.units_p50:.2f}x")
    print(
        f"- {top} clients / 1 client: {loads[top].rate / one.rate:.2f}x (target >= 1x: {verdict(loads[top].rate >= one.rate)})"
    )
    print(
        f"- batched / naive at {top} clients: {loads[top].rate / baseline.rate:.2f}x (target >= 3x: {verdict(loads[top].rate >= 3 * baseline.rate)})"
    )
    if backend != "torch":
        print(f"- RSS {rss:.0f} MB (target <= 600 MB on ONNX: {verdict(rss <= 600)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", default="1,4,16")
    args = parser.parse_args()
    args.clients = sorted(int(c) for c in args.clients.split(","))
    screenings = heldout_screenings()
    print(
        f"{len(screenings)} distinct {ANSWERS}-answer screenings from the held-out answers; {os.cpu_count()} CPU cores"
    )
    with tempfile.TemporaryDirectory(prefix="bench-api-") as folder:
        for backend in args.backends.split(","):
            bench_backend(backend, screenings, args, Path(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
