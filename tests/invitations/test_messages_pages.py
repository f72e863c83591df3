"""The pages for writing to invitees: the form, the preview (count, first names, who is
left out and why, the body as it will look), sending, the list; scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from engage.accounts.models import Role
from engage.invitations.models import Invitation, InviteeMessage
from engage.mail.models import OutboxMessage

STARTS = datetime(2031, 6, 13, 15, 0, tzinfo=UTC)


@pytest.fixture
async def reception(app, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE")
    attache = await make_user(role=Role.ATTACHE, embassies=["NBO"], email="wanjiru@embassy.example")
    event = await make_event(embassy, title="Jamhuri reception", starts_at=STARTS)
    for n in range(53):
        person = await make_alumnus(country="KE", given_name="Amani", family_name=f"Coming{n:02}")
        await Invitation.create(event=event, alumnus=person, status="yes", invited_at=STARTS)
    refused = await make_alumnus(country="KE", accepts_invitations=False)
    await Invitation.create(event=event, alumnus=refused, status="yes", invited_at=STARTS)
    maybe = await make_alumnus(country="KE", given_name="Baraka", family_name="Maybe")
    await Invitation.create(event=event, alumnus=maybe, status="maybe", invited_at=STARTS)
    return event, attache


async def test_preview_then_send(client, sign_in, reception):
    event, attache = reception
    await sign_in(client, attache)

    form = await client.get(f"/events/{event.id}/messages/new?statuses=coming")
    assert form.status_code == 200
    assert re.search(r'value="coming" checked', form.text)
    assert 'value="no_show"' in form.text and "Did not attend" in form.text

    fields = {
        "statuses": ["coming", "maybe"],
        "subject": "Parking at the residence",
        "body": "Please use **gate 2**. <script>alert(1)</script>",
        "action": "preview",
    }
    preview = await client.post(f"/events/{event.id}/messages/new", data=fields)
    assert preview.status_code == 200
    assert "54 people will receive it." in preview.text
    assert "1 is left out." in preview.text and "No consent to invitations" in preview.text
    names = re.search(r'<ul class="names" id="preview-names">(.*?)</ul>', preview.text, re.S)
    assert names is not None and names.group(1).count("<li>") == 50
    assert "The first 50, by family name" in preview.text
    assert "Amani Coming00" in preview.text and "Baraka Maybe" not in preview.text  # 51st
    assert "<strong>gate 2</strong>" in preview.text
    assert "<script>alert(1)</script>" not in preview.text
    assert "Send to 54 people" in preview.text
    assert not await InviteeMessage.exists()

    sent = await client.post(f"/events/{event.id}/messages/new", data={**fields, "action": "send"})
    assert sent.status_code == 303
    message = await InviteeMessage.get(event_id=event.id)
    assert sent.headers["location"] == f"/events/{event.id}/messages?sent={message.id}"
    assert message.recipients == 54 and message.skipped == {"no_consent": 1}
    assert await OutboxMessage.filter(template="invitee_message").count() == 54

    listing = await client.get(sent.headers["location"])
    assert listing.status_code == 200
    assert "Your message is on its way to 54 people." in listing.text
    assert "Parking at the residence" in listing.text
    assert "To: Coming, Maybe." in listing.text
    assert "by wanjiru@embassy.example" in listing.text
    assert "<strong>gate 2</strong>" in listing.text


async def test_what_is_missing_is_said_beside_its_field(client, sign_in, reception):
    event, attache = reception
    await sign_in(client, attache)

    none_chosen = await client.post(
        f"/events/{event.id}/messages/new",
        data={"subject": "Hi", "body": "Hello", "action": "send"},
    )
    assert none_chosen.status_code == 422
    assert 'id="statuses-error"' in none_chosen.text

    no_subject = await client.post(
        f"/events/{event.id}/messages/new",
        data={"statuses": ["coming"], "subject": "", "body": "Hello", "action": "send"},
    )
    assert no_subject.status_code == 422
    assert 'id="subject-error"' in no_subject.text and "Hello" in no_subject.text
    assert not await InviteeMessage.exists()


async def test_another_embassy_gets_404_and_an_alumnus_403(
    client, sign_in, reception, make_embassy, make_user
):
    event, _attache = reception
    await make_embassy(code="ACC", country="GH")
    other = await make_user(role=Role.ATTACHE, embassies=["ACC"])
    alumnus = await make_user(role=Role.ALUMNUS)
    send = {"statuses": ["coming"], "subject": "Hi", "body": "Hello", "action": "send"}

    for user, status in ((other, 404), (alumnus, 403)):
        client.cookies.clear()
        await sign_in(client, user)
        assert (await client.get(f"/events/{event.id}/messages")).status_code == status
        assert (await client.get(f"/events/{event.id}/messages/new")).status_code == status
        posted = await client.post(f"/events/{event.id}/messages/new", data=send)
        assert posted.status_code == status
    assert not await InviteeMessage.exists()


async def test_staff_write_to_any_event_and_an_empty_list_says_so(
    client, sign_in, reception, make_user
):
    event, _attache = reception
    await sign_in(client, await make_user(role=Role.STAFF))

    empty = await client.get(f"/events/{event.id}/messages")
    assert empty.status_code == 200 and "No message sent yet." in empty.text

    sent = await client.post(
        f"/events/{event.id}/messages/new",
        data={
            "statuses": ["maybe"],
            "subject": "Still coming?",
            "body": "Tell us.",
            "action": "send",
        },
    )
    assert sent.status_code == 303
    assert (await InviteeMessage.get(event_id=event.id)).recipients == 1


async def test_the_event_page_links_to_the_messages(client, sign_in, reception):
    event, attache = reception
    await sign_in(client, attache)

    page = await client.get(f"/events/{event.id}")

    assert page.status_code == 200
    assert re.search(rf'href="[^"]*/events/{event.id}/messages">Messages to invitees<', page.text)
