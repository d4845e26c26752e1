"""The container stack without a container engine (none runs on this CI machine: see README, "Container stack").

The image's entrypoint script is run directly, as the image runs it (the embedded default, the ONNX
backend, settings from ``SCREENING_*``), until ``/readyz`` answers and a screening is scored; the Dockerfile
and ``compose.yaml`` are read and held to what the README promises.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from api_support import REPO_ROOT, screening_body
from browser_support import free_port

ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"
START_SECONDS = 300


def _image_env(tmp_path: Path, cache_dir: Path, port: int) -> dict[str, str]:
    """The image's environment (Dockerfile ``ENV``), with this checkout's code and the test cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_") or k.startswith("SCREENING_TEST_")}
    python_bin = str(Path(sys.executable).parent)
    return {
        **env,
        "PATH": f"{python_bin}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "SCREENING_CACHE_DIR": str(cache_dir),
        "SCREENING_ENCODER_BACKEND": "onnx",
        "SCREENING_HOST": "127.0.0.1",
        "SCREENING_PORT": str(port),
        "SCREENING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'var' / 'screening.sqlite3'}",
    }


def _role(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


def test_the_entrypoint_serves_the_embedded_default_and_scores(tmp_path, cache_dir) -> None:
    port = free_port()
    env = _image_env(tmp_path, cache_dir, port)
    assert _role(env, tmp_path, "healthcheck").returncode == 1, "not ready before it runs"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while _role(env, tmp_path, "healthcheck").returncode != 0:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "never ready:\n" + log.read_text()
            time.sleep(1)
        assert (tmp_path / "var" / "screening.sqlite3").is_file()
        first = _role(env, tmp_path, "init")
        assert first.returncode == 0 and first.stdout.startswith("scr_"), first.stderr
        assert _role(env, tmp_path, "init").stdout == ""
        created = _role(env, tmp_path, "screening", "keys", "create", "--org", "default", "--role", "integration")
        assert created.returncode == 0, created.stderr
        headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
        base = f"http://127.0.0.1:{port}"
        scored = httpx.post(f"{base}/v1/screenings", json=screening_body(1), headers=headers, timeout=120)
        assert scored.status_code == 201, scored.text
        assert scored.json()["report"]["provenance"]["encoder_backend"] == "onnx"
        assert _role(env, tmp_path, "migrate").returncode == 0, "migrating a migrated database is a no-op"
        listing = _role(env, tmp_path, "screening", "keys", "list")
        assert listing.stdout.count("\thr_admin\t") == 1 and listing.stdout.count("\tintegration\t") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    unknown = _role(env, tmp_path, "serv")
    assert unknown.returncode == 64 and "unknown role 'serv'" in unknown.stderr


def _entrypoint_roles() -> set[str]:
    return set(re.findall(r"^  ([a-z]+)\)", ENTRYPOINT.read_text(), flags=re.MULTILINE))


def test_the_compose_stack_is_wired_as_documented() -> None:
    stack = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    services = stack["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    roles = _entrypoint_roles()
    assert roles == {"serve", "worker", "migrate", "init", "healthcheck", "screening"}
    for name in ("migrate", "api", "worker"):
        assert services[name]["command"][0] in roles, name
        assert services[name]["image"] == "attitude-screening:latest"
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    environment = services["api"]["environment"]
    assert environment["SCREENING_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["SCREENING_REDIS_URL"] == "redis://redis:6379/0"
    secrets = [environment["SCREENING_SESSION_SECRET"], services["postgres"]["environment"]["POSTGRES_PASSWORD"]]
    assert all(re.fullmatch(r"\$\{\w+:\?[^}]+\}", value) for value in secrets), "secrets only from the environment"
    assert services["api"]["ports"] == ["127.0.0.1:${SCREENING_PUBLISH_PORT:-8000}:8000"]
    mounts = {volume.split(":")[0] for service in services.values() for volume in service.get("volumes", [])}
    assert mounts == set(stack["volumes"]) == {"postgres-data", "redis-data"}


def test_the_dockerfile_builds_a_lean_offline_non_root_image() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", dockerfile, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = dockerfile.split("AS runtime", 1)[1]
    for setting in ("SCREENING_ENCODER_BACKEND=onnx", "HF_HUB_OFFLINE=1", "SCREENING_HOST=0.0.0.0"):
        assert setting in runtime, setting
    assert re.search(r"^USER screening:screening$", runtime, flags=re.MULTILINE), "runs as a non-root user"
    assert 'CMD ["screening-entrypoint", "healthcheck"]' in runtime
    build = dockerfile.split("AS runtime", 1)[0]
    assert "RUN screening model build" in build and "docker/warm_cache.py" in build, "model baked in at build time"
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, flags=re.MULTILINE):
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "*.sqlite3"} <= set(ignored)
