"""Flows of SQL statements sharing a transaction (engage.invitations.sql_flow): each
sees the ones before it, one failing before it writes fails alone, one failing after
it wrote sends every flow of the transaction to a transaction of its own."""

from __future__ import annotations

import asyncio

from tortoise.exceptions import IntegrityError

from engage.errors import InvalidInput
from engage.events.models import Event
from engage.invitations.sql_flow import Flow, Sql, run_flow
from tests.invitations.test_rsvp import embassy  # noqa: F401

RENAME = 'UPDATE "events_event" SET "title" = ? WHERE "id" = ? RETURNING "title"'
#: A second event with the first one's iCalendar UID: the unique key refuses it.
COPY = (
    'INSERT INTO "events_event" ("embassy_id", "kind", "title", "description", "venue", '
    '"address", "online_url", "starts_at", "ends_at", "timezone", "guests_allowed", '
    '"guests_named", "questions", "reminders", "dress_code", "visibility", "status", '
    '"uid", "sequence", "seats_taken", "created_at", "updated_at") '
    'SELECT "embassy_id", "kind", "title", "description", "venue", "address", '
    '"online_url", "starts_at", "ends_at", "timezone", "guests_allowed", "guests_named", '
    '"questions", "reminders", "dress_code", "visibility", "status", "uid", "sequence", '
    '"seats_taken", "created_at", "updated_at" FROM "events_event" WHERE "id" = ?'
)


def _rename(event_id: int, title: str):
    def make(dialect: str) -> Flow[str]:
        (rows,) = yield [Sql(RENAME, (title, event_id))]
        return str(rows[0]["title"])

    return make


def _refuse(event_id: int):
    def make(dialect: str) -> Flow[str]:
        yield [Sql('SELECT "title" FROM "events_event" WHERE "id" = ?', (event_id,))]
        raise InvalidInput("No.")

    return make


def _rename_then_copy(event_id: int):
    def make(dialect: str) -> Flow[str]:
        yield [Sql(RENAME, ("Renamed before failing", event_id))]
        yield [Sql(COPY, (event_id,))]
        return "not reached"

    return make


async def _title(event: Event) -> str:
    return str((await Event.get(id=event.id)).title)


async def test_flows_given_at_once_each_see_the_ones_before(embassy, make_event):  # noqa: F811
    event = await make_event(embassy, title="Start")
    conn = Event._choose_db(True)

    done = await asyncio.gather(
        *(run_flow(_rename(event.id, f"Title {n}"), conn, together=event.id) for n in range(8))
    )

    assert done == [f"Title {n}" for n in range(8)]
    assert await _title(event) == "Title 7"


async def test_a_flow_failing_before_it_writes_fails_alone(embassy, make_event):  # noqa: F811
    event = await make_event(embassy, title="Start")
    conn = Event._choose_db(True)

    done = await asyncio.gather(
        run_flow(_rename(event.id, "First"), conn, together=event.id),
        run_flow(_refuse(event.id), conn, together=event.id),
        run_flow(_rename(event.id, "Last"), conn, together=event.id),
        return_exceptions=True,
    )

    assert done[0] == "First" and isinstance(done[1], InvalidInput) and done[2] == "Last"
    assert await _title(event) == "Last"


async def test_a_flow_failing_after_it_wrote_sends_each_to_its_own_transaction(
    embassy,  # noqa: F811
    make_event,
):
    first, second = await make_event(embassy, title="One"), await make_event(embassy, title="Two")
    conn = Event._choose_db(True)

    done = await asyncio.gather(
        run_flow(_rename(first.id, "One renamed"), conn, together="all"),
        run_flow(_rename_then_copy(second.id), conn, together="all"),
        run_flow(_rename(first.id, "One renamed again"), conn, together="all"),
        return_exceptions=True,
    )

    assert done[0] == "One renamed" and done[2] == "One renamed again"
    assert isinstance(done[1], IntegrityError)
    assert await _title(first) == "One renamed again"
    assert await _title(second) == "Two"  # its first write went with its failure
    assert await Event.all().count() == 2
