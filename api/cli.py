"""``screening serve``, ``screening init``, ``screening worker``, ``screening db migrate`` and ``screening keys create|list|revoke``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, get_args

from api.schemas import Role

if TYPE_CHECKING:
    from api.db.models import ApiKey
    from api.settings import Settings

# ``register`` runs for every ``screening`` command, so this module imports only what the parser
# needs; uvicorn, Litestar, SQLAlchemy and the database code are imported by the handlers that use them.

__all__ = ["register"]


def _settings() -> Settings:
    from api.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _prepare_database(settings: Settings) -> None:
    """Create and migrate the embedded database; refuse (exit 2) another that is not migrated."""
    from api.db.engine import NotMigrated
    from api.first_run import is_embedded_database, prepare_database

    try:
        prepare_database(settings)
    except NotMigrated as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if is_embedded_database(settings.database_url):
        print(f"embedded database ready at the newest schema: {settings.database_url}", file=sys.stderr)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: F401  (the api extra is installed: checked here, used by the process exec'd below)

    from api.serve import exec_server
    from api.settings import Settings, SettingsError

    overrides: dict[str, Any] = {k: v for k in ("host", "port", "workers") if (v := getattr(args, k)) is not None}
    try:
        settings = Settings.from_env(**overrides)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1 and settings.session_secret is None:
        print(
            "error: SCREENING_SESSION_SECRET must be set with several workers (each would sign review-page "
            "sessions with its own secret)",
            file=sys.stderr,
        )
        return 2
    _prepare_database(settings)
    _hint_without_admin_key(settings)
    os.environ.update({f"SCREENING_{k.upper()}": str(v) for k, v in overrides.items()})
    exec_server()  # a fresh process: on an ONNX backend it never imports torch
    return 0


def _hint_without_admin_key(settings: Settings) -> None:
    import asyncio

    from api.first_run import has_admin_key

    if not asyncio.run(has_admin_key(settings)):
        print(
            "no hr_admin key exists yet: run `screening init` (with the same SCREENING_DATABASE_URL) to create "
            "the first one; it is shown once, on that command's output",
            file=sys.stderr,
        )


def _cmd_init(args: argparse.Namespace) -> int:
    from api.first_run import create_first_admin

    settings = _settings()
    _prepare_database(settings)
    created = _run(create_first_admin(settings, args.org, args.name))
    if created.token is None:
        print(
            f"an hr_admin key already exists ({', '.join(created.existing)}); no key was created and none is shown. "
            "Create more with `screening keys create` or POST /v1/keys.",
            file=sys.stderr,
        )
        return 0
    print(
        f"created the first hr_admin key {created.key_id} for organisation {args.org!r}. The token below is shown "
        "only this once and is not stored: keep it in a password manager. Sign in to /ui/sign-in with it, or "
        "create integration keys with POST /v1/keys.",
        file=sys.stderr,
    )
    print(created.token)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from api.worker import run_worker

    settings = _settings()
    _prepare_database(settings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run_worker(settings, args.concurrency or settings.worker_concurrency))


def _cmd_migrate(_: argparse.Namespace) -> int:
    from api.db.engine import migrate

    settings = _settings()
    migrate(settings.database_url)
    print(f"database migrated to the newest schema: {settings.database_url.split('@')[-1]}")
    return 0


async def _create_key(settings: Settings, org: str, role: str, name: str) -> tuple[str, str]:
    from api.db import repo
    from api.db.engine import check_migrated, create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        await check_migrated(engine)
        async with session_factory(engine)() as session, session.begin():
            key, token = await repo.create_key(session, org, role, name)
        return key.id, token
    finally:
        await engine.dispose()


async def _list_keys(settings: Settings, org: str | None) -> list[ApiKey]:
    from api.db import repo
    from api.db.engine import check_migrated, create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        await check_migrated(engine)
        async with session_factory(engine)() as session:
            return list(await repo.list_keys(session, org))
    finally:
        await engine.dispose()


async def _revoke_key(settings: Settings, key_id: str) -> bool:
    from api.db import repo
    from api.db.engine import check_migrated, create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        await check_migrated(engine)
        async with session_factory(engine)() as session, session.begin():
            return await repo.revoke_key(session, key_id) is not None
    finally:
        await engine.dispose()


def _run(coro: Any) -> Any:
    import asyncio

    from api.db.engine import NotMigrated

    try:
        return asyncio.run(coro)
    except NotMigrated as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _cmd_keys_create(args: argparse.Namespace) -> int:
    key_id, token = _run(_create_key(_settings(), args.org, args.role, args.name))
    print(
        f"created key {key_id} ({args.role}) for organisation {args.org!r}; the token is shown only once:",
        file=sys.stderr,
    )
    print(token)
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    for key in _run(_list_keys(_settings(), args.org)):
        state = f"revoked {key.revoked_at.isoformat()}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.org_id}\t{key.role}\t{state}\t{key.created_at.isoformat()}\t{key.name}")
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    if not _run(_revoke_key(_settings(), args.key_id)):
        print(f"error: no key {args.key_id!r}", file=sys.stderr)
        return 2
    print(f"revoked key {args.key_id}")
    return 0


def _org(value: str) -> str:
    if not 1 <= len(value) <= 64 or not value.isprintable():
        raise argparse.ArgumentTypeError("an organisation id is 1 to 64 printable characters")
    return value


def _key_name(value: str) -> str:
    if len(value) > 200 or not value.isprintable():
        raise argparse.ArgumentTypeError("a key name is at most 200 printable characters")
    return value


def register(commands: Any) -> None:
    """Add the service's subcommands to the ``screening`` parser."""
    serve = commands.add_parser("serve", help="run the HTTP API (settings from SCREENING_* variables)")
    serve.add_argument("--host", help="bind address (default $SCREENING_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $SCREENING_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default $SCREENING_WORKERS or 1)")
    serve.set_defaults(handler=_cmd_serve)

    init = commands.add_parser(
        "init", help="first run: make the database ready and create the first hr_admin key (shown once)"
    )
    init.add_argument("--org", default="default", type=_org, help="the organisation of the key (default: default)")
    init.add_argument("--name", default="first administrator", type=_key_name, help="a note: who holds the key")
    init.set_defaults(handler=_cmd_init)
    worker = commands.add_parser(
        "worker", help="run screening jobs: load the model once, take jobs from the database (and Redis, if set)"
    )
    worker.add_argument("--concurrency", type=int, help="batches at once (default $SCREENING_WORKER_CONCURRENCY or 2)")
    worker.set_defaults(handler=_cmd_worker)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("migrate", help="create or upgrade the schema at $SCREENING_DATABASE_URL").set_defaults(
        handler=_cmd_migrate
    )

    keys = commands.add_parser("keys", help="API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print its token once")
    create.add_argument("--org", required=True, help="the organisation (tenant) the key belongs to")
    create.add_argument("--role", required=True, choices=get_args(Role))
    create.add_argument("--name", default="", help="a note: who or what uses the key")
    create.set_defaults(handler=_cmd_keys_create)
    listing = key_commands.add_parser("list", help="list keys (never their tokens)")
    listing.add_argument("--org", help="only this organisation")
    listing.set_defaults(handler=_cmd_keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_cmd_keys_revoke)
