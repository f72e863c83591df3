"""The statements of an RSVP transaction (engage.invitations.rsvp_flow), for SQLite and
PostgreSQL: fixed texts, values as parameters, so each database keeps them prepared.

::

    lookup(ids, dialect)                # invitations, events (locked), embassies, people
    line_read(event_id, head)           # how many wait, the latest, the first ``head``
    ahead(invitation)                   # how many wait before an invitation
    Writes(...).statements(dialect)     # everything an answer changed, in one go

On PostgreSQL the writes are one statement of fixed text whatever their number (rows go
as arrays through ``unnest``); on SQLite, where the statements run in the database's
own thread, one short statement each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar

from tortoise import fields
from tortoise.models import Model

from engage.alumni.addresses import ADDRESS_FIELDS
from engage.alumni.models import Alumnus, Engagement, EngagementKind
from engage.events.models import Event
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.sql_flow import Sql
from engage.mail.models import Category, OutboxMessage
from engage.mail.outbox import outbox_values
from engage.places.models import Embassy

M = TypeVar("M", bound=Model)
#: The person's fields an answer needs: names for the email, and where it goes.
PERSON_FIELDS = ("id", "given_name", "family_name", "preferred_name", *ADDRESS_FIELDS)
_WAITLISTED = InvitationStatus.WAITLISTED.value
#: The tables of the lookup, by alias, with the model that reads their columns.
_TABLES: tuple[tuple[str, type[Model]], ...] = (("i", Invitation), ("e", Event), ("m", Embassy))
#: As many as "no limit" for a LIMIT.
EVERYONE = 1_000_000


# --- Reading ------------------------------------------------------------------------------


def lookup(ids: list[int], dialect: str) -> Sql:
    """The invitations with their events (locked, on PostgreSQL), embassies and people."""
    if dialect == "postgres":
        return Sql(_lookup(dialect, "= ANY(CAST(? AS bigint[]))"), (ids,))
    return Sql(_lookup(dialect, f"IN ({', '.join('?' * len(ids))})"), ids)


@lru_cache(maxsize=256)
def _lookup(dialect: str, where: str) -> str:
    columns = [
        f'"{alias}"."{name}" AS "{alias}__{name}"'
        for alias, model in _TABLES
        for name in sorted(model._meta.db_fields)
    ]
    columns += [f'"a"."{name}" AS "a__{name}"' for name in PERSON_FIELDS]
    lock = ' FOR UPDATE OF "e"' if dialect == "postgres" else ""
    return (
        f'SELECT {", ".join(columns)} FROM "invitations_invitation" AS "i" '  # noqa: S608 - fixed names, values as parameters
        'JOIN "events_event" AS "e" ON "e"."id" = "i"."event_id" '
        'JOIN "places_embassy" AS "m" ON "m"."id" = "e"."embassy_id" '
        'JOIN "alumni_alumnus" AS "a" ON "a"."id" = "i"."alumnus_id" '
        f'WHERE "i"."id" {where}{lock}'
    )


def loaded(
    row: Mapping[str, Any], events: Mapping[int, Event]
) -> tuple[Invitation, Event, dict[str, Any]]:
    """The models of a :func:`lookup` row (the event's ``embassy`` set; an event already
    in ``events`` is that one), and the person."""
    parts: dict[str, dict[str, Any]] = {"i": {}, "e": {}, "m": {}, "a": {}}
    for key, value in row.items():
        alias, _sep, name = key.partition("__")
        parts[alias][name] = value
    invitation = _model(Invitation, parts["i"])
    event = events.get(parts["e"]["id"])
    if event is None:
        event = _model(Event, parts["e"])
        event.embassy = _model(Embassy, parts["m"])
    invitation.event = event
    return invitation, event, parts["a"]


def _model(model: type[M], values: dict[str, Any]) -> M:
    # SQLite gives times as text: read here at C speed (Tortoise's own reader is slow).
    for name in _times(model):
        value = values[name]
        if isinstance(value, str):
            values[name] = datetime.fromisoformat(value)
    return model._init_from_db(**values)


@lru_cache(maxsize=8)
def _times(model: type[Model]) -> tuple[str, ...]:
    return tuple(
        name
        for name in model._meta.db_fields
        if isinstance(model._meta.fields_map.get(name), fields.DatetimeField)
    )


_PEOPLE = ", ".join(f'"a"."{name}" AS "{name}"' for name in PERSON_FIELDS[1:])
#: How many wait, the latest to join, and the first ``?`` of them with their people
#: (a row of NULLs when nobody waits).
_LINE = (
    'SELECT "c"."total" AS "total", "c"."latest" AS "latest", "h".* FROM '  # noqa: S608 - fixed names, values as parameters
    '(SELECT count(*) AS "total", max("waitlisted_at") AS "latest" '
    'FROM "invitations_invitation" WHERE "event_id" = ? '
    f'AND "status" = \'{_WAITLISTED}\') AS "c" '
    'LEFT JOIN (SELECT "i"."id" AS "id", "i"."guests" AS "guests", '
    '"i"."event_id" AS "event_id", "i"."waitlisted_at" AS "waitlisted_at", '
    f'"a"."id" AS "alumnus_id", {_PEOPLE} FROM "invitations_invitation" AS "i" '
    'JOIN "alumni_alumnus" AS "a" ON "a"."id" = "i"."alumnus_id" '
    f'WHERE "i"."event_id" = ? AND "i"."status" = \'{_WAITLISTED}\' '
    'ORDER BY "i"."waitlisted_at", "i"."id" LIMIT ?) AS "h" ON 1 = 1 '
    'ORDER BY "h"."waitlisted_at", "h"."id"'
)


def line_read(event_id: int, head: int) -> Sql:
    """The event's waitlist: its length, its latest time, its first ``head`` people."""
    return Sql(_LINE, (event_id, event_id, head))


#: Waitlisted invitations of an event before a given one (by waitlisted_at, then id).
_AHEAD = (
    'SELECT count(*) AS "ahead" FROM "invitations_invitation" WHERE "event_id" = ? '  # noqa: S608 - fixed names, values as parameters
    f'AND "status" = \'{_WAITLISTED}\' AND ("waitlisted_at" < ? '
    'OR ("waitlisted_at" = ? AND "id" < ?))'
)


def ahead(invitation: Invitation) -> Sql:
    at = invitation.waitlisted_at
    return Sql(_AHEAD, (invitation.event_id, at, at, invitation.id))  # type: ignore[attr-defined]


def instant(value: Any) -> datetime | None:
    """A time as read (SQLite gives text), aware, in UTC."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- Writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """What an answer's decision rests on: it is written only if this is still so."""

    status: str
    guests: int
    token_version: int

    @classmethod
    def of(cls, invitation: Invitation) -> State:
        return cls(str(invitation.status), invitation.guests, invitation.token_version)


@dataclass
class Writes:
    """What a transaction changed, written in one go (:meth:`statements`)."""

    #: Invitations answered, each with the state it was read in.
    answered: dict[int, tuple[State, Invitation]] = field(default_factory=dict)
    #: Invitations given a seat from the waitlist (id, when), not answered themselves.
    promoted: list[tuple[int, datetime]] = field(default_factory=list)
    #: New seat counts by event.
    seats: dict[int, int] = field(default_factory=dict)
    #: Outbox rows (engage.mail.outbox.outbox_values).
    outbox: list[dict[str, Any]] = field(default_factory=list)
    #: Engagement lines: (alumnus id, event id, the answer, when).
    lines: list[tuple[int, int, str, datetime]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.answered or self.promoted or self.seats or self.outbox or self.lines)

    def expected(self) -> int:
        """Rows the conditional updates must report (fewer: another transaction
        changed one of them since it was read)."""
        return len(self.answered) + len(self.promoted)

    def statements(self, dialect: str) -> tuple[list[Sql], Any]:
        """The statements, and how to read from their rows how many of the
        conditional updates took effect: ``done(results) -> int``."""
        if dialect == "postgres":
            return [_postgres_writes(self)], lambda results: int(results[-1][0]["done"])
        statements = _sqlite_writes(self)
        checked = [
            index
            for index, sql in enumerate(statements)
            if sql.text.startswith('UPDATE "invitations_invitation"')
        ]
        return statements, lambda results: sum(len(results[index]) for index in checked)


def _answer_values(before: State, invitation: Invitation) -> list[Any]:
    return [
        invitation.id,
        str(invitation.status),
        invitation.guests,
        _json(invitation.guest_names),
        _json(invitation.answers),
        invitation.responded_at,
        invitation.waitlisted_at,
        invitation.promoted_at,
        before.status,
        before.guests,
        before.token_version,
    ]


def _engaged(lines: list[tuple[int, int, str, datetime]]) -> dict[int, datetime]:
    """Each person's latest answer time, for ``last_engaged_at``."""
    latest: dict[int, datetime] = {}
    for alumnus_id, _event_id, _detail, at in lines:
        if alumnus_id not in latest or latest[alumnus_id] < at:
            latest[alumnus_id] = at
    return latest


def _outbox_row(row: Mapping[str, Any]) -> list[Any]:
    return [_db_value(column, row[column]) for column in outbox_columns()]


@lru_cache(maxsize=1)
def outbox_columns() -> tuple[str, ...]:
    """The columns engage.mail.outbox.outbox_values fills, in its order."""
    sample = outbox_values("x", to="x@x", category=Category.TRANSACTIONAL, dedupe_key="x")
    return tuple(sample)


_DETAIL_MAX = 300


def _db_value(column: str, value: Any) -> Any:
    if column == "context":
        return _json(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- SQLite: one short statement each ------------------------------------------------------

_SQLITE_ANSWER = (
    'UPDATE "invitations_invitation" SET "status" = ?2, "guests" = ?3, "guest_names" = ?4, '
    '"answers" = ?5, "responded_at" = ?6, "waitlisted_at" = ?7, "promoted_at" = ?8 '
    'WHERE "id" = ?1 AND "status" = ?9 AND "guests" = ?10 AND "token_version" = ?11 '
    'RETURNING "id"'
)
_SQLITE_PROMOTED = (
    f'UPDATE "invitations_invitation" SET "status" = \'{InvitationStatus.YES.value}\', '  # noqa: S608 - fixed names, values as parameters
    f'"promoted_at" = ? WHERE "id" = ? AND "status" = \'{_WAITLISTED}\' RETURNING "id"'
)
_SEATS = 'UPDATE "events_event" SET "seats_taken" = ? WHERE "id" = ?'
_ENGAGEMENT = (
    f'INSERT INTO "{Engagement._meta.db_table}" '  # noqa: S608 - fixed names, values as parameters
    '("alumnus_id", "kind", "at", "ref_type", "ref_id", "detail") '
    f"VALUES (?, '{EngagementKind.ANSWERED.value}', ?, 'event', ?, ?)"
)
_ENGAGED = (
    f'UPDATE "{Alumnus._meta.db_table}" SET "last_engaged_at" = ? WHERE "id" = ? '  # noqa: S608 - fixed names, values as parameters
    'AND ("last_engaged_at" IS NULL OR "last_engaged_at" < ?)'
)


@lru_cache(maxsize=1)
def _sqlite_outbox() -> str:
    columns = outbox_columns()
    return (
        f'INSERT INTO "{OutboxMessage._meta.db_table}" '  # noqa: S608 - fixed names, values as parameters
        f"({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING"
    )


def _sqlite_writes(writes: Writes) -> list[Sql]:
    statements = [Sql(_SQLITE_PROMOTED, (at, pk)) for pk, at in writes.promoted]
    statements += [Sql(_SEATS, (seats, pk)) for pk, seats in writes.seats.items()]
    statements += [Sql(_sqlite_outbox(), _outbox_row(row)) for row in writes.outbox]
    statements += [
        Sql(_ENGAGEMENT, (alumnus_id, at, event_id, detail[:_DETAIL_MAX]))
        for alumnus_id, event_id, detail, at in writes.lines
    ]
    statements += [Sql(_ENGAGED, (at, pk, at)) for pk, at in _engaged(writes.lines).items()]
    statements += [
        Sql(_SQLITE_ANSWER, _answer_values(before, invitation))
        for before, invitation in writes.answered.values()
    ]
    return statements


# --- PostgreSQL: one statement of fixed text -----------------------------------------------

#: PostgreSQL's type for each kind of field (the first that matches).
_PG_TYPES: tuple[tuple[type[fields.Field[Any]], str], ...] = (
    (fields.DatetimeField, "timestamptz"),
    (fields.BigIntField, "bigint"),
    (fields.SmallIntField, "smallint"),
    (fields.IntField, "integer"),
    (fields.BooleanField, "boolean"),
    (fields.JSONField, "jsonb"),
    (fields.CharField, "text"),
    (fields.TextField, "text"),
)


def _array(model: type[Model], column: str) -> str:
    found = model._meta.fields_map[column]
    kind = next(name for base, name in _PG_TYPES if isinstance(found, base))
    return f"CAST(? AS {kind}[])"


@lru_cache(maxsize=1)
def _postgres_text() -> str:
    columns = outbox_columns()
    outbox_names = ", ".join(f'"{c}"' for c in columns)
    outbox_arrays = ", ".join(_array(OutboxMessage, c) for c in columns)
    return (
        # w0: the promoted (only those still waiting)
        'WITH "w0" AS (UPDATE "invitations_invitation" AS "i" '  # noqa: S608 - fixed names, values as parameters
        f'SET "status" = \'{InvitationStatus.YES.value}\', "promoted_at" = "v"."at" '
        'FROM unnest(CAST(? AS bigint[]), CAST(? AS timestamptz[])) AS "v"("id", "at") '
        f'WHERE "i"."id" = "v"."id" AND "i"."status" = \'{_WAITLISTED}\' '
        'RETURNING "i"."id"), '
        # w1: the seat counts
        '"w1" AS (UPDATE "events_event" AS "e" SET "seats_taken" = "v"."seats" '
        'FROM unnest(CAST(? AS bigint[]), CAST(? AS integer[])) AS "v"("id", "seats") '
        'WHERE "e"."id" = "v"."id"), '
        # w2: the outbox rows
        f'"w2" AS (INSERT INTO "{OutboxMessage._meta.db_table}" ({outbox_names}) '
        f"SELECT * FROM unnest({outbox_arrays}) ON CONFLICT DO NOTHING), "
        # w3: the engagement lines
        f'"w3" AS (INSERT INTO "{Engagement._meta.db_table}" '
        '("alumnus_id", "kind", "at", "ref_type", "ref_id", "detail") '
        f'SELECT "v"."alumnus_id", \'{EngagementKind.ANSWERED.value}\', "v"."at", '
        '\'event\', "v"."event_id", "v"."detail" FROM unnest(CAST(? AS bigint[]), '
        "CAST(? AS timestamptz[]), CAST(? AS bigint[]), CAST(? AS text[])) "
        'AS "v"("alumnus_id", "at", "event_id", "detail")), '
        # w4: last_engaged_at, forward only
        f'"w4" AS (UPDATE "{Alumnus._meta.db_table}" AS "a" SET "last_engaged_at" = "v"."at" '
        'FROM unnest(CAST(? AS bigint[]), CAST(? AS timestamptz[])) AS "v"("id", "at") '
        'WHERE "a"."id" = "v"."id" AND ("a"."last_engaged_at" IS NULL '
        'OR "a"."last_engaged_at" < "v"."at")), '
        # w5: the answers, each only if still as it was read
        '"w5" AS (UPDATE "invitations_invitation" AS "i" SET "status" = "v"."status", '
        '"guests" = "v"."guests", "guest_names" = "v"."guest_names", '
        '"answers" = "v"."answers", "responded_at" = "v"."responded_at", '
        '"waitlisted_at" = "v"."waitlisted_at", "promoted_at" = "v"."promoted_at" '
        "FROM unnest(CAST(? AS bigint[]), CAST(? AS text[]), CAST(? AS smallint[]), "
        "CAST(? AS jsonb[]), CAST(? AS jsonb[]), CAST(? AS timestamptz[]), "
        "CAST(? AS timestamptz[]), CAST(? AS timestamptz[]), CAST(? AS text[]), "
        "CAST(? AS smallint[]), CAST(? AS integer[])) "
        'AS "v"("id", "status", "guests", "guest_names", "answers", "responded_at", '
        '"waitlisted_at", "promoted_at", "was", "had", "version") '
        'WHERE "i"."id" = "v"."id" AND "i"."status" = "v"."was" AND "i"."guests" = "v"."had" '
        'AND "i"."token_version" = "v"."version" RETURNING "i"."id") '
        'SELECT (SELECT count(*) FROM "w0") + (SELECT count(*) FROM "w5") AS "done"'
    )


def _columns(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows as columns (one array each), ``width`` of them even when there is no row."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _postgres_writes(writes: Writes) -> Sql:
    values: list[Any] = []
    values += _columns([[pk, at] for pk, at in writes.promoted], 2)
    values += _columns([[pk, seats] for pk, seats in writes.seats.items()], 2)
    values += _columns([_outbox_row(row) for row in writes.outbox], len(outbox_columns()))
    values += _columns(
        [
            [alumnus_id, at, event_id, detail[:_DETAIL_MAX]]
            for alumnus_id, event_id, detail, at in writes.lines
        ],
        4,
    )
    values += _columns([[pk, at] for pk, at in _engaged(writes.lines).items()], 2)
    values += _columns(
        [_answer_values(before, invitation) for before, invitation in writes.answered.values()],
        11,
    )
    return Sql(_postgres_text(), values)
