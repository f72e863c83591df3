"""``engage user create|list`` and ``engage token create``.

::

    engage user create --email a@x.org --role attache --embassy NBO   # invitation queued
    printf '%s\\n' "$PASSWORD" | engage user create --email b@x.org --role admin --password-stdin
    engage user list
    engage token create --email a@x.org --name "reporting script"    # prints the token once

Bad input ends with one line on stderr: exit status 2 for a malformed command
(unknown role, empty password), 1 when the request cannot be done (address taken,
weak password, unknown embassy or account).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tortoise.context import TortoiseContext

from engage import db
from engage.accounts.api_tokens import create_api_token
from engage.accounts.invitations import invite_user, list_users
from engage.accounts.models import Role
from engage.accounts.users import create_user, find_user
from engage.clock import utcnow
from engage.errors import EngageError
from engage.logs import configure_logging
from engage.settings import Settings, load_settings

EXIT_FAILED = 1
EXIT_USAGE = 2


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings)
    return settings


def _fail(message: str, status: int = EXIT_FAILED) -> int:
    print(f"engage: {message}", file=sys.stderr)
    return status


async def _ready(ctx: TortoiseContext, settings: Settings) -> None:
    # SQLite is brought up to date by whoever opens it first (as `engage serve`
    # does); on PostgreSQL migrating is a deliberate step: `engage migrate`.
    if settings.database.is_sqlite:
        await db.apply_migrations(ctx)
    elif pending := await db.pending_migrations(ctx):
        raise db.PendingMigrations(pending)


def _read_password() -> str:
    # One line; surrounding spaces are dropped, as on the sign-in form.
    return sys.stdin.readline().strip()


async def user_create(args: argparse.Namespace) -> int:
    roles = [r.value for r in Role]
    if args.role not in roles:
        return _fail(f"unknown role {args.role!r} (one of: {', '.join(roles)})", EXIT_USAGE)
    password = None
    if args.password_stdin:
        password = _read_password()
        if not password:
            return _fail("no password on standard input", EXIT_USAGE)
    settings = _settings(args)
    embassies = list(args.embassy or [])
    async with db.database(settings) as ctx:
        await _ready(ctx, settings)
        try:
            if password is None:
                user = await invite_user(
                    args.email,
                    role=args.role,
                    embassy_codes=embassies,
                    actor=None,
                    now=utcnow(),
                    settings=settings,
                )
            else:
                user = await create_user(
                    args.email,
                    role=Role(args.role),
                    password=password,
                    security=settings.security,
                    embassy_codes=embassies,
                    verified=True,
                )
        except EngageError as exc:
            return _fail(_one_line(exc))
    how = "with the given password" if password else "invitation email queued"
    print(f"created {user.role} {user.email} (id {user.id}); {how}", flush=True)
    return 0


async def user_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    async with db.database(settings) as ctx:
        await _ready(ctx, settings)
        listing = await list_users(actor=None, per_page=1_000_000)
    if not listing.rows:
        print("no users", flush=True)
        return 0
    print(f"{'id':>6}  {'email':<36} {'role':<8} {'state':<11} {'embassies':<14} last login")
    for row in listing.rows:
        user = row.user
        if not user.is_active:
            state = "inactive"
        elif row.pending:
            state = "invited"
        elif user.email_verified_at is None:
            state = "unverified"
        else:
            state = "active"
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        print(
            f"{user.id:>6}  {user.email:<36} {user.role:<8} {state:<11} "
            f"{','.join(row.embassies) or '-':<14} {last}",
            flush=True,
        )
    return 0


async def token_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    async with db.database(settings) as ctx:
        await _ready(ctx, settings)
        user = await find_user(args.email)
        if user is None or not user.is_active:
            return _fail(f"no active account with the address {args.email}")
        try:
            raw, _token = await create_api_token(user, name=args.name)
        except EngageError as exc:
            return _fail(_one_line(exc))
    print(raw, flush=True)
    return 0


def _one_line(exc: EngageError) -> str:
    details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items() if v != exc.message)
    text = f"{exc.message} ({details})" if details else exc.message
    return " ".join(text.split())


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_config: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``user`` and ``token`` to the ``engage`` command's sub-commands."""
    user = sub.add_parser("user", help="create and list accounts")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    create = user_sub.add_parser(
        "create",
        help="create an account: invited by email, or with a password read from stdin",
    )
    create.add_argument("--email", required=True, help="the account's email address")
    create.add_argument(
        "--role", required=True, metavar="ROLE", help="alumnus, attache, staff or admin"
    )
    create.add_argument(
        "--embassy",
        action="append",
        metavar="CODE",
        help="an embassy an attaché works for (repeatable)",
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (the address counts as "
        "confirmed); without it an invitation email is queued",
    )
    add_config(create)
    create.set_defaults(func=user_create)
    listing = user_sub.add_parser("list", help="list every account")
    add_config(listing)
    listing.set_defaults(func=user_list)

    token = sub.add_parser("token", help="personal API tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    token_new = token_sub.add_parser("create", help="create an API token and print it once")
    token_new.add_argument("--email", required=True, help="the account the token acts as")
    token_new.add_argument("--name", default="command line", help="what the token is for")
    add_config(token_new)
    token_new.set_defaults(func=token_create)
