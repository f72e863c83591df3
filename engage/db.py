"""The database: Tortoise configuration, connection lifetime and migrations.

One Tortoise app (``engage``) gathers the models of every domain; its migrations
live in ``engage/migrations`` and serve SQLite and PostgreSQL alike.

Usage::

    async with database(settings) as ctx:     # opens, and closes on exit
        await apply_migrations(ctx)
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor

from engage.settings import Settings

APP_LABEL = "engage"
#: Every module that declares models. A new domain adds its ``models`` here.
MODEL_MODULES = [
    "engage.mail.models",
    "engage.places.models",
    "engage.accounts.models",
    "engage.alumni.models",
    "engage.events.models",
    "engage.invitations.models",
    "engage.newsletters.models",
]
MIGRATIONS_MODULE = "engage.migrations"


class PendingMigrations(Exception):
    """The database is behind the code; ``engage migrate`` brings it up to date."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(
            f"{len(names)} pending migration(s) ({', '.join(names)}): run `engage migrate` first"
        )


def connection_config(settings: Settings) -> dict[str, Any]:
    db = settings.database
    parts = urlsplit(db.url)
    if db.is_sqlite:
        path = Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": str(path),
                "journal_mode": "WAL",
                "busy_timeout": db.busy_timeout_ms,
                "synchronous": "NORMAL",
                "foreign_keys": "ON",
            },
        }
    return {
        "engine": "tortoise.backends.asyncpg",
        "credentials": {
            "host": parts.hostname,
            "port": parts.port or 5432,
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/"),
            "minsize": db.pool_min,
            "maxsize": db.pool_max,
        },
    }


def apps_config() -> dict[str, dict[str, Any]]:
    return {
        APP_LABEL: {
            "models": list(MODEL_MODULES),
            "migrations": MIGRATIONS_MODULE,
            "default_connection": "default",
        }
    }


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": apps_config(),
        "use_tz": True,
        "timezone": "UTC",
    }


@contextlib.asynccontextmanager
async def database(
    settings: Settings, *, process_wide: bool = False
) -> AsyncIterator[TortoiseContext]:
    """Open the database for the duration of the block (the context is active in it).

    ``process_wide`` also makes it the fallback for other tasks (a web server handles
    requests in tasks that do not inherit the lifespan's context).
    """
    # Tortoise caches each model's INSERT statement per connection *name*, not per
    # dialect: a process that opened SQLite and then PostgreSQL (the test suite) would
    # reuse "?" placeholders on PostgreSQL. Start each database with a clean cache.
    EXECUTOR_CACHE.clear()
    ctx = TortoiseContext()
    async with ctx:
        await ctx.init(config=tortoise_config(settings), _enable_global_fallback=process_wide)
        yield ctx


def _executor(ctx: TortoiseContext) -> MigrationExecutor:
    return MigrationExecutor(ctx.db("default"), apps_config())


async def pending_migrations(ctx: TortoiseContext) -> list[str]:
    """Names of the migrations not yet applied, in the order they would run."""
    steps = await _executor(ctx).plan()
    return [step.migration.name for step in steps if not step.backward]


async def apply_migrations(
    ctx: TortoiseContext, *, progress: Callable[[str], object] | None = None
) -> list[str]:
    """Apply every pending migration; returns their names."""
    pending = await pending_migrations(ctx)

    def _report(event: str, app_label: str, name: str) -> None:
        if progress is not None and event == "apply_done":
            progress(f"{app_label}.{name}")

    if pending:
        await _executor(ctx).migrate(progress=_report)
    return pending


async def ping(ctx: TortoiseContext) -> None:
    """Raise if the database does not answer a trivial query."""
    await ctx.db("default").execute_query("SELECT 1")


async def make_migrations(
    ctx: TortoiseContext, *, write: bool, name: str | None = None
) -> list[str]:
    """Compare the models with the migrations; write new migration files if asked.

    Returns the names of the migrations that the model changes call for (empty when
    the committed migrations match the models).
    """
    from tortoise.migrations.autodetector import MigrationAutodetector
    from tortoise.migrations.writer import format_migration_name

    assert ctx.apps is not None
    detector = MigrationAutodetector(ctx.apps, apps_config())
    writers = await detector.changes()
    names = []
    for writer in writers:
        if name:
            number = int(writer.name.split("_", 1)[0])
            writer.name = format_migration_name(number, name)
        if write:
            writer.write()
        names.append(writer.name)
    return names
