"""End to end: the real ``screening`` command line, and one real ``screening serve`` process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import RUBRIC, raw_report, screening_body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_") or k.startswith("SCREENING_TEST_")}
    env.update(
        HF_HUB_OFFLINE="1",
        SCREENING_CACHE_DIR=str(cache_dir),
        SCREENING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'served.sqlite3'}",
        **extra,
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screening.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_refuses_bad_settings_and_keys_need_a_migrated_database(tmp_path, cache_dir) -> None:
    # serve creates and migrates the embedded database itself; PostgreSQL: test_first_run
    env = _env(tmp_path, cache_dir)
    bad = _cli({**env, "SCREENING_PORT": "eighty"}, "serve")
    assert bad.returncode == 2 and "SCREENING_PORT" in bad.stderr
    shared = _cli({**env, "SCREENING_WORKERS": "2"}, "serve")
    assert shared.returncode == 2 and "SCREENING_SESSION_SECRET" in shared.stderr
    keys = _cli(env, "keys", "create", "--org", "acme", "--role", "integration")
    assert keys.returncode == 2 and "screening db migrate" in keys.stderr


def test_served_end_to_end(tmp_path, cache_dir) -> None:
    env = _env(tmp_path, cache_dir)
    assert _cli(env, "db", "migrate").returncode == 0
    created = _cli(env, "keys", "create", "--org", "acme", "--role", "integration", "--name", "ats")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("scr_")
    recruiter = _cli(env, "keys", "create", "--org", "acme", "--role", "recruiter").stdout.strip()
    listing = _cli(env, "keys", "list", "--org", "acme")
    assert listing.returncode == 0 and token not in listing.stdout and listing.stdout.count("\tacme\t") == 2

    with _served(env, tmp_path) as (base, _):
        ats = {"Authorization": f"Bearer {token}", "Idempotency-Key": "e2e-1"}
        response = httpx.post(f"{base}/v1/screenings", json=screening_body(2), headers=ats, timeout=60)
        assert response.status_code == 201, response.text
        assert response.json()["rubric_id"] == RUBRIC
        record_id = response.json()["id"]
        again = httpx.post(f"{base}/v1/screenings", json=screening_body(2), headers=ats, timeout=60)
        assert again.json()["id"] == record_id
        read = httpx.get(f"{base}/v1/screenings/{record_id}", headers={"Authorization": f"Bearer {recruiter}"})
        assert raw_report(read.content) == raw_report(response.content)
        assert _cli(env, "keys", "revoke", _key_id(token)).returncode == 0
        revoked = httpx.get(f"{base}/v1/screenings", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401
        assert "screening_http_requests_total" in httpx.get(f"{base}/metrics").text


@contextlib.contextmanager
def _served(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``screening serve`` on a free port until ready: ``(base URL, pid)``; stopped afterwards."""
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "screening.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("server never became ready:\n" + (tmp_path / "serve.log").read_text())
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_worker_on_the_onnx_backend_never_loads_torch(tmp_path, cache_dir) -> None:
    env = _env(tmp_path, cache_dir, SCREENING_ENCODER_BACKEND="onnx")
    assert _cli(env, "db", "migrate").returncode == 0
    token = _cli(env, "keys", "create", "--org", "acme", "--role", "integration").stdout.strip()
    with _served(env, tmp_path) as (base, pid):
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.post(f"{base}/v1/screenings", json=screening_body(1), headers=headers, timeout=60)
        assert response.status_code == 201, response.text
        provenance = response.json()["report"]["provenance"]
        assert provenance["encoder_backend"] == "onnx" and provenance["encoder_graph_sha256"]
        libraries = Path(f"/proc/{pid}/maps").read_text()
        assert "libtorch" not in libraries and "onnxruntime" in libraries


def _key_id(token: str) -> str:
    return token.split("_")[1]
