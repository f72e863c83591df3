"""Shared fixtures: real databases (SQLite and PostgreSQL), the app with its lifespan,
an HTTP client, and a real SMTP server that can be scripted to misbehave.

Every test that takes ``db_url`` (directly or through ``settings``, ``db``, ``app``,
``client``) runs twice: on SQLite and on PostgreSQL. PostgreSQL comes from
``ENGAGE_TEST_POSTGRES_URL`` (default ``postgres://engage:engage@127.0.0.1:5432/postgres``,
a role allowed to create databases). Where it is not reachable those tests skip,
saying why; under CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from engage import db as engage_db
from engage.settings import Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "ENGAGE_TEST_POSTGRES_URL", "postgres://engage:engage@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-for-engage-tests-0123456789"


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail when running under CI where nothing may skip."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


# --- PostgreSQL ---------------------------------------------------------------------


def _run_async(coro: Any) -> Any:
    """Run ``coro`` on a fresh loop in a thread (fixtures may be inside a running loop)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


_pg_state: dict[str, Any] = {}


def _postgres_template() -> str:
    """A database with every migration applied, copied for each test (fast)."""
    if "error" in _pg_state:
        unavailable(_pg_state["error"])
    if "template" not in _pg_state:
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            _pg_state["error"] = "asyncpg is not installed (pip install '.[test]')"
            unavailable(_pg_state["error"])
        name = f"engage_tpl_{os.getpid()}"
        try:
            _run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            _pg_state["error"] = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
            unavailable(_pg_state["error"])
        _run_async(_migrate(_with_database(POSTGRES_URL, name)))
        _pg_state["template"] = name
    return _pg_state["template"]


async def _migrate(url: str) -> None:
    settings = make_settings(url, Path("/nonexistent-var"))
    async with engage_db.database(settings) as ctx:
        await engage_db.apply_migrations(ctx)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "template" in _pg_state:
        with contextlib.suppress(Exception):  # best-effort clean-up
            _run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{_pg_state["template"]}"'))


_counter = itertools.count()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test."""
    template = _postgres_template()
    name = f"engage_t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    _run_async(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _with_database(POSTGRES_URL, name)
    _run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- SQLite -------------------------------------------------------------------------

_sqlite_template: dict[str, Path] = {}


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database file for this test."""
    if "path" not in _sqlite_template:
        folder = tmp_path_factory.mktemp("sqlite-template")
        path = folder / "template.sqlite3"
        _run_async(_migrate(f"sqlite://{path}"))
        _sqlite_template["path"] = path
    target = tmp_path / "engage.sqlite3"
    shutil.copy(_sqlite_template["path"], target)
    return f"sqlite://{target}"


# --- Settings, database, app --------------------------------------------------------


def make_settings(url: str, var_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Test settings: no settings file, no environment, quick polling."""
    overrides: dict[str, dict[str, Any]] = {
        "app": {"var_dir": str(var_dir), "secret_key": TEST_SECRET, "log_format": "text"},
        "database": {"url": url},
        "mail": {"poll_seconds": 0.05},
        # Cheap hashes: the cost is a setting; tests need speed, not strength.
        "security": {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1},
    }
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return load_settings(environ={}, overrides=overrides, read_file=False)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "var")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Any]:
    async with engage_db.database(settings) as ctx:
        yield ctx


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The app with its lifespan running (httpx's ASGI transport does not run it)."""
    from engage.app import create_app

    application = create_app(settings, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


# --- A real SMTP server, and factories ---------------------------------------------

pytest_plugins = ["tests.smtp_server", "tests.factories", "tests.mail_fixtures"]
