"""Bulk invitations (invite_ratio): ``invite`` of N alumni against a raw ``executemany``
of the same invitation and outbox rows.

Engage: a fresh, migrated database with the countries, an embassy accredited to
Kenya, a staff member, a published event and N eligible Kenyan alumni; then
``engage.invitations.services.invite`` as staff with the audience filter ``{}``
(everyone in scope): the job walks the audience in id order in chunks of ``chunk``,
each chunk one transaction that labels the people with their skip reasons (one SQL
``CASE``), checks them against ``bulk_eligible``, locks the event row, inserts the
invitations (``ON CONFLICT DO NOTHING``), reads their ids back and inserts their
outbox rows, then moves the checkpoint. Baseline: another fresh database with the
same people and event, and the same rows (invitations with ids given up front, and
their outbox rows with the same columns and context) written with two raw
``executemany`` calls in one transaction; the people are read before the clock
starts. ``invite_ratio`` is Engage's seconds over the baseline's (goal <= 3); the
runner's ratio is the rate ratio (its inverse). ``max_chunk_ms`` is the longest chunk
transaction: how long a request may wait behind the run on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _database import BENCH_SECRET, scratch_database
from _result import Result
from tortoise.transactions import in_transaction

from engage import db
from engage.accounts.actor import load_actor
from engage.accounts.models import Role, User
from engage.alumni.models import Alumnus
from engage.events.models import Event, EventStatus
from engage.invitations import jobs
from engage.invitations.models import Invitation
from engage.invitations.services import invite
from engage.mail.models import OutboxMessage
from engage.places.models import Accreditation, Embassy
from engage.places.seed import seed_countries
from engage.settings import Settings, load_settings

NAME = "invite_ratio"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {"alumni": 2_000, "chunk": 500, "rounds": 2},
    "full": {"alumni": 10_000, "chunk": 500, "rounds": 3},
}
MEASURE = "invitations/s"
_INVITATION_COLUMNS = (
    "id",
    "event_id",
    "alumnus_id",
    "status",
    "source",
    "guests",
    "guest_names",
    "answers",
    "token_version",
    "invited_by_id",
    "invited_at",
)
_OUTBOX_COLUMNS = (
    "created_at",
    "queued_at",
    "template",
    "category",
    "dedupe_key",
    "to_address",
    "to_name",
    "recipient_type",
    "recipient_id",
    "context",
    "message_key",
    "auto_submitted",
    "priority",
    "status",
    "next_attempt_at",
    "attempts",
)


def _settings(url: str, var_dir: Path) -> Settings:
    return load_settings(
        environ={},
        read_file=False,
        overrides={
            "app": {"var_dir": str(var_dir), "secret_key": BENCH_SECRET, "log_level": "warning"},
            "database": {"url": url},
        },
    )


async def _world(count: int) -> tuple[User, Event]:
    """The countries, an embassy for Kenya, a staff member, an event, ``count`` alumni."""
    await seed_countries()
    embassy = await Embassy.create(
        code="NBO", name="Embassy in Nairobi", country_id="KE", city="Nairobi",
        timezone="Africa/Nairobi",
    )  # fmt: skip
    await Accreditation.create(embassy=embassy, country_id="KE")
    staff = await User.create(
        email="staff@bench.example", email_key="staff@bench.example", role=Role.STAFF
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    event = await Event.create(
        embassy=embassy, kind="reception", title="Reception", starts_at=starts,
        ends_at=starts + timedelta(hours=2), timezone="Africa/Nairobi",
        status=EventStatus.PUBLISHED, uid=f"{uuid.uuid4().hex}@bench.example",
    )  # fmt: skip
    for start in range(0, count, 5_000):
        async with in_transaction():
            await Alumnus.bulk_create(
                [
                    Alumnus(
                        id=n,
                        given_name="Amani",
                        family_name=f"Wanjiru{n}",
                        search_key=f"amani wanjiru{n}",
                        email=f"amani.{n}@example.ke",
                        email_key=f"amani.{n}@example.ke",
                        country_id="KE",
                    )
                    for n in range(start + 1, min(start + 5_000, count) + 1)
                ]
            )
    return staff, event


async def _engage(settings: Settings, params: dict[str, Any]) -> dict[str, float]:
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        user, event = await _world(params["alumni"])
        actor = await load_actor(user)
        chunks: list[float] = []
        real = jobs._run_chunk

        async def timed(*args: Any, **kwargs: Any) -> bool:
            began = time.perf_counter()
            try:
                return await real(*args, **kwargs)
            finally:
                chunks.append(time.perf_counter() - began)

        jobs._run_chunk = timed  # type: ignore[assignment]
        try:
            start = time.perf_counter()
            job = await invite(actor, event.id, {"filter": {}}, chunk_size=params["chunk"])
            seconds = time.perf_counter() - start
        finally:
            jobs._run_chunk = real  # type: ignore[assignment]
        invitations = await Invitation.all().count()
        outbox = await OutboxMessage.all().count()
        return {
            "seconds": seconds,
            "invited": float(job.invited),
            "rows": float(invitations + outbox),
            "max_chunk_ms": max(chunks) * 1000,
            "p50_chunk_ms": statistics.median(chunks) * 1000,
        }


def _placeholders(dialect: str, count: int) -> str:
    if dialect == "postgres":
        return ", ".join(f"${i}" for i in range(1, count + 1))
    return ", ".join("?" * count)


def _insert(table: str, columns: tuple[str, ...], dialect: str) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({_placeholders(dialect, len(columns))})'


async def _baseline(settings: Settings, params: dict[str, Any]) -> dict[str, float]:
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        user, event = await _world(params["alumni"])
        people = (
            await Alumnus.all()
            .order_by("id")
            .values_list("id", "email", "given_name", "family_name")
        )
        start = time.perf_counter()
        async with in_transaction() as conn:
            dialect = conn.capabilities.dialect
            pg = dialect == "postgres"
            now = datetime.now(UTC)
            stamp: Any = now if pg else now.isoformat(" ")
            invitations, outbox = [], []
            for n, (pk, email, given, family) in enumerate(people, start=1):
                invitations.append(
                    (n, event.id, pk, "invited", "invited", 0, "[]", "{}", 1, user.id, stamp)
                )
                context = {
                    "invitation": n,
                    "attachments": [
                        {"kind": "event_ics", "event": event.id, "method": "REQUEST",
                         "invitation": n},
                    ],
                }  # fmt: skip
                outbox.append(
                    (
                        stamp, stamp, "invitation", "bulk", f"invitation:{n}", email,
                        f"{given} {family}", "alumnus", pk, json.dumps(context),
                        uuid.uuid4().hex, True if pg else 1, 0, "queued", stamp, 0,
                    )
                )  # fmt: skip
            await conn.execute_many(
                _insert("invitations_invitation", _INVITATION_COLUMNS, dialect), invitations
            )
            await conn.execute_many(_insert("mail_outbox", _OUTBOX_COLUMNS, dialect), outbox)
        seconds = time.perf_counter() - start
        rows = await Invitation.all().count() + await OutboxMessage.all().count()
        return {"seconds": seconds, "invited": float(len(people)), "rows": float(rows)}


def run(params: dict[str, Any]) -> Result:
    """Measure inviting ``alumni`` people against raw inserts of the same rows.

    ``params``: alumni, chunk (the job's chunk size), rounds (each side runs in a
    fresh database per round, alternating which goes first; the median round's
    time counts), database ("sqlite" or "postgres").
    """
    engage_runs: list[dict[str, float]] = []
    base_runs: list[dict[str, float]] = []
    notes: list[str] = []
    for round_no in range(params["rounds"]):
        sides = ["engage", "baseline"] if round_no % 2 == 0 else ["baseline", "engage"]
        for side in sides:
            with (
                tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
                scratch_database(params["database"], Path(tmp)) as url,
            ):
                settings = _settings(url, Path(tmp) / "var")
                if side == "engage":
                    engage_runs.append(asyncio.run(_engage(settings, params)))
                else:
                    base_runs.append(asyncio.run(_baseline(settings, params)))
    expected = 2.0 * params["alumni"]
    for side, runs in (("engage", engage_runs), ("baseline", base_runs)):
        for index, found in enumerate(runs):
            if found["rows"] != expected:
                notes.append(f"{side} round {index}: {found['rows']:.0f} rows, not {expected:.0f}")
    engage_s = statistics.median(r["seconds"] for r in engage_runs)
    base_s = statistics.median(r["seconds"] for r in base_runs)
    figures = {
        MEASURE: round(params["alumni"] / engage_s, 1),
        "seconds": round(engage_s, 3),
        "invite_ratio": round(engage_s / base_s, 3),
        "max_chunk_ms": round(max(r["max_chunk_ms"] for r in engage_runs), 1),
        "p50_chunk_ms": round(statistics.median(r["p50_chunk_ms"] for r in engage_runs), 1),
        "invited": engage_runs[-1]["invited"],
    }
    baseline = {MEASURE: round(params["alumni"] / base_s, 1), "seconds": round(base_s, 3)}
    return Result(NAME, MEASURE, figures, baseline, dict(params), notes)
