"""A newsletter as people receive it: written, sent and delivered by a real worker to a
real SMTP server (aiosmtpd), personal to each recipient, readable on a phone; then one
click on its List-Unsubscribe link stops the next issue, and nothing else."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import httpx

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.events.models import Visibility
from engage.invitations.links import rsvp_url
from engage.invitations.models import Invitation
from engage.mail.models import (
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.newsletters import sending, services

_LINKS = re.compile(r"<(https?://[^>]+)>,\s*<mailto:([^>]+)>")
BODY = """Dear {{ rank | "colleague" }} {{ preferred_name }},

## From {{ embassy | "the programme" }}

Read [the annual report](https://example.org/report?year=2026&lang=en).

<script>alert("no")</script>
"""


async def _deliver(worker, clock) -> int:
    # The worker runs on a fake clock; the rows were queued at the real time.
    clock.now = utcnow() + timedelta(minutes=5)
    return await worker.run_until_empty()


def _by_recipient(smtp_server) -> dict[str, EmailMessage]:
    return {r.rcpt_tos[0]: r.message for r in smtp_server.received}


def _parts(message: EmailMessage) -> tuple[str, str]:
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


async def _send(staff, subject: str, **extra) -> int:
    issue = await services.create_newsletter(
        staff,
        {"subject": subject, "body": BODY, "filter": {"country": ["KE"]}, **extra},
    )
    await services.send_newsletter(staff, issue.id)
    done = await sending.run_send(issue.id, owner="test-runner")
    return done.id


async def test_a_newsletter_received_then_unsubscribed_in_one_click(
    app,
    worker,
    clock,
    smtp_server,
    relay_settings,
    actor_for,
    make_embassy,
    make_event,
    make_alumnus,
):
    embassy = await make_embassy(code="NBO", country="KE")
    soon = utcnow() + timedelta(days=12)
    reception = await make_event(
        embassy, title="Open reception", visibility=Visibility.OPEN, starts_at=soon
    )
    dinner = await make_event(embassy, title="Closed dinner", starts_at=soon + timedelta(days=1))
    ama = await make_alumnus(
        country="KE", given_name="Amaka", preferred_name="Ama", rank="Major",
        email="ama@example.org",
    )  # fmt: skip
    await make_alumnus(country="KE", given_name="Kofi", email="kofi@example.org")
    invitation = await Invitation.create(event=dinner, alumnus=ama, invited_at=utcnow())
    staff = await actor_for(Role.STAFF)

    issue_id = await _send(staff, "News for {{ preferred_name }}", sections=["events"])
    assert await _deliver(worker, clock) == 2
    received = _by_recipient(smtp_server)
    assert set(received) == {"ama@example.org", "kofi@example.org"}

    message = received["ama@example.org"]
    assert message["Subject"] == "News for Ama"
    assert message["To"].addresses[0].addr_spec == "ama@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = _parts(message)
    for part in (text, html):
        assert "Dear Major Ama," in part
        assert "From Embassy NBO" in part
        assert "Open reception" in part and "Closed dinner" in part
        assert rsvp_url(relay_settings, invitation) in part
        assert f"/newsletters/archive/{issue_id}" in part  # view in browser
    # Readable on a phone: one fluid column, CSS inlined, images scale, no script.
    assert "<style" not in html and 'name="viewport"' in html
    assert "max-width: 600px" in html or "max-width:600px" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'href="https://example.org/report?year=2026&amp;lang=en"' in html

    other_text, other_html = _parts(received["kofi@example.org"])
    assert "Dear colleague Kofi," in other_text
    assert "Open reception" in other_text
    assert "Closed dinner" not in other_text and "Closed dinner" not in other_html
    assert "/rsvp/" not in other_text
    assert reception.id  # (shown to both: an open event at their embassy)

    # Each copy carries its own unsubscribe links, the https one also in the footer.
    match = _LINKS.fullmatch(" ".join(str(message["List-Unsubscribe"]).split()))
    assert match, message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = match.group(1)
    assert link in text and link in html
    assert link not in other_text

    # One click in the mail program: a POST without cookies, session or CSRF token.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mail.example") as mua:
        clicked = await mua.post(
            httpx.URL(link).path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert clicked.status_code == 200, clicked.text
    assert not clicked.is_redirect and "set-cookie" not in clicked.headers
    row = await OutboxMessage.get(campaign=f"newsletter:{issue_id}", to_address="ama@example.org")
    entry = await Suppression.get(address_key="ama@example.org")
    assert (entry.scope, entry.reason, entry.message_id) == (
        SuppressionScope.NEWSLETTER,
        SuppressionReason.UNSUBSCRIBED,
        row.id,
    )
    stats = await services.newsletter_stats(staff, issue_id)
    assert (stats["recipients"], stats["delivered"], stats["unsubscribed"]) == (2, 2, 1)

    # Her newsletter consent went with it (the person, beside the address).
    await ama.refresh_from_db()
    assert (ama.accepts_newsletter, ama.accepts_invitations) == (False, True)
    assert ama.newsletter_consent_source == "unsubscribe link"

    # The next issue leaves her out (and says why); Kofi still gets it.
    smtp_server.received.clear()
    second = await _send(staff, "More news")
    assert await _deliver(worker, clock) == 1
    assert list(_by_recipient(smtp_server)) == ["kofi@example.org"]
    following = await services.get_newsletter(staff, second)
    assert following.skipped == {"no_consent": 1}
    # Invitations are another topic: not stopped by a newsletter unsubscribe.
    assert not await Suppression.exists(
        address_key="ama@example.org", scope__in=[SuppressionScope.INVITATIONS]
    )
    assert {r.topic for r in await OutboxMessage.filter(status=Status.SENT)} == {Topic.NEWSLETTER}


async def test_send_me_a_test_arrives(worker, clock, smtp_server, relay_settings, actor_for):
    staff = await actor_for(Role.STAFF)
    issue = await services.create_newsletter(
        staff, {"subject": "Draft for {{ preferred_name }}", "body": BODY, "filter": {}}
    )
    await services.send_test(staff, issue.id, relay_settings)
    assert await _deliver(worker, clock) == 1
    (message,) = smtp_server.messages()
    assert message["Subject"] == "[Test] Draft for [preferred_name]"
    assert message["List-Unsubscribe"] is None  # the author's copy, not bulk mail
    text, _html = _parts(message)
    assert "Dear colleague [preferred_name]," in text
    assert "Test copy" in text


async def test_tracking_when_on_and_one_frame_per_campaign(
    db, settings, tmp_path, actor_for, make_alumnus
):
    from urllib.parse import parse_qs, urlsplit

    from engage.mail.render import Renderer
    from engage.newsletters.tracking import follow_click
    from tests.conftest import make_settings

    people = [await make_alumnus(country="KE", given_name=f"P{n}") for n in range(3)]
    staff = await actor_for(Role.STAFF)
    issue_id = await _send(staff, "News")
    rows = await OutboxMessage.filter(campaign=f"newsletter:{issue_id}").order_by("id")
    assert [r.recipient_id for r in rows] == [p.id for p in people]

    # Off (the default): links as written, no pixel; one frame for the campaign.
    plain = Renderer(settings)
    for row in rows:
        html = (await plain.render(row, now=utcnow())).get_body(("html",)).get_content()
        assert 'href="https://example.org/report?year=2026&amp;lang=en"' in html
        assert "/t/" not in html
    assert plain.counts["frames"] == 1 and plain.counts["filled"] == 3

    on = make_settings(settings.database.url, tmp_path / "on", newsletters={"tracking": True})
    tracked = Renderer(on)
    clicks = []
    for row in rows:
        message = await tracked.render(row, now=utcnow())
        html = message.get_body(("html",)).get_content()
        assert 'href="https://example.org/report' not in html
        (href,) = re.findall(r'href="([^"]*/t/c/[^"]*)"', html)
        assert f'src="{on.app.base_url}/t/o/' in html  # the open pixel
        # The unsubscribe and archive links are left alone.
        assert f"{on.app.base_url}/unsubscribe/" in html
        assert f"/newsletters/archive/{issue_id}" in html
        clicks.append(href.replace("&amp;", "&"))
    assert len(set(clicks)) == 3  # each copy its own
    assert tracked.counts["frames"] == 1
    parts = urlsplit(clicks[0])
    query = parse_qs(parts.query)
    click = await follow_click(on, parts.path.rsplit("/", 1)[1], query["u"][0], query["s"][0])
    assert click.url == "https://example.org/report?year=2026&lang=en"
    assert click.message_id == rows[0].id
