"""What each ``engage`` command does (argument parsing lives in ``main``)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from engage import db
from engage.alumni.names import ensure_search_tokens
from engage.events.kinds import install_kinds
from engage.logs import configure_logging
from engage.mail import outbox
from engage.mail.models import Category, Status
from engage.places.seed import seed_countries
from engage.settings import Settings, SettingsError, load_settings, with_secret_key
from engage.worker.lock import sender_lock


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings)
    return settings


def _say(text: str) -> None:
    print(text, flush=True)


async def _prepare_database(settings: Settings, *, apply: bool) -> None:
    async with db.database(settings) as ctx:
        if apply:
            await db.apply_migrations(ctx, progress=lambda n: _say(f"applied {n}"))
        elif pending := await db.pending_migrations(ctx):
            raise db.PendingMigrations(pending)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engage.app import create_app

    settings = with_secret_key(_settings(args))
    install_kinds(settings)  # a bad kind file stops start-up here, with one line
    # On SQLite (one process) serve brings the schema up to date itself; on
    # PostgreSQL migrations are a deliberate step: `engage migrate`.
    asyncio.run(_prepare_database(settings, apply=settings.database.is_sqlite))
    run_worker = settings.database.is_sqlite if args.worker is None else args.worker
    if (lock := sender_lock(settings)) is not None:
        # Fail here with one line, not later inside uvicorn's start-up.
        lock.acquire()
        lock.release()
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    app = create_app(settings, run_worker=run_worker)
    _say(f"Engage is running at http://{host}:{port} (Ctrl+C to stop)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=20,
    )
    return 0


async def migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    async with db.database(settings) as ctx:
        applied = await db.apply_migrations(ctx, progress=lambda n: _say(f"applied {n}"))
        added = await seed_countries()
        indexed = await ensure_search_tokens()
    _say(f"{len(applied)} migration(s) applied" if applied else "database is up to date")
    if indexed:
        _say(f"{indexed} profiles indexed for name search")
    if added:
        _say(f"{added} countries added")
    return 0


async def makemigrations(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, overrides={"database": {"url": "sqlite://:memory:"}})
    async with db.database(settings) as ctx:
        names = await db.make_migrations(ctx, write=not args.check, name=args.name)
    if not names:
        _say("no changes: the migrations match the models")
        return 0
    if args.check:
        _say(f"models changed without a migration: {', '.join(names)}")
        return 1
    for name in names:
        _say(f"created engage/migrations/{name}.py")
    return 0


async def worker(args: argparse.Namespace) -> int:
    from engage.worker.service import mail_service

    settings = with_secret_key(_settings(args))
    if settings.smtp.is_embedded:
        raise SettingsError(
            'smtp.host: "embedded" mail is sent by `engage serve`; '
            "set smtp.host to a relay to run separate workers"
        )
    install_kinds(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with db.database(settings, process_wide=True) as ctx:
        if pending := await db.pending_migrations(ctx):
            raise db.PendingMigrations(pending)
        async with mail_service(settings, run_worker=True, concurrency=args.concurrency):
            _say("worker running (SIGTERM to stop)")
            await stop.wait()
            _say("stopping: finishing messages in flight")
    return 0


async def demo(args: argparse.Namespace) -> int:
    from engage.cli.demo import load_demo

    settings = _settings(args)
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        await seed_countries()
        summary = await load_demo(settings)
    for line in summary:
        _say(line)
    return 0


async def mail_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    statuses = [Status(s) for s in args.status] if args.status else None
    async with db.database(settings):
        rows = await outbox.list_messages(statuses=statuses, limit=args.limit)
    if not rows:
        _say("no messages")
        return 0
    _say(f"{'id':>7}  {'status':<9} {'tries':>5}  {'template':<16} {'to':<32} last error")
    for row in rows:
        error = (row.last_error or "").replace("\n", " ")[:60]
        _say(
            f"{row.id:>7}  {row.status:<9} {row.attempts:>5}  {row.template:<16} "
            f"{row.to_address:<32} {error}"
        )
    return 0


async def mail_retry(args: argparse.Namespace) -> int:
    settings = _settings(args)
    async with db.database(settings):
        if args.all:
            count = await outbox.retry_all()
            _say(f"{count} message(s) queued again")
        else:
            try:
                row = await outbox.retry_message(args.id)
            except Exception as exc:  # NotFound / InvalidInput: say it in one line
                print(f"engage: {exc}", file=sys.stderr)
                return 1
            _say(f"message {row.id} queued again")
    return 0


async def mail_test(args: argparse.Namespace) -> int:
    from engage.clock import utcnow

    settings = _settings(args)
    async with db.database(settings):
        result = await outbox.enqueue(
            "test_message",
            to=args.address,
            category=Category.TRANSACTIONAL,
            dedupe_key=f"test:{args.address}:{utcnow().isoformat()}",
        )
    _say(f"queued test message {result.message.id} to {args.address}")
    return 0
