"""The personal digest: upcoming events each recipient may attend (with their own RSVP
link; an invitation-only event never shown to someone not invited), alumni news of
those who share it, and empty sections left out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from engage.accounts.models import Role
from engage.alumni.models import Alumnus, AlumnusStatus, CareerEntry, CareerSource
from engage.events.models import Event, EventStatus, Visibility
from engage.events.services import visible_to_alumnus_q
from engage.invitations.links import rsvp_url
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.models import OutboxMessage
from engage.mail.render import Renderer
from engage.newsletters import sending, services
from engage.newsletters.sections import alumni_news, upcoming_events

NOW = datetime.now(UTC).replace(microsecond=0)


async def _invite(event, person, status=InvitationStatus.INVITED) -> Invitation:
    return await Invitation.create(event=event, alumnus=person, status=status, invited_at=NOW)


async def _world(make_embassy, make_event, make_alumnus):
    """Nairobi's embassy serves Kenya and Uganda; Accra's serves Ghana."""
    nbo = await make_embassy(code="NBO", country="KE", accredited=["KE", "UG"])
    acc = await make_embassy(code="ACC", country="GH", city="Accra", timezone="Africa/Accra")
    soon = NOW + timedelta(days=10)
    events = {
        "open": await make_event(
            nbo, title="Open reception", visibility=Visibility.OPEN, starts_at=soon
        ),
        "closed": await make_event(nbo, title="Closed dinner", starts_at=soon + timedelta(1)),
        "accra": await make_event(
            acc, title="Accra open day", visibility=Visibility.OPEN, starts_at=soon
        ),
        "far": await make_event(
            nbo, title="Far away", visibility=Visibility.OPEN, starts_at=NOW + timedelta(weeks=9)
        ),
        "past": await make_event(
            nbo, title="Already over", visibility=Visibility.OPEN, starts_at=NOW - timedelta(1)
        ),
        "draft": await make_event(
            nbo, title="Draft", visibility=Visibility.OPEN, status=EventStatus.DRAFT
        ),
        "cancelled": await make_event(
            nbo, title="Cancelled", visibility=Visibility.OPEN, status=EventStatus.CANCELLED
        ),
    }
    people = {
        "invited": await make_alumnus(country="KE", given_name="Invited"),
        "kenyan": await make_alumnus(country="KE", given_name="Kenyan"),
        "ghanaian": await make_alumnus(country="GH", given_name="Ghanaian"),
        "revoked": await make_alumnus(country="UG", given_name="Revoked"),
    }
    await _invite(events["closed"], people["invited"])
    await _invite(events["open"], people["invited"], InvitationStatus.YES)
    await _invite(events["closed"], people["revoked"], InvitationStatus.REVOKED)
    return events, people


async def test_events_each_recipient_may_attend(
    db, settings, make_embassy, make_event, make_alumnus
):
    events, people = await _world(make_embassy, make_event, make_alumnus)

    async def titles(person):
        found, links = await upcoming_events(person, weeks=6, now=NOW, settings=settings)
        return [e["title"] for e in found], found, links

    shown, found, links = await titles(people["invited"])
    assert shown == ["Open reception", "Closed dinner"]
    invitation = await Invitation.get(event=events["closed"], alumnus=people["invited"])
    closed = found[1]
    assert closed["invited"] and not closed["answered"]
    assert links[closed["link"]] == rsvp_url(settings, invitation)
    assert found[0]["answered"]  # said yes: "see or change your answer"
    assert found[0]["when"].endswith("Nairobi time (UTC+3)")
    # An invitation-only event is never shown to someone not invited (or revoked).
    assert (await titles(people["kenyan"]))[0] == ["Open reception"]
    assert (await titles(people["revoked"]))[0] == ["Open reception"]
    kenyan = (await titles(people["kenyan"]))[1][0]
    assert (kenyan["link"], kenyan["url"]) == (
        "",
        f"{settings.app.base_url}/events/{events['open'].id}",
    )
    assert (await titles(people["ghanaian"]))[0] == ["Accra open day"]
    # Exactly what the events pages show each of them (the one rule), in the window.
    for person in people.values():
        expected = await Event.filter(
            visible_to_alumnus_q(person),
            starts_at__gt=NOW,
            starts_at__lte=NOW + timedelta(weeks=6),
        ).order_by("starts_at", "id")
        assert (await titles(person))[0] == [e.title for e in expected]
    # Further ahead with more weeks.
    far, _links = await upcoming_events(people["kenyan"], weeks=10, now=NOW, settings=settings)
    assert [e["title"] for e in far] == ["Open reception", "Far away"]


async def _career(person, *, rank, days_ago=1, source=CareerSource.STAFF_VERIFIED, **fields):
    entry = await CareerEntry.create(
        alumnus=person,
        rank=rank,
        position=fields.pop("position", "Chief of Staff"),
        effective_date=fields.pop("effective_date", date(2026, 6, 1)),
        source=source,
        **fields,
    )
    await CareerEntry.filter(id=entry.id).update(created_at=NOW - timedelta(days=days_ago))
    return entry


async def test_alumni_news_of_those_who_share_it(db, make_alumnus):
    sharing = await make_alumnus(country="KE", given_name="Sharing", shares_news=True)
    private = await make_alumnus(country="KE", given_name="Private")
    flagged = await make_alumnus(country="KE", shares_news=True, do_not_engage=True)
    deceased = await make_alumnus(country="KE", shares_news=True, status=AlumnusStatus.DECEASED)
    unchecked = await make_alumnus(country="KE", given_name="Unchecked", shares_news=True)
    await _career(sharing, rank="Colonel", days_ago=40)  # before the window
    await _career(sharing, rank="Brigadier General", position="Commandant")
    await _career(private, rank="General")
    await _career(flagged, rank="General")
    await _career(deceased, rank="General")
    await _career(unchecked, rank="Field Marshal", source=CareerSource.SELF_REPORTED)
    news = await alumni_news(NOW - timedelta(days=30), now=NOW)
    assert news == [
        {
            "name": f"Sharing {sharing.family_name}",
            "country": "Country KE",
            "rank": "Brigadier General",
            "position": "Commandant",
            "since": "1 June 2026",
        }
    ]
    # Verified by staff, a self-reported entry is news too.
    await CareerEntry.filter(alumnus=unchecked).update(verified_at=NOW)
    # Latest effective date first (then the latest recorded).
    assert [n["rank"] for n in await alumni_news(NOW - timedelta(days=30), now=NOW)] == [
        "Field Marshal",
        "Brigadier General",
    ]


async def test_each_copy_has_its_own_digest_and_empty_sections_are_left_out(
    db, settings, actor_for, make_embassy, make_event, make_alumnus
):
    events, people = await _world(make_embassy, make_event, make_alumnus)
    staff = await actor_for(Role.STAFF)
    issue = await services.create_newsletter(
        staff,
        {
            "subject": "Monthly bulletin",
            "body": 'Dear {{ preferred_name | "colleague" }},',
            "filter": {},
            "sections": ["events", "news"],
        },
    )
    await services.send_newsletter(staff, issue.id)
    await sending.run_send(issue.id, owner="w1")
    renderer = Renderer(settings)
    copies = {}
    for row in await OutboxMessage.filter(campaign=f"newsletter:{issue.id}"):
        msg = await renderer.render(row, now=NOW)
        copies[row.recipient_id] = (
            msg.get_body(("plain",)).get_content(),
            msg.get_body(("html",)).get_content(),
        )
    invitation = await Invitation.get(event=events["closed"], alumnus=people["invited"])
    text, html = copies[people["invited"].id]
    assert "Dear Invited," in text
    assert "Closed dinner" in text and rsvp_url(settings, invitation) in text
    assert rsvp_url(settings, invitation) in html
    text, html = copies[people["kenyan"].id]
    assert "Dear Kenyan," in text and "Open reception" in text
    assert "Closed dinner" not in text and "Closed dinner" not in html
    assert "/rsvp/" not in text
    text, html = copies[people["ghanaian"].id]
    assert "Accra open day" in text and "Open reception" not in text
    # Nobody shares news: that section is left out of every copy, heading and all.
    assert all("Alumni news" not in t and "Alumni news" not in h for t, h in copies.values())
    # Someone with no event in reach gets no events section either.
    lonely = await make_alumnus(country="ZA", given_name="Lonely")
    await _career(people["kenyan"], rank="Colonel")
    await Alumnus.filter(id=people["kenyan"].id).update(shares_news=True)
    preview = await services.render_preview(issue, recipient=lonely, settings=settings)
    assert "Coming up for you" not in preview.text and "Coming up for you" not in preview.html
    assert "Alumni news" in preview.text
