"""The events API: the contract (paths, status codes, JSON fields, times with their
zone's offset) and who may call what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from engage.accounts.api_tokens import create_api_token
from engage.accounts.models import Role
from engage.events.models import Event, EventStatus, Visibility
from engage.invitations.models import Invitation

CONTRACT_FIELDS = {
    "id",
    "embassy",
    "kind",
    "title",
    "description",
    "description_html",
    "venue",
    "address",
    "online_url",
    "starts_at",
    "ends_at",
    "timezone",
    "capacity",
    "guests_allowed",
    "guests_named",
    "rsvp_deadline",
    "questions",
    "dress_code",
    "visibility",
    "status",
    "sequence",
}
NEW = {
    "embassy": "RIX",
    "kind": "reception",
    "title": "Midsummer reception",
    "starts_at": "2026-06-19T18:00",
}


@pytest.fixture
async def places(db, make_embassy):
    rix = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga", city="Riga")
    bkk = await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok", city="Bangkok")
    return rix, bkk


@pytest.fixture
async def as_user(client, places, make_user, sign_in):
    async def sign(role: Role, embassies=()):
        user = await make_user(role=role, embassies=list(embassies))
        await sign_in(client, user)
        return user

    return sign


async def test_create_read_and_change_an_event(client, as_user):
    await as_user(Role.ATTACHE, ["RIX"])
    response = await client.post(
        "/api/v1/events",
        json={**NEW, "ends_at": "2026-06-19T21:30", "rsvp_deadline": "2026-06-15T12:00"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["embassy"] == "RIX" and body["timezone"] == "Europe/Riga"
    assert body["starts_at"] == "2026-06-19T18:00:00+03:00"
    assert body["ends_at"] == "2026-06-19T21:30:00+03:00"
    assert body["rsvp_deadline"] == "2026-06-15T12:00:00+03:00"
    assert body["status"] == "draft" and body["sequence"] == 0
    assert body["capacity"] == 80 and body["guests_named"] is True  # the kind's defaults
    assert [q["id"] for q in body["questions"]] == ["dietary", "in_uniform"]
    stored = await Event.get(id=body["id"])
    assert stored.starts_at == datetime(2026, 6, 19, 15, 0, tzinfo=UTC)

    again = await client.get(f"/api/v1/events/{body['id']}")
    assert again.status_code == 200 and again.json() == body

    # Moved into winter time: the offset follows the date.
    patched = await client.patch(
        f"/api/v1/events/{body['id']}", json={"starts_at": "2026-12-04T18:00", "venue": "Hall"}
    )
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert changed["starts_at"] == "2026-12-04T18:00:00+02:00"
    assert changed["ends_at"] == "2026-12-04T21:30:00+02:00"  # the length is kept
    assert (changed["venue"], changed["sequence"]) == ("Hall", 1)

    published = await client.post(f"/api/v1/events/{body['id']}/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
    cancelled = await client.post(
        f"/api/v1/events/{body['id']}/cancel", json={"reason": "Venue flooded"}
    )
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["sequence"]) == ("cancelled", 2)
    for response in (
        await client.post(f"/api/v1/events/{body['id']}/cancel"),
        await client.patch(f"/api/v1/events/{body['id']}", json={"title": "Back on"}),
        await client.post(f"/api/v1/events/{body['id']}/publish", json={}),
    ):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"


async def test_bangkok_and_the_offset_given_on_input(client, as_user):
    await as_user(Role.STAFF)
    response = await client.post(
        "/api/v1/events",
        json={**NEW, "embassy": "BKK", "kind": "webinar", "starts_at": "2026-03-29T10:00+02:00"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["starts_at"] == "2026-03-29T15:00:00+07:00"
    assert body["embassy"] == "BKK" and body["timezone"] == "Asia/Bangkok"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_at": "2026-03-29T03:30"}, "starts_at"),  # skipped by the clocks in Riga
        ({"starts_at": "soon"}, "starts_at"),
        ({"ends_at": "2026-06-19T17:00"}, "ends_at"),
        ({"kind": "garden_party"}, "kind"),
        ({"title": ""}, "title"),
        ({"capacity": -1}, "capacity"),
        ({"guests_allowed": 11}, "guests_allowed"),
        ({"online_url": "http://meet.example.org"}, "online_url"),
        ({"visibility": "everyone"}, "visibility"),
        ({"status": "cancelled"}, "status"),
        ({"questions": [{"id": "q", "label": "Pick", "type": "choice"}]}, "questions"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_input_answers_422_naming_the_field(client, as_user, changes, field):
    await as_user(Role.ATTACHE, ["RIX"])
    response = await client.post("/api/v1/events", json={**NEW, **changes})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert any(name == field or name.startswith(field + ".") for name in error["fields"])
    assert not await Event.exists()


async def test_scope(client, as_user, places, make_event):
    rix, bkk = places
    theirs = await make_event(bkk)
    ours = await make_event(rix)
    await as_user(Role.ATTACHE, ["RIX"])
    assert (await client.post("/api/v1/events", json={**NEW, "embassy": "BKK"})).status_code == 403
    for response in (
        await client.get(f"/api/v1/events/{theirs.id}"),
        await client.patch(f"/api/v1/events/{theirs.id}", json={"title": "Mine"}),
        await client.post(f"/api/v1/events/{theirs.id}/publish", json={}),
        await client.post(f"/api/v1/events/{theirs.id}/cancel", json={}),
        await client.get("/api/v1/events/99999999"),
        await client.get("/api/v1/events?embassy=BKK"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    listed = (await client.get("/api/v1/events?when=all")).json()
    assert [e["id"] for e in listed["items"]] == [ours.id]
    assert (await Event.get(id=theirs.id)).title != "Mine"


async def test_signed_out_callers_are_refused(client, places, make_event):
    event = await make_event(places[0], visibility=Visibility.OPEN)
    assert (await client.get("/api/v1/events")).status_code == 401
    assert (await client.get(f"/api/v1/events/{event.id}")).status_code == 401
    # A write with no credentials at all is unauthenticated too (not a CSRF failure).
    assert (await client.post("/api/v1/events", json=NEW)).status_code == 401
    assert not await Event.exists(title=NEW["title"])


async def test_an_alumnus_reads_with_a_token_and_never_writes(
    client, places, make_user, make_alumnus, make_event
):
    rix, bkk = places
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country="LV", user=user)
    raw, _token = await create_api_token(user, name="calendar sync")
    headers = {"Authorization": f"Bearer {raw}"}
    open_here = await make_event(rix, visibility=Visibility.OPEN)
    invitation_only = await make_event(rix)
    draft = await make_event(rix, visibility=Visibility.OPEN, status=EventStatus.DRAFT)
    invited = await make_event(bkk)
    await Invitation.create(event=invited, alumnus=person, invited_at=datetime.now(UTC))

    listed = await client.get("/api/v1/events", headers=headers)
    assert listed.status_code == 200, listed.text
    assert {e["id"] for e in listed.json()["items"]} == {open_here.id, invited.id}
    assert (await client.get(f"/api/v1/events/{open_here.id}", headers=headers)).status_code == 200
    for hidden in (invitation_only, draft):
        response = await client.get(f"/api/v1/events/{hidden.id}", headers=headers)
        assert response.status_code == 404
    response = await client.post("/api/v1/events", json=NEW, headers=headers)
    assert response.status_code == 403
    response = await client.patch(
        f"/api/v1/events/{open_here.id}", json={"title": "Mine"}, headers=headers
    )
    assert response.status_code == 403


async def test_listing_pages(client, as_user, places, make_event):
    rix, _ = places
    now = datetime.now(UTC).replace(microsecond=0)
    upcoming = [await make_event(rix, starts_at=now + timedelta(days=d)) for d in (3, 1, 2)]
    past = await make_event(rix, starts_at=now - timedelta(days=10))
    await as_user(Role.STAFF)
    first = (await client.get("/api/v1/events?page_size=2")).json()
    assert (first["total"], first["pages"], first["page"], first["page_size"]) == (3, 2, 1, 2)
    second = (await client.get("/api/v1/events", params={"page_size": 2, "page": 2})).json()
    soonest = sorted(upcoming, key=lambda e: e.starts_at)
    assert [e["id"] for e in first["items"] + second["items"]] == [e.id for e in soonest]
    older = (await client.get("/api/v1/events?when=past")).json()
    assert [e["id"] for e in older["items"]] == [past.id]
    assert (await client.get("/api/v1/events?when=someday")).status_code == 422
    assert (await client.get("/api/v1/events?page_size=0")).status_code == 422


HOSTILE = """\
<script>alert('x')</script>

<img src=x onerror="alert(1)">

[Directions](javascript:alert(document.cookie)) and [map](JAVASCRIPT:alert(2))

<a href="javascript:alert(3)" onclick="alert(4)">click</a>

![pic](javascript:alert(5)) <svg onload=alert(6)></svg> <iframe src="https://evil.example">

**Dress code**: [details](https://embassy.example.org/dress)
"""


async def test_hostile_markdown_never_reaches_description_html(client, as_user):
    await as_user(Role.ATTACHE, ["RIX"])
    response = await client.post("/api/v1/events", json={**NEW, "description": HOSTILE})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["description"] == HOSTILE.strip()  # kept as written
    html = body["description_html"]
    tags = _tags(html)
    # The hostile parts are shown as text, never as elements or attributes.
    assert {name for name, _ in tags} <= {"p", "strong", "a", "img"}
    for name, attrs in tags:
        for attr, value in attrs:
            assert not attr.startswith("on"), (name, attr)
            assert not (value or "").lower().strip().startswith("javascript:"), (name, value)
    assert (
        "a",
        [("href", "https://embassy.example.org/dress"), ("rel", "noopener noreferrer")],
    ) in tags
    assert "<strong>Dress code</strong>" in html


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found
