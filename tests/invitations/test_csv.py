"""The invitations CSV: one row per invitation, a column per question, times in the
event's zone, formulas neutralised, streamed in chunks, scoped and audit-logged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.errors import NotFound
from engage.invitations import services
from engage.invitations.models import Invitation
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.invitations.services import invitations_csv, invite

QUESTIONS = [
    {"id": "diet", "label": "Dietary needs", "type": "text", "required": False},
    {
        "id": "session",
        "label": "Which session?",
        "type": "choice",
        "required": False,
        "choices": ["Morning", "Afternoon"],
    },
]


async def _read(chunks) -> tuple[bytes, list[dict[str, str]]]:
    data = b"".join([chunk async for chunk in chunks])
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    return data, rows


@pytest.fixture
async def seminar(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["RIX"]))
    event = await make_event(
        embassy,
        kind="seminar",
        questions=QUESTIONS,
        guests_allowed=2,
        guests_named=True,
        starts_at=datetime(2031, 6, 13, 15, 0, tzinfo=UTC),
    )
    return attache, event


async def test_the_csv_has_answers_guests_and_question_columns(seminar, make_alumnus, settings):
    attache, event = seminar
    ieva = await make_alumnus(country="LV", given_name="Ieva", family_name="Ozola")
    tricky = await make_alumnus(country="LV", given_name="=HYPERLINK(1)", family_name="Bērziņš")
    await invite(attache, event.id, {"alumni_ids": [ieva.id, tricky.id]})
    invitation = await Invitation.get(event_id=event.id, alumnus_id=ieva.id)
    answered = datetime(2031, 6, 1, 9, 30, tzinfo=UTC)  # 12:30 in Riga
    await answer(
        invitation.id,
        RsvpAnswer(
            "yes",
            guests=2,
            guest_names=["Anna Ozola", "+Jānis"],
            answers={"diet": "Vegetarian", "session": "Morning"},
        ),
        now=answered,
    )

    data, rows = await _read(await invitations_csv(attache, event.id, ip="10.0.0.1"))

    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    header = data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == [*services.CSV_COLUMNS, "Dietary needs", "Which session?"]
    by_name = {row["family_name"]: row for row in rows}
    row = by_name["Ozola"]
    assert row["invitation_id"] == str(invitation.id) and row["alumnus_id"] == str(ieva.id)
    assert row["status"] == "yes" and row["guests"] == "2"
    assert row["guest_names"] == "Anna Ozola; +Jānis"
    assert row["responded_at"] == "2031-06-01 12:30"
    assert row["Dietary needs"] == "Vegetarian" and row["Which session?"] == "Morning"
    assert row["email"] == ieva.email and row["country"] == "LV"
    other = by_name["Bērziņš"]
    assert other["given_name"] == "'=HYPERLINK(1)" and other["status"] == "invited"
    assert other["responded_at"] == "" and other["Dietary needs"] == ""
    entry = await AuditEvent.get(action="invitations.export")
    assert (entry.target_type, entry.target_id, entry.ip) == ("event", str(event.id), "10.0.0.1")


async def test_the_csv_streams_in_chunks(seminar, make_alumnus, monkeypatch):
    attache, event = seminar
    people = [await make_alumnus(country="LV") for _ in range(5)]
    await invite(attache, event.id, {"alumni_ids": [p.id for p in people]})
    monkeypatch.setattr(services, "CSV_CHUNK", 2)

    chunks = [chunk async for chunk in await invitations_csv(attache, event.id)]

    assert len(chunks) == 1 + 3  # the header, then 2 + 2 + 1 rows
    _data, rows = await _read(_replay(chunks))
    assert [int(r["alumnus_id"]) for r in rows] == [p.id for p in people]


async def _replay(chunks: list[bytes]):
    for chunk in chunks:
        yield chunk


async def test_the_csv_of_another_embassys_event_is_404(seminar, make_embassy, make_user):
    _attache, event = seminar
    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    other = await load_actor(await make_user(role=Role.ATTACHE, embassies=["KLA"]))

    with pytest.raises(NotFound):
        await invitations_csv(other, event.id)
    assert not await AuditEvent.exists(action="invitations.export")
