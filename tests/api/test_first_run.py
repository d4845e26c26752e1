"""First run on a fresh machine: ``screening serve`` on an empty folder, ``screening init`` and its one key.

Real processes (the ``screening`` command line, uvicorn, the real model), real SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_support import screening_body
from conftest import in_thread, need_env
from sqlalchemy import text

from api.db.engine import create_engine

START_SECONDS = 300  # the model loads in the served process: slow on a busy 2-core machine


def _env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without ``SCREENING_*`` settings (the defaults apply), offline, with the test cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_") or k.startswith("SCREENING_TEST_")}
    return {**env, "HF_HUB_OFFLINE": "1", "SCREENING_CACHE_DIR": str(cache_dir), **extra}


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screening.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail("the server never became ready:\n" + log.read_text())


def _free_port() -> int:
    from browser_support import free_port

    return free_port()


def test_serve_on_an_empty_folder_becomes_ready_and_scores_with_the_key_init_created(tmp_path, cache_dir) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    env = _env(cache_dir)  # the embedded default: ./screening.sqlite3 in the working folder
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "screening.cli", "serve", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server, log)
        assert (folder / "screening.sqlite3").is_file(), "serve created the embedded database"
        assert "no hr_admin key exists yet: run `screening init`" in log.read_text()

        first = _cli(env, folder, "init")
        assert first.returncode == 0, first.stderr
        token = first.stdout.strip()
        assert token.startswith("scr_") and first.stdout.count("\n") == 1, "the token alone, on standard output"
        assert token not in first.stderr and "shown only this once" in first.stderr
        again = _cli(env, folder, "init")
        assert again.returncode == 0 and again.stdout == "", "a second run shows no key"
        assert "already exists" in again.stderr and token not in again.stderr

        admin = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/v1/keys", json={"role": "integration", "name": "ats"}, headers=admin)
        assert created.status_code == 201, created.text
        ats = {"Authorization": f"Bearer {created.json()['token']}", "Idempotency-Key": "first-run-1"}
        scored = httpx.post(f"{base}/v1/screenings", json=screening_body(1), headers=ats, timeout=120)
        assert scored.status_code == 201, scored.text
        assert scored.json()["report"]["overall"]["score"] is not None
        read = httpx.get(f"{base}/v1/screenings/{scored.json()['id']}", headers=admin)
        assert read.status_code == 200 and read.json()["id"] == scored.json()["id"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert token not in log.read_text(), "the key never reaches the service's log"


def test_two_inits_at_once_create_one_key(tmp_path, cache_dir) -> None:
    env = _env(cache_dir, SCREENING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'screening.sqlite3'}")
    # the folder does not exist yet: both create it and migrate, one after the other (SQLite's write lock)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "screening.cli", "init", "--org", "acme"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(*run.communicate(timeout=180), run.returncode) for run in runs]
    assert [code for _, _, code in results] == [0, 0], results
    tokens = [out.strip() for out, _, _ in results if out.strip()]
    assert len(tokens) == 1 and tokens[0].startswith("scr_"), results
    listing = _cli(env, tmp_path, "keys", "list")
    assert listing.stdout.count("\thr_admin\t") == 1 and "\tacme\t" in listing.stdout


async def _empty_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def _table_names(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


def test_postgres_is_never_migrated_implicitly(tmp_path, cache_dir) -> None:
    url = need_env("SCREENING_TEST_POSTGRES_URL")
    in_thread(lambda: asyncio.run(_empty_schema(url)))
    env = _env(cache_dir, SCREENING_DATABASE_URL=url)
    for command in (["serve", "--port", str(_free_port())], ["init"]):
        refused = _cli(env, tmp_path, *command)
        assert refused.returncode == 2, (command, refused.stderr)
        assert "is not migrated" in refused.stderr and "screening db migrate" in refused.stderr
        assert refused.stdout == ""
    assert in_thread(lambda: asyncio.run(_table_names(url))) == [], "nothing was created"
    assert _cli(env, tmp_path, "db", "migrate").returncode == 0
    created = _cli(env, tmp_path, "init")
    assert created.returncode == 0 and created.stdout.startswith("scr_"), created.stderr
    assert _cli(env, tmp_path, "init").stdout == ""


def test_serve_refuses_an_embedded_database_it_cannot_migrate(tmp_path, cache_dir) -> None:
    database = tmp_path / "screening.sqlite3"
    env = _env(cache_dir, SCREENING_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    assert _cli(env, tmp_path, "db", "migrate").returncode == 0
    with sqlite3.connect(database) as connection:  # as a newer release would leave it
        connection.execute("UPDATE alembic_version SET version_num = '9999_newer'")
    refused = _cli(env, tmp_path, "serve", "--port", str(_free_port()))
    assert refused.returncode == 2, refused.stderr
    assert "cannot be migrated by this release" in refused.stderr and "9999_newer" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_init_refuses_an_organisation_or_name_the_database_cannot_hold(tmp_path, cache_dir) -> None:
    env = _env(cache_dir, SCREENING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'screening.sqlite3'}")
    for args, named in ((["--org", ""], "--org"), (["--org", "a" * 65], "--org"), (["--name", "n" * 201], "--name")):
        refused = _cli(env, tmp_path, "init", *args)
        assert refused.returncode == 2 and f"argument {named}" in refused.stderr and refused.stdout == ""
    assert not (tmp_path / "screening.sqlite3").exists(), "nothing was created"
