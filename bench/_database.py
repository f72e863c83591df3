"""A fresh, empty database for one benchmark: a SQLite file or a scratch PostgreSQL db.

::

    with scratch_database("postgres", tmp) as url:   # created now, dropped on exit
        ...

PostgreSQL comes from ``ENGAGE_BENCH_POSTGRES_URL`` (default
``postgres://engage:engage@127.0.0.1:5432/postgres``): a role allowed to create
databases. The scratch database is created from it and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_POSTGRES_URL = "postgres://engage:engage@127.0.0.1:5432/postgres"
KINDS = ("sqlite", "postgres")
#: A secret for settings outside the embedded default (never used for real mail).
BENCH_SECRET = "engage-benchmark-secret-key-0123456789-abcdefghij"


def postgres_admin_url() -> str:
    return os.environ.get("ENGAGE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


async def _admin(*statements: str) -> None:
    import asyncpg

    url = postgres_admin_url().replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(kind: str, workdir: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database of ``kind`` ("sqlite" or "postgres")."""
    if kind == "sqlite":
        yield f"sqlite://{workdir / 'engage.sqlite3'}"
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r} (one of {', '.join(KINDS)})")
    name = f"engage_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(postgres_admin_url(), name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
