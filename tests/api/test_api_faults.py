"""Fault injection: real Redis and PostgreSQL servers stopped and restarted while the app serves.

Each test starts its own throwaway server (so stopping it disturbs nothing else): a lost Redis degrades
the service (scoring and reads go on), a lost database answers 503 + Retry-After with one log line per
kind of failure, and both recover without restarting the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import pytest
from api_support import add_key, assert_problem, screening_body
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.db.engine import migrate
from api.settings import Settings

pytestmark = pytest.mark.asyncio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(binary: str) -> str:
    postgres = sorted(glob(f"/usr/lib/postgresql/*/bin/{binary}"))  # Debian's, before any wrapper on PATH
    path = postgres[-1] if postgres else shutil.which(binary)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{binary} is not installed (scripts/services.sh installs it)")
        pytest.skip(f"{binary} is not installed")
    return path


class RedisServer:
    """A redis-server process on a fixed port that can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.binary = _need("redis-server")
        self.folder, self.port = folder, _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.folder),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class PostgresServer:
    """A throwaway PostgreSQL cluster (run as the ``postgres`` user) that can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.pg_ctl = _need("pg_ctl")
        initdb = _need("initdb")
        if os.geteuid() != 0:
            pytest.skip("starting a PostgreSQL cluster here needs root (to run it as the postgres user)")
        self.folder, self.port = folder, _free_port()
        folder.chmod(0o755)
        shutil.chown(folder, "postgres")
        self._as_postgres(f"{initdb} -D {folder}/data -A trust -U postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(f"{self.pg_ctl} -D {self.folder}/data -o '{options}' -l {self.folder}/log -w start")

    def stop(self) -> None:
        self._as_postgres(f"{self.pg_ctl} -D {self.folder}/data -m immediate -w stop")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    folder = Path(tempfile.mkdtemp(prefix="screening-faults-pg-"))  # the postgres user must reach it
    server = PostgresServer(folder)
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)


async def test_redis_down_degrades_and_recovers(tmp_path, redis_server, scorer) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'screening.sqlite3'}"
    await asyncio.to_thread(migrate, url)
    settings = Settings(database_url=url, redis_url=redis_server.url, redis_prefix="faults")
    _, ats = await add_key(settings, "acme", "integration")
    _, recruiter = await add_key(settings, "acme", "recruiter")
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as client:
        first = await client.post("/v1/screenings", json=screening_body(), headers={**ats, "Idempotency-Key": "a"})
        assert first.status_code == 201
        assert (await client.get("/readyz")).json()["status"] == "ready"

        redis_server.stop()
        listed = await client.get("/v1/screenings", headers=recruiter)
        assert listed.status_code == 200, listed.text
        second = await client.post("/v1/screenings", json=screening_body(1), headers={**ats, "Idempotency-Key": "b"})
        assert second.status_code == 201, "a committed record is reported as stored"
        replay = await client.post("/v1/screenings", json=screening_body(1), headers={**ats, "Idempotency-Key": "b"})
        assert replay.status_code == 201 and replay.json()["id"] == second.json()["id"]
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
        assert "redis unavailable" in ready.json()["checks"]["shared_state"]
        metrics = (await client.get("/metrics")).text
        assert 'screening_shared_state_fallbacks_total{operation="count"}' in metrics

        redis_server.start()
        await asyncio.sleep(2.1)  # the fallback window after the last failure
        assert (await client.get("/v1/screenings", headers=recruiter)).status_code == 200
        assert (await client.get("/readyz")).json()["status"] == "ready", "pooled connections recovered"
        third = await client.post("/v1/screenings", json=screening_body(2), headers={**ats, "Idempotency-Key": "c"})
        assert third.status_code == 201


async def test_database_down_is_503_with_one_log_line_and_recovers(postgres_server, scorer, caplog) -> None:
    await asyncio.to_thread(migrate, postgres_server.url)
    settings = Settings(database_url=postgres_server.url)
    _, ats = await add_key(settings, "acme", "integration")
    _, recruiter = await add_key(settings, "acme", "recruiter")
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as client:
        created = await client.post("/v1/screenings", json=screening_body(), headers=ats)
        assert created.status_code == 201

        postgres_server.stop()
        logger = logging.getLogger("api")
        logger.addHandler(caplog.handler)  # Litestar's logging set-up replaced the root logger's handlers
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="api"):
            for _ in range(10):
                problem = assert_problem(
                    await client.get(f"/v1/screenings/{created.json()['id']}", headers=recruiter),
                    503,
                    "database-unavailable",
                )
            down = await client.post("/v1/screenings", json=screening_body(1), headers=ats)
        assert_problem(down, 503, "database-unavailable")
        assert int(down.headers["retry-after"]) > 0
        assert "nothing was stored" in problem["detail"]
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        logger.removeHandler(caplog.handler)
        failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert 1 <= len(failures) <= 2, [r.getMessage() for r in failures]
        assert not any(r.exc_info for r in failures), "no traceback per failure"

        postgres_server.start()
        for _ in range(50):
            response = await client.get(f"/v1/screenings/{created.json()['id']}", headers=recruiter)
            if response.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert response.status_code == 200, "recovered without restarting the app"
        assert (await client.post("/v1/screenings", json=screening_body(1), headers=ats)).status_code == 201
