"""Items sharing a transaction (engage.invitations.sql_flow.run_batched): each sees the
ones before it, one failing before it writes fails alone, one failing after it wrote
sends every item of the transaction to a transaction of its own; and a flow run alone
or in the caller's transaction."""

from __future__ import annotations

import asyncio
from functools import partial

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from engage.errors import InvalidInput
from engage.events.models import Event
from engage.invitations.sql_flow import Flow, Outcome, Sql, run_batched, run_flow
from tests.invitations.test_rsvp import embassy  # noqa: F401

APPEND = 'UPDATE "events_event" SET "title" = "title" || ? WHERE "id" = ? RETURNING "title"'
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


def _many(items: list[tuple[str, int, str]], dialect: str) -> Flow[list[Outcome]]:
    """Each item appends to an event's title; "refuse" fails before writing, "copy"
    fails after (the database refuses its second statement)."""
    outcomes: list[Outcome] = []
    for kind, event_id, text in items:
        if kind == "refuse":
            outcomes.append((False, InvalidInput("No.")))
            continue
        (rows,) = yield [Sql(APPEND, (text, event_id))]
        if kind == "copy":
            yield [Sql(COPY, (event_id,))]
        outcomes.append((True, str(rows[0]["title"])))
    return outcomes


async def _title(event: Event) -> str:
    return str((await Event.get(id=event.id)).title)


async def test_items_given_at_once_each_see_the_ones_before(embassy, make_event):  # noqa: F811
    event = await make_event(embassy, title="Start")
    conn = Event._choose_db(True)

    done = await asyncio.gather(
        *(run_batched(("add", event.id, str(n)), _many, conn, key=event.id) for n in range(6))
    )

    assert done == ["Start0", "Start01", "Start012", "Start0123", "Start01234", "Start012345"]
    assert await _title(event) == "Start012345"


async def test_an_item_failing_before_it_writes_fails_alone(embassy, make_event):  # noqa: F811
    event = await make_event(embassy, title="Start")
    conn = Event._choose_db(True)
    items = [("add", event.id, "1"), ("refuse", event.id, ""), ("add", event.id, "2")]

    done = await asyncio.gather(
        *(run_batched(item, _many, conn, key=event.id) for item in items),
        return_exceptions=True,
    )

    assert done[0] == "Start1" and isinstance(done[1], InvalidInput) and done[2] == "Start12"
    assert await _title(event) == "Start12"


async def test_an_item_failing_after_it_wrote_sends_each_to_its_own_transaction(
    embassy,  # noqa: F811
    make_event,
):
    first, second = await make_event(embassy, title="One"), await make_event(embassy, title="Two")
    conn = Event._choose_db(True)
    items = [("add", first.id, "a"), ("copy", second.id, "x"), ("add", first.id, "b")]

    done = await asyncio.gather(
        *(run_batched(item, _many, conn, key="all") for item in items),
        return_exceptions=True,
    )

    assert done[0] == "Onea" and done[2] == "Oneab"
    assert isinstance(done[1], IntegrityError)
    assert await _title(first) == "Oneab"
    assert await _title(second) == "Two"  # its first write went with its failure
    assert await Event.all().count() == 2


async def test_a_flow_of_its_own_or_in_the_callers_transaction(embassy, make_event):  # noqa: F811
    event = await make_event(embassy, title="Start")
    conn = Event._choose_db(True)

    assert await run_flow(partial(_many, [("add", event.id, "1")]), conn) == [(True, "Start1")]
    async with in_transaction() as tx:
        flow = partial(_many, [("add", event.id, "2")])
        assert await run_flow(flow, tx, own_transaction=False) == [(True, "Start12")]
