"""The committed migrations build, on SQLite and PostgreSQL, exactly the schema the
models describe; `serve` refuses a PostgreSQL database that is behind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from engage import db as engage_db
from tests.conftest import (
    POSTGRES_URL,
    TEST_SECRET,
    _pg_admin,
    _postgres_template,
    _run_async,
    _with_database,
    make_settings,
)

IGNORED_TABLES = {"tortoise_migrations"}


async def _schema(ctx) -> dict:
    conn = ctx.db("default")
    if conn.capabilities.dialect == "sqlite":
        _, tables = await conn.execute_query(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
        schema = {}
        for (table,) in [tuple(t) for t in tables]:
            if table in IGNORED_TABLES:
                continue
            _, cols = await conn.execute_query(f'PRAGMA table_info("{table}")')
            columns = {c["name"]: (c["type"].upper(), bool(c["notnull"]), c["pk"]) for c in cols}
            _, idx = await conn.execute_query(f'PRAGMA index_list("{table}")')
            indexes = set()
            for index in idx:
                _, info = await conn.execute_query(f'PRAGMA index_info("{index["name"]}")')
                indexes.add((bool(index["unique"]), tuple(i["name"] for i in info)))
            schema[table] = {"columns": columns, "indexes": indexes}
        return schema
    _, cols = await conn.execute_query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public'"
    )
    schema: dict = {}
    for c in cols:
        if c["table_name"] in IGNORED_TABLES:
            continue
        table = schema.setdefault(c["table_name"], {"columns": {}, "indexes": set()})
        table["columns"][c["column_name"]] = (c["data_type"], c["is_nullable"] == "NO")
    _, idx = await conn.execute_query(
        "SELECT t.relname AS tbl, ix.indisunique AS uniq, "
        "array_agg(a.attname ORDER BY array_position(ix.indkey, a.attnum)) AS cols "
        "FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) "
        "WHERE n.nspname = 'public' GROUP BY t.relname, ix.indexrelid, ix.indisunique"
    )
    for i in idx:
        if i["tbl"] in IGNORED_TABLES:
            continue
        schema[i["tbl"]]["indexes"].add((i["uniq"], tuple(i["cols"])))
    return schema


async def test_committed_migrations_match_the_models(tmp_path):
    settings = make_settings("sqlite://:memory:", tmp_path / "var")
    async with engage_db.database(settings) as ctx:
        assert await engage_db.make_migrations(ctx, write=False) == []


async def test_migrated_schema_equals_the_models_schema(db, settings, tmp_path):
    migrated = await _schema(db)
    assert "mail_outbox" in migrated
    outbox_indexes = migrated["mail_outbox"]["indexes"]
    assert (False, ("status", "next_attempt_at")) in outbox_indexes
    assert (True, ("dedupe_key",)) in outbox_indexes
    # A second, empty database whose schema Tortoise generates straight from the models.
    if settings.database.is_sqlite:
        fresh_url = f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        drop = None
    else:
        name = f"engage_fresh_{uuid.uuid4().hex[:8]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        fresh_url = _with_database(POSTGRES_URL, name)
        drop = name
    try:
        async with engage_db.database(make_settings(fresh_url, tmp_path / "v2")) as fresh:
            await fresh.generate_schemas(safe=False)
            generated = await _schema(fresh)
    finally:
        if drop:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
    assert migrated == generated


async def test_pending_migrations_are_listed_then_applied(tmp_path):
    settings = make_settings(f"sqlite://{tmp_path / 'new.sqlite3'}", tmp_path / "var")
    async with engage_db.database(settings) as ctx:
        pending = await engage_db.pending_migrations(ctx)
        assert pending and pending[0] == "0001_initial"
        assert await engage_db.apply_migrations(ctx) == pending
        assert await engage_db.pending_migrations(ctx) == []
        assert await engage_db.apply_migrations(ctx) == []


def _engage(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_postgres_serve_refuses_pending_migrations_until_migrate(tmp_path):
    _postgres_template()  # skips (or fails under CI) when PostgreSQL is not there
    name = f"engage_empty_{uuid.uuid4().hex[:8]}"
    _run_async(_pg_admin(f'CREATE DATABASE "{name}"'))
    env = {
        "ENGAGE_DATABASE__URL": _with_database(POSTGRES_URL, name),
        "ENGAGE_APP__SECRET_KEY": TEST_SECRET,
        "ENGAGE_APP__VAR_DIR": str(tmp_path / "var"),
    }
    try:
        refused = _engage(["serve", "--port", "1"], env, tmp_path)
        assert refused.returncode == 2
        assert "pending migration" in refused.stderr
        assert "engage migrate" in refused.stderr
        migrated = _engage(["migrate"], env, tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        assert "applied engage.0001_initial" in migrated.stdout
        again = _engage(["migrate"], env, tmp_path)
        assert "database is up to date" in again.stdout
    finally:
        _run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
