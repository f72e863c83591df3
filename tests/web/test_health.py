from __future__ import annotations

from engage.mail import outbox
from engage.mail.models import Category


async def test_healthz_reports_database_and_queue(client, db):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["mail"] == {"oldest_due_age_seconds": 0.0, "due": 0, "failed": 0, "dead": 0}


async def test_healthz_counts_due_messages(client, db):
    await outbox.enqueue(
        "test_message", to="a@example.org", category=Category.TRANSACTIONAL, dedupe_key="k1"
    )
    body = (await client.get("/healthz")).json()
    assert body["mail"]["due"] == 1
    assert body["mail"]["oldest_due_age_seconds"] >= 0


async def test_healthz_is_503_when_the_database_is_gone(client, app, settings, monkeypatch):
    from tortoise import connections
    from tortoise.exceptions import OperationalError

    conn = connections.get("default")
    if settings.database.is_sqlite:
        # A SQLite file cannot be "unreachable"; fail its queries at the driver edge.
        async def broken(*args, **kwargs):
            raise OperationalError("disk I/O error")

        for method in ("execute_query", "execute_query_dict"):
            monkeypatch.setattr(conn, method, broken)
    else:
        # Drop the pool and point it at a port where nothing listens.
        await conn.close()
        conn.port = 1
        conn._template["port"] = 1
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
