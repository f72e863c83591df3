"""Messages to invitees: each group reaches exactly its people, through the eligibility
rule and the outbox; the preview says the same as the send; scope and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.errors import InvalidInput, NotFound, PermissionDenied
from engage.invitations.messages import (
    GROUPS,
    list_messages,
    message_preview,
    send_message,
)
from engage.invitations.models import Invitation, InvitationSource, InviteeMessage
from engage.mail.models import Category, OutboxMessage

NOW = datetime(2031, 6, 13, 20, 0, tzinfo=UTC)
#: Started two hours before NOW: attendance is known.
STARTED = NOW - timedelta(hours=2)

#: name -> (status, arrived, extra fields of the alumnus)
PEOPLE = {
    "Invited": ("invited", False, {}),
    "Came": ("yes", True, {}),
    "Absent": ("yes", False, {}),
    "Maybe": ("maybe", False, {}),
    "Maybecame": ("maybe", True, {}),
    "Waiting": ("waitlisted", False, {}),
    "Declined": ("no", False, {}),
    "Revoked": ("revoked", True, {}),
    "Noconsent": ("yes", False, {"accepts_invitations": False}),
    "Flagged": ("invited", False, {"do_not_engage": True}),
}
#: Who each group reaches (eligible people only).
EXPECTED = {
    "not_answered": {"Invited"},
    "coming": {"Came", "Absent", "Walkin"},
    "maybe": {"Maybe", "Maybecame"},
    "waitlisted": {"Waiting"},
    "declined": {"Declined"},
    "attended": {"Came", "Maybecame", "Walkin"},
    "no_show": {"Absent"},
}
#: Who each group leaves out, by reason.
SKIPPED = {
    "not_answered": {"do_not_engage": 1},
    "coming": {"no_consent": 1},
    "no_show": {"no_consent": 1},
}


@pytest.fixture
async def nairobi(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE")
    user = await make_user(role=Role.ATTACHE, embassies=["NBO"], email="wanjiru@embassy.example")
    event = await make_event(embassy, title="Passing-out reception", starts_at=STARTED)
    people = {}
    for name, (status, arrived, fields) in PEOPLE.items():
        person = await make_alumnus(country="KE", given_name=name, **fields)
        await Invitation.create(
            event=event,
            alumnus=person,
            status=status,
            invited_at=STARTED - timedelta(days=20),
            arrived_at=STARTED + timedelta(minutes=5) if arrived else None,
        )
        people[name] = person
    walk_in = await make_alumnus(country="KE", given_name="Walkin")
    await Invitation.create(
        event=event,
        alumnus=walk_in,
        status="yes",
        source=InvitationSource.WALK_IN,
        invited_at=STARTED + timedelta(minutes=20),
        arrived_at=STARTED + timedelta(minutes=20),
    )
    people["Walkin"] = walk_in
    return await load_actor(user), event, people


def _given(names: list[str]) -> set[str]:
    return {name.split()[0] for name in names}


async def _queued(message: InviteeMessage) -> dict[str, OutboxMessage]:
    rows = await OutboxMessage.filter(dedupe_key__startswith=f"message:{message.id}:")
    return {row.to_name.split()[0]: row for row in rows}


@pytest.mark.parametrize("group", list(GROUPS))
async def test_each_group_reaches_exactly_its_people(nairobi, group):
    attache, event, people = nairobi

    preview = await message_preview(attache, event.id, [group], now=NOW)
    assert _given(preview.names) == EXPECTED[group]
    assert preview.recipients == len(EXPECTED[group])
    assert preview.skipped == SKIPPED.get(group, {})

    message = await send_message(
        attache, event.id, "Thank you", "It was *good* to see you.", [group], now=NOW
    )

    queued = await _queued(message)
    assert set(queued) == EXPECTED[group]
    assert message.recipients == len(EXPECTED[group])
    assert message.skipped == SKIPPED.get(group, {})
    assert message.statuses == [group]
    for name, row in queued.items():
        invitation = await Invitation.get(event_id=event.id, alumnus_id=people[name].id)
        assert row.template == "invitee_message"
        assert row.category == Category.BULK
        assert row.dedupe_key == f"message:{message.id}:{invitation.id}"
        assert row.context == {"message": message.id, "invitation": invitation.id}
        assert row.recipient_id == people[name].id
        assert row.auto_submitted is False  # a person wrote it


async def test_several_groups_give_one_message_each(nairobi):
    attache, event, _people = nairobi
    groups = ["coming", "attended", "maybe"]

    preview = await message_preview(attache, event.id, groups, now=NOW)
    message = await send_message(attache, event.id, "Photos", "Here they are.", groups, now=NOW)

    expected = {"Came", "Absent", "Walkin", "Maybe", "Maybecame"}
    assert _given(preview.names) == expected == set(await _queued(message))
    assert message.recipients == preview.recipients == 5
    assert message.statuses == ["coming", "maybe", "attended"]  # in the form's order


async def test_nobody_did_not_attend_before_the_event_started(nairobi):
    attache, event, _people = nairobi
    before = STARTED - timedelta(minutes=1)

    preview = await message_preview(attache, event.id, ["no_show"], now=before)
    assert preview.recipients == 0 and preview.names == [] and preview.skipped == {}
    with pytest.raises(InvalidInput) as caught:
        await send_message(attache, event.id, "Where were you?", "...", ["no_show"], now=before)
    assert "statuses" in caught.value.fields
    assert not await InviteeMessage.exists()


async def test_chunks_give_the_same_message(nairobi):
    attache, event, _people = nairobi
    groups = list(GROUPS)

    message = await send_message(attache, event.id, "All", "Hello.", groups, now=NOW, chunk_size=2)

    everyone = set().union(*EXPECTED.values())
    assert set(await _queued(message)) == everyone
    assert message.recipients == len(everyone)
    assert message.skipped == {"do_not_engage": 1, "no_consent": 1}


async def test_sending_is_recorded_and_listed(nairobi, make_user):
    attache, event, _people = nairobi
    staff = await load_actor(await make_user(role=Role.STAFF))

    first = await send_message(attache, event.id, "One", "1", ["coming"], now=NOW, ip="10.0.0.9")
    second = await send_message(staff, event.id, "Two", "2", ["maybe"], now=NOW)

    listed = await list_messages(attache, event.id)
    assert [m.id for m in listed] == [second.id, first.id]
    assert listed[1].created_by.email == "wanjiru@embassy.example"
    audit = await AuditEvent.filter(action="invitations.message").order_by("id")
    assert [a.details["message"] for a in audit] == [first.id, second.id]
    assert audit[0].details["recipients"] == 3 and audit[0].ip == "10.0.0.9"


async def test_another_embassy_attache_gets_404_and_an_alumnus_403(
    nairobi, make_embassy, make_user
):
    _attache, event, _people = nairobi
    await make_embassy(code="ACC", country="GH")
    other = await load_actor(await make_user(role=Role.ATTACHE, embassies=["ACC"]))
    alumnus = await load_actor(await make_user(role=Role.ALUMNUS))

    for actor, error in ((other, NotFound), (alumnus, PermissionDenied)):
        with pytest.raises(error):
            await message_preview(actor, event.id, ["coming"], now=NOW)
        with pytest.raises(error):
            await send_message(actor, event.id, "Hi", "Hello", ["coming"], now=NOW)
        with pytest.raises(error):
            await list_messages(actor, event.id)
    assert not await OutboxMessage.filter(dedupe_key__startswith="message:").exists()


@pytest.mark.parametrize(
    ("subject", "body", "groups", "field"),
    [
        ("", "Hello", ["coming"], "subject"),
        ("   ", "Hello", ["coming"], "subject"),
        ("x" * 201, "Hello", ["coming"], "subject"),
        ("Hi", "  \n ", ["coming"], "body"),
        ("Hi", "Hello", [], "statuses"),
        ("Hi", "Hello", ["coming", "everyone"], "statuses"),
    ],
)
async def test_what_is_wrong_is_named(nairobi, subject, body, groups, field):
    attache, event, _people = nairobi
    with pytest.raises(InvalidInput) as caught:
        await send_message(attache, event.id, subject, body, groups, now=NOW)
    assert field in caught.value.fields
    assert not await InviteeMessage.exists()


async def test_a_subject_is_one_line(nairobi):
    attache, event, _people = nairobi
    message = await send_message(
        attache, event.id, "Parking\r\nBcc: x@example.org", "Gate 2.", ["coming"], now=NOW
    )
    assert message.subject == "Parking Bcc: x@example.org"
