"""The check-in QR code as people receive it: a "yes" confirmation, delivered by a real
worker to a real aiosmtpd server, carries the check-in link in its text and the QR
code of that link as an inline image of its HTML; other answers carry neither."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import segno

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.invitations.links import checkin_url, rsvp_url
from engage.invitations.models import Invitation
from engage.invitations.rsvp import RsvpAnswer, answer

#: 18:00 in Nairobi (UTC+3 all year).
STARTS = datetime(2031, 12, 12, 15, 0, tzinfo=UTC)


async def _deliver(worker, clock) -> int:
    clock.now = utcnow() + timedelta(hours=1)
    return await worker.run_until_empty()


@pytest.fixture
async def invited(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    attache = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    event = await make_event(
        embassy,
        title="Jamhuri Day reception",
        starts_at=STARTS,
        created_by=attache,
        capacity=1,
    )

    async def person(given: str) -> Invitation:
        alumnus = await make_alumnus(
            country="KE", given_name=given, email=f"{given.lower()}@example.ke"
        )
        return await Invitation.create(event=event, alumnus=alumnus, invited_at=utcnow())

    return event, person


def _qr(message):
    """The HTML part's inline images, by Content-ID."""
    html = message.get_body(("html",))
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    images = {
        str(p["Content-ID"]).strip("<>"): p
        for p in message.walk()
        if p.get_content_maintype() == "image"
    }
    return html.get_content(), related, images


def _png_of(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


async def test_a_yes_carries_the_check_in_link_and_its_qr_code(
    invited, worker, clock, smtp_server, relay_settings
):
    _event, person = invited
    invitation = await person("Amani")

    await answer(invitation.id, RsvpAnswer("yes"))
    assert await _deliver(worker, clock) == 1

    (message,) = smtp_server.messages()
    assert message["Subject"] == "You are coming: Jamhuri Day reception"
    link = checkin_url(relay_settings, invitation)
    text = message.get_body(("plain",)).get_content()
    assert link in text and rsvp_url(relay_settings, invitation) in text
    assert "show the QR code" in text
    html, related, images = _qr(message)
    cid = f"checkin-{invitation.id}@{relay_settings.mail.domain}"
    assert f'src="cid:{cid}"' in html
    assert len(related) == 1 and set(images) == {cid}
    image = images[cid]
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    data = image.get_content()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    # segno does not decode; the same link encodes to the same image, so this one
    # holds the check-in link.
    assert data == _png_of(link)
    # The calendar file is still attached, beside the inline code.
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    # The link opens the check-in page (tests/invitations/test_checkin.py).
    assert link.startswith(f"{relay_settings.app.base_url}/checkin/")


@pytest.mark.parametrize("status", ["no", "maybe"])
async def test_other_answers_carry_no_check_in(
    invited, worker, clock, smtp_server, relay_settings, status
):
    _event, person = invited
    invitation = await person("Baraka")

    await answer(invitation.id, RsvpAnswer(status))
    assert await _deliver(worker, clock) == 1

    (message,) = smtp_server.messages()
    text = message.get_body(("plain",)).get_content()
    assert "/checkin/" not in text and "QR" not in text
    html, related, images = _qr(message)
    assert "cid:" not in html and related == [] and images == {}


async def test_a_place_from_the_waiting_list_brings_the_code(
    invited, worker, clock, smtp_server, relay_settings
):
    _event, person = invited
    first, second = await person("Chege"), await person("Dalia")
    await answer(first.id, RsvpAnswer("yes"))
    await answer(second.id, RsvpAnswer("yes"))  # full: waitlisted
    await answer(first.id, RsvpAnswer("no"))  # the seat goes to Dalia
    assert await _deliver(worker, clock) == 4

    promoted = [m for m in smtp_server.messages() if m["To"].addresses[0].username == "dalia"]
    waitlisted, now_coming = promoted
    assert "/checkin/" not in waitlisted.get_body(("plain",)).get_content()
    link = checkin_url(relay_settings, second)
    assert link in now_coming.get_body(("plain",)).get_content()
    html, _related, images = _qr(now_coming)
    (cid,) = images
    assert f'src="cid:{cid}"' in html and images[cid].get_content() == _png_of(link)
