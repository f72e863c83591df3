"""Generated engagement history on top of ``_alumni_data``: timeline lines, the summary
columns they imply, events and invitations. Many, fast, deterministic.

::

    world = await generate_alumni(100_000, seed=7)
    history = await generate_history(world, per_alumnus=10, seed=7)   # 1,000,000 lines
    history.rows, history.seconds

Each person gets 0 to ``2 * per_alumnus`` lines (about ``per_alumnus`` on average;
one in eight none at all: never contacted), spread over the last eight years:
invitations and newsletters delivered, answers, attendance, bounces, profile and
career updates. ``last_contacted_at`` and ``last_engaged_at`` are then set from the
lines with one UPDATE each (the rules of ``engage.alumni.engagement``: contact is an
invitation or newsletter delivered or attendance; engagement an answer, attendance
or an update). Three in a hundred primary addresses are flagged failing. Events:
one per 250 people (at least 20) across the embassies, over the last four years and
the next two months, each inviting 2 in 1,000 people (at least 20) with answers and
arrivals.

Rows go in with the driver's bulk path, not the ORM: ``COPY`` on PostgreSQL,
``executemany`` in transactions of 50,000 rows on SQLite.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from engage.alumni.engagement import CONTACTED, ENGAGED
from engage.alumni.models import EngagementKind
from engage.events.models import Event, EventStatus
from engage.places.models import Embassy

BATCH = 50_000
YEARS_BACK = 8
#: Kinds of lines and how often each comes.
KINDS = (
    (EngagementKind.INVITED, 30),
    (EngagementKind.NEWSLETTER, 32),
    (EngagementKind.ANSWERED, 14),
    (EngagementKind.ATTENDED, 8),
    (EngagementKind.BOUNCED, 2),
    (EngagementKind.PROFILE_UPDATED, 9),
    (EngagementKind.CAREER_UPDATED, 5),
)
_STATUSES = (
    ("invited", 30),
    ("yes", 35),
    ("no", 20),
    ("maybe", 8),
    ("waitlisted", 3),
    ("revoked", 4),
)


def event_count(alumni: int) -> int:
    """One event per 250 people, at least 20."""
    return max(20, alumni // 250)


@dataclass
class History:
    lines: int = 0
    events: int = 0
    invitations: int = 0
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


async def _insert(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        async with conn.acquire_connection() as raw:
            await raw.copy_records_to_table(table, records=rows, columns=list(columns))
        return
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    for start in range(0, len(rows), BATCH):
        await conn.execute_many(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
            [list(r) for r in rows[start : start + BATCH]],
        )


async def _lines(
    count: int, per_alumnus: int, events: int, now: datetime, rng: random.Random
) -> int:
    kinds = [k for k, _w in KINDS]
    weights = [w for _k, w in KINDS]
    span = int(timedelta(days=365 * YEARS_BACK).total_seconds())
    columns = ("id", "alumnus_id", "kind", "at", "ref_type", "ref_id", "detail")
    pending: list[tuple[Any, ...]] = []
    written = 0
    for alumnus_id in range(1, count + 1):
        # One in eight none; the others 1..2N+2 (mean N + 1.5): N a person overall.
        n = 0 if rng.random() < 0.125 else rng.randint(1, 2 * per_alumnus + 2)
        for kind in rng.choices(kinds, weights=weights, k=n):
            written += 1
            at = now - timedelta(seconds=rng.randrange(span))
            if kind is EngagementKind.NEWSLETTER:
                ref = ("newsletter", rng.randint(1, 96))
            else:
                ref = ("event", rng.randint(1, events))
            pending.append((written, alumnus_id, kind.value, at, ref[0], ref[1], ""))
        if len(pending) >= BATCH:
            await _insert("alumni_engagement", columns, pending)
            pending = []
    if pending:
        await _insert("alumni_engagement", columns, pending)
    return written


async def _summaries() -> None:
    conn = connections.get("default")
    for column, kinds in (("last_contacted_at", CONTACTED), ("last_engaged_at", ENGAGED)):
        listed = ", ".join(f"'{k.value}'" for k in sorted(kinds))
        await conn.execute_script(
            f"UPDATE alumni_alumnus SET {column} = (SELECT MAX(e.at) FROM alumni_engagement e "
            f"WHERE e.alumnus_id = alumni_alumnus.id AND e.kind IN ({listed}))"
        )
    await conn.execute_script(
        "UPDATE alumni_alumnus SET email_failing_at = last_contacted_at "
        "WHERE id % 33 = 0 AND last_contacted_at IS NOT NULL"
    )


async def _events(count: int, now: datetime, rng: random.Random) -> tuple[int, int]:
    embassies = await Embassy.all().values("id", "timezone")
    events = event_count(count)
    per_event = max(20, count * 2 // 1000)
    event_rows = []
    invitation_rows = []
    invitation_id = 0
    for event_id in range(1, events + 1):
        embassy = embassies[event_id % len(embassies)]
        starts = now - timedelta(days=rng.randint(-60, 4 * 365), hours=rng.randint(0, 23))
        event_rows.append(
            Event(
                id=event_id,
                embassy_id=embassy["id"],
                kind="reception",
                title=f"Reception {event_id}",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                timezone=embassy["timezone"],
                status=EventStatus.PUBLISHED,
                uid=f"{uuid.UUID(int=rng.getrandbits(128)).hex}@bench.example",
            )
        )
        for alumnus_id in rng.sample(range(1, count + 1), min(per_event, count)):
            invitation_id += 1
            status = rng.choices([s for s, _w in _STATUSES], weights=[w for _s, w in _STATUSES])[0]
            arrived = starts if status == "yes" and starts < now and rng.random() < 0.8 else None
            answered = None if status == "invited" else starts - timedelta(days=rng.randint(1, 20))
            invited = starts - timedelta(days=30)
            invitation_rows.append(
                (
                    invitation_id,
                    event_id,
                    alumnus_id,
                    status,
                    "invited",
                    0,
                    "[]",
                    "{}",
                    1,
                    invited,
                    answered,
                    arrived,
                )
            )
    await Event.bulk_create(event_rows, batch_size=500)
    await _insert(
        "invitations_invitation",
        (
            "id",
            "event_id",
            "alumnus_id",
            "status",
            "source",
            "guests",
            "guest_names",
            "answers",
            "token_version",
            "invited_at",
            "responded_at",
            "arrived_at",
        ),
        invitation_rows,
    )
    return events, invitation_id


async def _fix_sequences() -> None:
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return
    for table in ("alumni_engagement", "events_event", "invitations_invitation"):
        await conn.execute_script(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )


async def generate_history(count: int, *, per_alumnus: int = 10, seed: int = 7) -> History:
    """Fill the history of the ``count`` alumni of ``generate_alumni`` (ids 1..count)."""
    clock = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    lines = await _lines(count, per_alumnus, event_count(count), now, rng)
    await _summaries()
    events, invitations = await _events(count, now, rng)
    await _fix_sequences()
    return History(
        lines=lines,
        events=events,
        invitations=invitations,
        seconds=time.perf_counter() - clock,
        rows={"engagement": lines, "event": events, "invitation": invitations},
    )
