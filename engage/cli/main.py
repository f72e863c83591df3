"""The ``engage`` command.

::

    engage serve [--host H] [--port P] [--config PATH] [--worker | --no-worker]
    engage migrate [--config PATH]
    engage worker [--concurrency N] [--config PATH]
    engage demo [--config PATH]
    engage mail list|retry|test|status ...
    engage bounces [--host H] [--port P] [--config PATH]
    engage user create --email E --role R [--embassy CODE ...] [--password-stdin]
    engage user list
    engage token create --email E [--name N]
    engage import alumni FILE.csv [--dry-run]
    engage makemigrations [--check] [--name NAME]

A bad setting or event kind file, pending migrations on PostgreSQL or a second
sender on SQLite stop the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from engage.cli import bounces, commands, imports, mail_status, users
from engage.db import PendingMigrations
from engage.events.kinds import KindError
from engage.mail.models import Status
from engage.settings import SettingsError
from engage.worker.lock import SenderLockHeld

EXIT_USAGE = 2


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="settings file (default: ./settings.toml if present, else built-in defaults)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engage",
        description="Engage: keep the graduates of an officer training programme connected "
        "with the embassies of the host country.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the web app (and, on SQLite, the mail worker)")
    serve.add_argument("--host", help="address to listen on (default: server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    serve.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send mail from this process (default: yes on SQLite, no on PostgreSQL)",
    )
    _config_option(serve)
    serve.set_defaults(func=commands.serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    _config_option(migrate)
    migrate.set_defaults(func=commands.migrate)

    worker = sub.add_parser("worker", help="run a mail worker (deployments on PostgreSQL)")
    worker.add_argument(
        "--concurrency", type=int, metavar="N", help="parallel SMTP connections (smtp.concurrency)"
    )
    _config_option(worker)
    worker.set_defaults(func=commands.worker)

    demo = sub.add_parser("demo", help="fill the database with realistic demo data")
    _config_option(demo)
    demo.set_defaults(func=commands.demo)

    mail = sub.add_parser("mail", help="look at and act on the mail queue")
    mail_sub = mail.add_subparsers(dest="mail_command", metavar="ACTION", required=True)
    listing = mail_sub.add_parser("list", help="list outbox messages, newest first")
    listing.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in Status],
        help="only these statuses (repeatable; default: all)",
    )
    listing.add_argument("--limit", type=int, default=50)
    _config_option(listing)
    listing.set_defaults(func=commands.mail_list)
    retry = mail_sub.add_parser("retry", help="send failed or dead messages again")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", type=int, help="the outbox message id")
    target.add_argument("--all", action="store_true", help="every failed and dead message")
    _config_option(retry)
    retry.set_defaults(func=commands.mail_retry)
    test = mail_sub.add_parser("test", help="queue a test message to ADDRESS")
    test.add_argument("address")
    _config_option(test)
    test.set_defaults(func=commands.mail_test)
    status = mail_sub.add_parser(
        "status", help="messages by status, suppressed addresses and campaigns with their rate"
    )
    status.add_argument("--limit", type=int, default=25, help="campaigns shown (latest first)")
    _config_option(status)
    status.set_defaults(func=mail_status.mail_status)

    users.add_commands(sub, _config_option)
    imports.add_commands(sub, _config_option)
    bounces.add_commands(sub, _config_option)

    make = sub.add_parser("makemigrations", help="(developers) write a migration for model changes")
    make.add_argument("--name", help="name of the new migration")
    make.add_argument(
        "--check", action="store_true", help="exit 1 if the models need a migration; write nothing"
    )
    _config_option(make)
    make.set_defaults(func=commands.makemigrations)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], Coroutine[Any, Any, int] | int] = args.func
    try:
        result = func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
    except (SettingsError, KindError, PendingMigrations, SenderLockHeld) as exc:
        print(f"engage: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(int(result or 0))
