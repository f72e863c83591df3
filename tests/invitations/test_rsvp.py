"""Answering an invitation (the service): answers, validation, deadline, links."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events.models import Event, EventStatus, Visibility
from engage.invitations.links import invitation_for_token, rsvp_token, rsvp_url
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.invitations.rsvp import RsvpAnswer, answer, answer_open_event, invitations_of_alumnus
from engage.invitations.rsvp_form import parse_answer
from engage.mail.models import Category, OutboxMessage

QUESTIONS = [
    {"id": "diet", "label": "Dietary needs", "type": "text", "required": False},
    {"id": "menu", "label": "Menu", "type": "choice", "required": True, "choices": ["Fish", "Veg"]},
    {"id": "parking", "label": "Parking", "type": "yes_no", "required": False},
]


@pytest.fixture
def invite(make_alumnus):
    """An invitation (status invited) to ``event`` for a new alumnus (or ``alumnus``)."""

    async def make(event: Event, alumnus=None, **fields) -> Invitation:
        alumnus = alumnus or await make_alumnus()
        return await Invitation.create(event=event, alumnus=alumnus, invited_at=utcnow(), **fields)

    return make


@pytest.fixture
async def embassy(db, make_embassy):
    return await make_embassy(code="RIX", country="LV", timezone="Europe/Riga", city="Riga")


async def _seats(event: Event) -> int:
    return (await Event.get(id=event.id)).seats_taken


async def _confirmations(invitation: Invitation) -> list[OutboxMessage]:
    rows = await OutboxMessage.filter(template="rsvp_confirmation").order_by("id")
    return [r for r in rows if r.context["invitation"] == invitation.id]


async def test_yes_with_a_guest_takes_two_seats_and_queues_a_confirmation(
    embassy, make_event, invite
):
    event = await make_event(embassy, capacity=10, guests_allowed=2)
    invitation = await invite(event)

    done = await answer(invitation.id, RsvpAnswer("yes", guests=1))

    assert done.status == InvitationStatus.YES and done.guests == 1
    assert done.responded_at is not None and done.waitlisted_at is None
    assert await _seats(event) == 2
    (row,) = await OutboxMessage.filter(template="rsvp_confirmation")
    assert row.category == Category.TRANSACTIONAL
    assert row.to_address == (await invitation.alumnus).email
    assert row.recipient_type == "alumnus"
    assert row.context["invitation"] == invitation.id and row.context["status"] == "yes"
    assert row.context["attachments"] == [
        {"kind": "event_ics", "event": event.id, "method": "REQUEST", "invitation": invitation.id}
    ]


async def test_changing_the_answer_frees_seats_and_confirms_each_answer(
    embassy, make_event, invite
):
    event = await make_event(embassy, capacity=10, guests_allowed=2)
    invitation = await invite(event)

    await answer(invitation.id, RsvpAnswer("yes", guests=2))
    assert await _seats(event) == 3
    await answer(invitation.id, RsvpAnswer("yes", guests=0))
    assert await _seats(event) == 1
    done = await answer(invitation.id, RsvpAnswer("no", guests=2))

    assert done.status == InvitationStatus.NO and done.guests == 0
    assert await _seats(event) == 0
    rows = await OutboxMessage.filter(template="rsvp_confirmation").order_by("id")
    assert [r.context["status"] for r in rows] == ["yes", "yes", "no"]
    assert len({r.dedupe_key for r in rows}) == 3
    assert "attachments" not in rows[-1].context  # no calendar for a no


async def test_the_same_answer_again_changes_nothing_and_sends_nothing(embassy, make_event, invite):
    event = await make_event(embassy, capacity=10)
    invitation = await invite(event)
    first = await answer(invitation.id, RsvpAnswer("yes", answers={"x": "ignored"}))

    again = await answer(invitation.id, RsvpAnswer("yes"))

    assert again.responded_at == first.responded_at
    assert await _seats(event) == 1
    assert await OutboxMessage.filter(template="rsvp_confirmation").count() == 1


async def test_maybe_takes_no_seat_and_gets_the_calendar(embassy, make_event, invite):
    event = await make_event(embassy, capacity=1)
    invitation = await invite(event)

    done = await answer(invitation.id, RsvpAnswer("maybe", guests=1))

    assert done.status == InvitationStatus.MAYBE and done.guests == 1
    assert await _seats(event) == 0
    (row,) = await _confirmations(invitation)
    assert row.context["attachments"][0]["method"] == "REQUEST"


async def test_unlimited_capacity_takes_every_yes(embassy, make_event, invite):
    event = await make_event(embassy, capacity=None, guests_allowed=1)
    for _ in range(5):
        done = await answer((await invite(event)).id, RsvpAnswer("yes", guests=1))
        assert done.status == InvitationStatus.YES
    assert await _seats(event) == 10


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (RsvpAnswer("perhaps"), "status"),
        (RsvpAnswer("yes", guests=3), "guests"),
        (RsvpAnswer("yes", guests=-1), "guests"),
        (RsvpAnswer("yes", answers={"menu": "Beef"}), "q_menu"),
        (RsvpAnswer("yes", answers={"menu": "Fish", "parking": "sure"}), "q_parking"),
        (RsvpAnswer("yes", answers={"menu": "Fish", "diet": "x" * 1001}), "q_diet"),
        (RsvpAnswer("yes"), "q_menu"),
        (RsvpAnswer("maybe"), "q_menu"),
    ],
)
async def test_invalid_answers_name_the_field_and_change_nothing(
    embassy, make_event, invite, given, field
):
    event = await make_event(embassy, capacity=10, guests_allowed=2, questions=QUESTIONS)
    invitation = await invite(event)

    with pytest.raises(InvalidInput) as caught:
        await answer(invitation.id, given)

    assert field in caught.value.fields
    stored = await Invitation.get(id=invitation.id)
    assert stored.status == InvitationStatus.INVITED and stored.responded_at is None
    assert await _seats(event) == 0
    assert await OutboxMessage.all().count() == 0


async def test_questions_are_stored_and_a_decline_needs_none(embassy, make_event, invite):
    event = await make_event(embassy, capacity=10, questions=QUESTIONS)
    coming, declining = await invite(event), await invite(event)

    done = await answer(
        coming.id,
        RsvpAnswer(
            "yes",
            answers={"menu": "Veg", "parking": "no", "diet": "  none  ", "unknown": "dropped"},
        ),
    )
    declined = await answer(declining.id, RsvpAnswer("no"))

    assert done.answers == {"menu": "Veg", "parking": "no", "diet": "none"}
    assert declined.status == InvitationStatus.NO and declined.answers == {}


async def test_no_guests_when_the_event_allows_none(embassy, make_event, invite):
    event = await make_event(embassy, guests_allowed=0)
    invitation = await invite(event)
    with pytest.raises(InvalidInput) as caught:
        await answer(invitation.id, RsvpAnswer("yes", guests=1))
    assert "alone" in caught.value.fields["guests"]


async def test_named_guests_need_one_non_empty_name_each(embassy, make_event, invite):
    event = await make_event(embassy, capacity=10, guests_allowed=2, guests_named=True)
    invitation = await invite(event)

    with pytest.raises(InvalidInput) as caught:
        await answer(invitation.id, RsvpAnswer("yes", guests=2, guest_names=["Ana Ruiz", " "]))
    assert set(caught.value.fields) == {"guest_name_2"}
    with pytest.raises(InvalidInput) as caught:
        await answer(invitation.id, RsvpAnswer("yes", guests=2, guest_names=["Ana Ruiz"]))
    assert set(caught.value.fields) == {"guest_name_2"}

    done = await answer(
        invitation.id, RsvpAnswer("yes", guests=2, guest_names=[" Ana Ruiz ", "Li Wei", "x"])
    )
    assert done.guest_names == ["Ana Ruiz", "Li Wei"]


async def test_unnamed_guests_keep_no_names(embassy, make_event, invite):
    event = await make_event(embassy, guests_allowed=1, guests_named=False)
    done = await answer(
        (await invite(event)).id, RsvpAnswer("yes", guests=1, guest_names=["Someone"])
    )
    assert done.guests == 1 and done.guest_names == []


async def test_after_the_deadline_answers_are_refused(embassy, make_event, invite):
    now = utcnow()
    event = await make_event(embassy, rsvp_deadline=now + timedelta(days=1))
    invitation = await invite(event)
    await answer(invitation.id, RsvpAnswer("yes"), now=now)

    with pytest.raises(Conflict, match="closed"):
        await answer(invitation.id, RsvpAnswer("no"), now=now + timedelta(days=1, seconds=1))

    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.YES


async def test_without_a_deadline_answers_close_at_the_start(embassy, make_event, invite):
    start = utcnow() + timedelta(hours=3)
    event = await make_event(embassy, starts_at=start, rsvp_deadline=None)
    invitation = await invite(event)
    with pytest.raises(Conflict):
        await answer(invitation.id, RsvpAnswer("yes"), now=start)
    assert (
        await answer(invitation.id, RsvpAnswer("yes"), now=start - timedelta(seconds=1))
    ).status == "yes"


async def test_a_cancelled_event_takes_no_answers(embassy, make_event, invite):
    event = await make_event(embassy, status=EventStatus.CANCELLED)
    invitation = await invite(event)
    with pytest.raises(Conflict, match="cancelled"):
        await answer(invitation.id, RsvpAnswer("yes"))


async def test_a_revoked_invitation_cannot_answer(embassy, make_event, invite):
    event = await make_event(embassy)
    invitation = await invite(event, status=InvitationStatus.REVOKED)
    with pytest.raises(NotFound):
        await answer(invitation.id, RsvpAnswer("yes"))
    with pytest.raises(NotFound):
        await answer(invitation.id + 1000, RsvpAnswer("yes"))


async def test_more_guests_than_free_seats_keeps_the_seat(embassy, make_event, invite):
    event = await make_event(embassy, capacity=3, guests_allowed=3)
    first, second = await invite(event), await invite(event)
    await answer(first.id, RsvpAnswer("yes", guests=1))
    await answer(second.id, RsvpAnswer("yes"))

    with pytest.raises(InvalidInput) as caught:
        await answer(second.id, RsvpAnswer("yes", guests=2))

    assert "at most 0 guest" in caught.value.fields["guests"]
    stored = await Invitation.get(id=second.id)
    assert stored.status == InvitationStatus.YES and stored.guests == 0
    assert await _seats(event) == 3


def test_parse_answer_reads_the_form_fields():
    event = Event(guests_allowed=2, questions=QUESTIONS)

    given = parse_answer(
        {
            "status": "yes",
            "guests": "2",
            "guest_name_1": "Ana",
            "guest_name_2": "Li",
            "guest_name_3": "ignored",
            "q_menu": "Fish",
            "q_other": "ignored",
        },
        event,
    )

    assert given == RsvpAnswer(
        "yes",
        guests=2,
        guest_names=["Ana", "Li"],
        answers={"diet": "", "menu": "Fish", "parking": ""},
    )
    assert parse_answer({"status": "no"}, event).guests == 0
    with pytest.raises(InvalidInput) as caught:
        parse_answer({"status": "yes", "guests": "two"}, event)
    assert set(caught.value.fields) == {"guests"}


# --- Open events, and one's own invitations -------------------------------------------


async def test_an_open_event_is_answered_without_an_invitation(
    db, make_embassy, make_event, make_alumnus
):
    embassy = await make_embassy(code="NBO", country="KE")
    event = await make_event(embassy, visibility=Visibility.OPEN, capacity=5)
    person = await make_alumnus(country="KE")

    first = await answer_open_event(person, event.id, RsvpAnswer("yes"))
    second = await answer_open_event(person, event.id, RsvpAnswer("no"))

    assert first.id == second.id and first.source == InvitationSource.OPEN
    assert second.status == InvitationStatus.NO
    assert await Invitation.filter(event_id=event.id).count() == 1


async def test_an_open_event_is_only_for_its_countries(db, make_embassy, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE")
    open_event = await make_event(embassy, visibility=Visibility.OPEN)
    closed = await make_event(embassy, visibility=Visibility.INVITATION)
    outsider = await make_alumnus(country="LV")
    insider = await make_alumnus(country="KE")

    with pytest.raises(NotFound):
        await answer_open_event(outsider, open_event.id, RsvpAnswer("yes"))
    with pytest.raises(NotFound):
        await answer_open_event(insider, closed.id, RsvpAnswer("yes"))
    assert await Invitation.all().count() == 0


async def test_invitations_of_an_alumnus(embassy, make_event, make_alumnus, invite):
    person = await make_alumnus()
    soon = await make_event(embassy, starts_at=utcnow() + timedelta(days=2))
    later = await make_event(embassy, starts_at=utcnow() + timedelta(days=9))
    revoked = await make_event(embassy)
    draft = await make_event(embassy, status=EventStatus.DRAFT)
    await invite(later, person)
    await invite(soon, person)
    await invite(revoked, person, status=InvitationStatus.REVOKED)
    await invite(draft, person)
    await invite(soon)  # someone else's

    found = await invitations_of_alumnus(person)

    assert [i.event.id for i in found] == [soon.id, later.id]
    assert found[0].event.embassy.code == "RIX"


# --- Links ------------------------------------------------------------------------------


async def test_a_link_opens_its_invitation(settings, embassy, make_event, invite):
    invitation = await invite(await make_event(embassy))

    url = rsvp_url(settings, invitation)
    token = rsvp_token(settings, invitation)

    assert url == f"{settings.app.base_url}/rsvp/{token}"
    found = await invitation_for_token(settings, token)
    assert found is not None and found.id == invitation.id and found.event.id is not None


async def test_links_that_are_not_valid(settings, embassy, make_event, invite):
    event = await make_event(embassy)
    invitation = await invite(event)
    token = rsvp_token(settings, invitation)
    other_purpose = token.replace(token.rsplit(".", 1)[1], "A" * 43)

    assert await invitation_for_token(settings, other_purpose) is None
    assert await invitation_for_token(settings, "nonsense") is None
    assert await invitation_for_token(settings, f"{invitation.id + 99}.1.{'A' * 43}") is None

    await Invitation.filter(id=invitation.id).update(token_version=2)
    assert await invitation_for_token(settings, token) is None  # an older link
    fresh = await Invitation.get(id=invitation.id)
    assert await invitation_for_token(settings, rsvp_token(settings, fresh)) is not None

    await Invitation.filter(id=invitation.id).update(status=InvitationStatus.REVOKED)
    assert await invitation_for_token(settings, rsvp_token(settings, fresh)) is None


async def test_a_link_expires_a_month_after_the_event(settings, embassy, make_event, invite):
    event = await make_event(embassy)
    token = rsvp_token(settings, await invite(event))

    assert await invitation_for_token(settings, token, now=event.ends_at + timedelta(days=29))
    assert not await invitation_for_token(settings, token, now=event.ends_at + timedelta(days=31))


async def test_draft_events_have_no_valid_links_and_cancelled_ones_do(
    settings, embassy, make_event, invite
):
    draft = await invite(await make_event(embassy, status=EventStatus.DRAFT))
    cancelled = await invite(await make_event(embassy, status=EventStatus.CANCELLED))

    assert await invitation_for_token(settings, rsvp_token(settings, draft)) is None
    assert await invitation_for_token(settings, rsvp_token(settings, cancelled)) is not None
