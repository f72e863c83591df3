"""Event pages: the list, the form with the kind's defaults, the event, the calendar
file, and what alumni see. Forms are posted as a browser would: every field the page
holds, as the page fills it, with the CSRF token from the form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import icalendar
import pytest

from engage.accounts.models import Role
from engage.events.models import Event, EventStatus, Visibility
from engage.invitations.models import Invitation

RIGA = "Europe/Riga"
#: A year ahead, whatever the date today: times in it are upcoming.
YEAR = datetime.now(UTC).year + 2


class _Forms(HTMLParser):
    """Every form of a page: its action and the fields a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None
        self._selected = False
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "form":
            self.forms.append((a.get("method", "get"), a.get("action", ""), []))
            return
        if not self.forms:
            return
        fields = self.forms[-1][2]
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields.append((name, a.get("value") or "on"))
            elif kind not in ("submit", "button"):
                fields.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = name
            fields.append((name, ""))
        elif tag == "select" and name:
            self._select, self._first_option, self._selected = name, None, False
        elif tag == "option" and self._select:
            value = a.get("value") or ""
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                fields.append((self._select, value))
                self._selected = True

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            if not self._selected and self._first_option is not None:
                self.forms[-1][2].append((self._select, self._first_option))
            self._select = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            name, value = self.forms[-1][2][-1]
            self.forms[-1][2][-1] = (name, value + data.lstrip("\n") if not value else value + data)


def parse(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


def form_of(html: str, action: str) -> dict[str, str]:
    """The fields of the POST form sent to ``action``, as the page fills them."""
    for method, target, fields in parse(html).forms:
        if method.lower() == "post" and urlsplit(target).path == action:
            return dict(fields)
    raise AssertionError(f"no POST form to {action}")


def posts_to(html: str, action: str) -> bool:
    return any(m.lower() == "post" and urlsplit(t).path == action for m, t, _ in parse(html).forms)


def links_to(html: str, path: str) -> bool:
    return any(
        tag == "a" and urlsplit(a.get("href") or "").path == path for tag, a in parse(html).tags
    )


async def submit(client, action: str, data: dict[str, str], button: tuple[str, str] | None = None):
    """Post like a browser: the token from the form, not the test client's header."""
    header = client.headers.pop("X-CSRF-Token")
    try:
        body = dict(data)
        if button:
            body[button[0]] = button[1]
        return await client.post(action, data=body)
    finally:
        client.headers["X-CSRF-Token"] = header


@pytest.fixture
async def riga(client, make_embassy):
    return await make_embassy(
        code="RIX", country="LV", accredited=["LV", "EE"], timezone=RIGA, city="Riga"
    )


@pytest.fixture
async def attache(client, riga, make_user, sign_in):
    user = await make_user(role=Role.ATTACHE, embassies=["RIX"])
    await sign_in(client, user)
    return user


# --- Create --------------------------------------------------------------------------


async def test_attache_creates_an_event_in_the_embassy_zone(client, attache, riga):
    page = await client.get("/events/new?kind=reception")
    assert page.status_code == 200
    assert page.text.count("<h1") == 1
    # One embassy: chosen for them. The kind's defaults fill the form.
    form = form_of(page.text, "/events/new")
    assert form["embassy"] == "RIX" and form["kind"] == "reception"
    assert form["capacity"] == "80" and form["guests_allowed"] == "1"
    assert form["guests_named"] == "on" and form["visibility"] == "invitation"
    assert form["dress_code"].startswith("Business attire")
    assert form["q0_id"] == "dietary" and form["q1_type"] == "yes_no"
    start = datetime.fromisoformat(form["starts_at"])
    end = datetime.fromisoformat(form["ends_at"])
    assert end - start == timedelta(minutes=120)
    assert "Riga time" in page.text  # the zone, named beside the time fields
    assert form["csrf_token"]

    year = YEAR
    form.update(
        title="Summer reception",
        description="**Welcome** to the residence.",
        venue="The Residence",
        starts_at=f"{year}-07-10T18:00",
        ends_at=f"{year}-07-10T20:30",
        rsvp_deadline=f"{year}-07-03T12:00",
        capacity="40",
        q3_label="Will you bring a photograph?",
        q3_type="yes_no",
    )
    response = await submit(client, "/events/new", form, ("action", "draft"))
    assert response.status_code == 303, response.text[-3000:]
    event = await Event.get(title="Summer reception")
    assert response.headers["location"] == f"/events/{event.id}?saved=created"
    # 18:00 in Riga in July is UTC+3.
    assert event.starts_at == datetime(year, 7, 10, 15, 0, tzinfo=UTC)
    assert event.ends_at == datetime(year, 7, 10, 17, 30, tzinfo=UTC)
    assert event.rsvp_deadline == datetime(year, 7, 3, 9, 0, tzinfo=UTC)
    assert event.timezone == RIGA and event.status == EventStatus.DRAFT
    assert event.capacity == 40 and event.guests_named is True
    assert [q["id"] for q in event.questions] == [
        "dietary",
        "in_uniform",
        "will_you_bring_a_photograph",
    ]

    shown = await client.get(f"/events/{event.id}?saved=created")
    assert shown.status_code == 200
    assert "The event was saved as a draft." in shown.text
    assert "18:00 Riga time (UTC+3)" in shown.text
    assert "<strong>Welcome</strong>" in shown.text
    assert posts_to(shown.text, f"/events/{event.id}/publish")


async def test_winter_times_and_publishing_from_the_form(client, attache, riga):
    page = await client.get("/events/new?kind=seminar&embassy=RIX")
    form = form_of(page.text, "/events/new")
    year = YEAR
    form.update(title="Winter seminar", starts_at=f"{year}-01-15T09:30", ends_at="")
    response = await submit(client, "/events/new", form, ("action", "publish"))
    assert response.status_code == 303, response.text[-3000:]
    event = await Event.get(title="Winter seminar")
    assert response.headers["location"].endswith("?saved=published")
    assert event.status == EventStatus.PUBLISHED
    # Riga in January is UTC+2; an empty end takes the kind's duration.
    assert event.starts_at == datetime(year, 1, 15, 7, 30, tzinfo=UTC)
    assert event.ends_at > event.starts_at


async def test_a_form_with_errors_keeps_what_was_typed(client, attache, riga):
    page = await client.get("/events/new?kind=reception")
    form = form_of(page.text, "/events/new")
    form.update(
        title="",
        venue="Villa Aurora",
        starts_at="2031-07-10T18:00",
        ends_at="2031-07-10T17:00",
        capacity="lots",
        q3_label="Favourite song",
        q3_type="choice",
        q3_choices="",
    )
    response = await submit(client, "/events/new", form, ("action", "publish"))
    assert response.status_code == 422
    html = response.text
    assert 'value="Villa Aurora"' in html
    assert 'value="2031-07-10T18:00"' in html and 'value="2031-07-10T17:00"' in html
    assert 'value="lots"' in html
    assert 'value="Favourite song"' in html
    assert 'id="title-error"' in html and 'id="ends_at-error"' in html
    assert 'id="capacity-error"' in html
    assert "Please correct the marked fields." in html
    # Still the form, with its hidden kind and embassy.
    again = form_of(html, "/events/new")
    assert again["kind"] == "reception" and again["embassy"] == "RIX"
    assert await Event.all().count() == 0


async def test_the_kind_and_embassy_come_first(client, attache, riga, make_embassy):
    chooser = await client.get("/events/new")
    assert chooser.status_code == 200
    assert 'name="kind"' in chooser.text and "Reception" in chooser.text
    unknown = await client.get("/events/new?kind=picnic")
    assert unknown.status_code == 200
    assert 'id="kind-error"' in unknown.text


async def test_attache_cannot_create_at_another_embassy(client, attache, riga, make_embassy):
    other = await make_embassy(code="BOG", country="CO", timezone="America/Bogota")
    page = await client.get("/events/new?kind=reception")
    form = form_of(page.text, "/events/new")
    form.update(embassy=other.code, title="Elsewhere")
    response = await submit(client, "/events/new", form, ("action", "draft"))
    assert response.status_code == 403
    assert await Event.all().count() == 0


async def test_a_form_without_its_token_is_refused(client, attache, riga):
    page = await client.get("/events/new?kind=reception")
    form = form_of(page.text, "/events/new")
    form.update(title="Forged", csrf_token="x" * 43)
    response = await submit(client, "/events/new", form)
    assert response.status_code == 403
    assert await Event.all().count() == 0


# --- Edit, publish, cancel -----------------------------------------------------------


async def test_edit_shows_local_times_and_keeps_the_zone(client, attache, riga, make_event):
    year = YEAR
    event = await make_event(
        riga,
        title="Spring reception",
        status=EventStatus.DRAFT,
        starts_at=datetime(year, 7, 1, 15, 0, tzinfo=UTC),
        questions=[{"id": "meal", "label": "Meal", "type": "choice", "choices": ["Fish", "Meat"]}],
    )
    page = await client.get(f"/events/{event.id}/edit")
    assert page.status_code == 200
    form = form_of(page.text, f"/events/{event.id}/edit")
    assert form["starts_at"] == f"{year}-07-01T18:00"
    assert form["q0_choices"] == "Fish\nMeat" and form["q0_type"] == "choice"
    assert "Riga time" in page.text

    form.update(starts_at=f"{year}-07-01T19:00", ends_at=f"{year}-07-01T21:00", q0_label="")
    response = await submit(client, f"/events/{event.id}/edit", form)
    assert response.status_code == 303, response.text[-3000:]
    await event.refresh_from_db()
    assert event.starts_at == datetime(year, 7, 1, 16, 0, tzinfo=UTC)
    assert event.questions == []  # emptied: dropped

    form.update(ends_at=f"{year}-07-01T10:00", venue="Elsewhere")
    failed = await submit(client, f"/events/{event.id}/edit", form)
    assert failed.status_code == 422
    assert 'value="Elsewhere"' in failed.text and 'id="ends_at-error"' in failed.text


async def test_unchanged_edit_leaves_the_sequence(client, attache, riga, make_event):
    event = await make_event(riga, title="Steady", description="Line one\nLine two")
    page = await client.get(f"/events/{event.id}/edit")
    response = await submit(client, f"/events/{event.id}/edit", form_of(page.text, page.url.path))
    assert response.status_code == 303
    await event.refresh_from_db()
    assert event.sequence == 0


async def test_publish_and_cancel(client, attache, riga, make_event):
    event = await make_event(riga, title="Draft one", status=EventStatus.DRAFT)
    page = await client.get(f"/events/{event.id}")
    publish = form_of(page.text, f"/events/{event.id}/publish")
    response = await submit(client, f"/events/{event.id}/publish", publish)
    assert response.status_code == 303
    await event.refresh_from_db()
    assert event.status == EventStatus.PUBLISHED

    shown = await client.get(f"/events/{event.id}")
    assert links_to(shown.text, f"/events/{event.id}/cancel")
    confirm = await client.get(f"/events/{event.id}/cancel")
    assert confirm.status_code == 200 and confirm.text.count("<h1") == 1
    form = form_of(confirm.text, f"/events/{event.id}/cancel")
    form["reason"] = "The residence is closed."
    response = await submit(client, f"/events/{event.id}/cancel", form)
    assert response.status_code == 303
    await event.refresh_from_db()
    assert event.status == EventStatus.CANCELLED and event.sequence == 1
    after = await client.get(response.headers["location"])
    assert "This event was cancelled." in after.text
    assert not posts_to(after.text, f"/events/{event.id}/publish")
    again = await client.get(f"/events/{event.id}/cancel")
    assert "already cancelled" in again.text
    assert not posts_to(again.text, f"/events/{event.id}/cancel")
    assert (await submit(client, f"/events/{event.id}/cancel", form)).status_code == 409


# --- Scope -----------------------------------------------------------------------------


async def test_another_embassys_event_is_not_found(client, attache, riga, make_embassy, make_event):
    other = await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok")
    event = await make_event(other, title="Not yours")
    for path in (f"/events/{event.id}", f"/events/{event.id}/edit", f"/events/{event.id}.ics"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Not yours" not in response.text
        assert response.text.count("<h1") == 1
    for path in (f"/events/{event.id}/publish", f"/events/{event.id}/cancel"):
        assert (await client.post(path)).status_code == 404
    listing = await client.get("/events")
    assert "Not yours" not in listing.text


async def test_the_list_has_upcoming_and_past(client, attache, riga, make_event, make_alumnus):
    now = datetime.now(UTC).replace(microsecond=0)
    soon = await make_event(riga, title="Soon", starts_at=now + timedelta(days=3))
    for status in ("yes", "yes", "no", "invited", "waitlisted", "revoked"):
        await Invitation.create(
            event=soon, alumnus=await make_alumnus(country="LV"), status=status, invited_at=now
        )
    await make_event(riga, title="Draft later", status=EventStatus.DRAFT)
    await make_event(riga, title="Last month", starts_at=now - timedelta(days=30))
    upcoming = await client.get("/events")
    assert upcoming.status_code == 200 and upcoming.text.count("<h1") == 1
    assert "Soon" in upcoming.text and "Draft later" in upcoming.text
    assert "Last month" not in upcoming.text
    assert "Riga time (UTC+" in upcoming.text and "badge-draft" in upcoming.text
    # Invited (not revoked), coming, waitlisted.
    row = re.search(r"<tr>(?:(?!</tr>).)*>Soon</a>(?:(?!</tr>).)*</tr>", upcoming.text, re.S)
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td>(.*?)</td>", row[0], re.S)
    ]
    assert cells[-3:] == ["5", "2", "1"]
    past = await client.get("/events?when=past")
    assert "Last month" in past.text and "Soon" not in past.text


async def test_staff_see_every_embassy(client, riga, make_embassy, make_event, make_user, sign_in):
    other = await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok")
    await make_event(riga, title="In Riga")
    await make_event(other, title="In Bangkok")
    await sign_in(client, await make_user(role=Role.STAFF))
    listing = await client.get("/events")
    assert "In Riga" in listing.text and "In Bangkok" in listing.text
    assert "Bangkok time (UTC+7)" in listing.text


# --- Alumni ----------------------------------------------------------------------------


async def test_alumnus_sees_open_events_of_their_country(
    client, riga, make_embassy, make_event, make_user, make_alumnus, sign_in
):
    other = await make_embassy(code="BOG", country="CO", timezone="America/Bogota")
    mine = await make_event(riga, title="Open in Riga", visibility=Visibility.OPEN)
    theirs = await make_event(other, title="Open in Bogota", visibility=Visibility.OPEN)
    await make_event(riga, title="Invitation only", visibility=Visibility.INVITATION)
    await make_event(riga, title="Open draft", visibility=Visibility.OPEN, status="draft")
    user = await make_user(role=Role.ALUMNUS)
    await make_alumnus(country="EE", user=user)
    await sign_in(client, user)

    page = await client.get("/my/events")
    assert page.status_code == 200 and page.text.count("<h1") == 1
    assert "Open in Riga" in page.text
    for hidden in ("Open in Bogota", "Invitation only", "Open draft"):
        assert hidden not in page.text
    assert "Riga time (UTC+" in page.text

    event = await client.get(f"/events/{mine.id}")
    assert event.status_code == 200
    assert "Open in Riga" in event.text
    assert not links_to(event.text, f"/events/{mine.id}/edit")
    assert links_to(event.text, f"/events/{mine.id}/reply")  # the RSVP pages' reply form
    assert not posts_to(event.text, f"/events/{mine.id}/publish")
    assert (await client.get(f"/events/{theirs.id}")).status_code == 404
    assert (await client.get(f"/events/{theirs.id}.ics")).status_code == 404
    assert (await client.get(f"/events/{mine.id}/edit")).status_code == 403
    assert (await client.get("/events")).status_code == 403


async def test_no_reply_once_answers_close(
    client, riga, make_event, make_user, make_alumnus, sign_in
):
    now = datetime.now(UTC).replace(microsecond=0)
    event = await make_event(
        riga,
        title="Closing soon",
        visibility=Visibility.OPEN,
        rsvp_deadline=now - timedelta(hours=1),
    )
    user = await make_user(role=Role.ALUMNUS)
    await make_alumnus(country="LV", user=user)
    await sign_in(client, user)
    page = await client.get(f"/events/{event.id}")
    assert page.status_code == 200
    assert "Answers are closed for this event." in page.text
    assert not links_to(page.text, f"/events/{event.id}/reply")


async def test_my_events_without_a_profile(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    page = await client.get("/my/events")
    assert page.status_code == 200
    assert "No alumni profile is linked to your account" in page.text


# --- Safety and the calendar file ------------------------------------------------------

HOSTILE = """# Programme

<script>alert("x")</script>

<img src=x onerror="alert(1)">

[Click here](javascript:alert(document.cookie))

![pic](javascript:alert(2))

<a href="javascript:alert(3)" onclick="alert(4)">link</a>

[fine](https://example.org/programme)
"""


def _hostile_parts(html: str) -> list[str]:
    """Scripts, event handlers and script links among the page's real tags."""
    found = []
    for tag, attrs in parse(html).tags:
        if tag == "script":
            found.append("<script>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"{tag} {name}")
            scheme = (value or "").strip().lower()
            if scheme.startswith(("javascript:", "vbscript:")) or (
                tag in ("a", "img") and scheme.startswith("data:")
            ):
                found.append(f"{tag} {name}={value}")
    return found


async def test_hostile_markdown_never_reaches_the_page(
    client, riga, make_event, make_user, make_alumnus, sign_in
):
    event = await make_event(
        riga,
        title='<script>alert("t")</script> Reception',
        description=HOSTILE,
        visibility=Visibility.OPEN,
    )
    user = await make_user(role=Role.ALUMNUS)
    await make_alumnus(country="LV", user=user)
    for viewer in (await make_user(role=Role.ATTACHE, embassies=["RIX"]), user):
        await sign_in(client, viewer)
        page = await client.get(f"/events/{event.id}")
        assert page.status_code == 200
        assert _hostile_parts(page.text) == []
        assert "<h1>Programme</h1>" not in page.text  # one <h1>: the title's
        assert page.text.count("<h1") == 1
        assert 'href="https://example.org/programme"' in page.text


async def test_calendar_file_parses_with_icalendar(client, attache, riga, make_event):
    year = YEAR
    event = await make_event(
        riga, title="Calendar reception", starts_at=datetime(year, 3, 27, 16, 0, tzinfo=UTC)
    )
    response = await client.get(f"/events/{event.id}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert ".ics" in response.headers["content-disposition"]
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["METHOD"]) == "PUBLISH"
    (vevent,) = [c for c in calendar.walk("VEVENT")]
    assert str(vevent["UID"]) == event.uid
    assert str(vevent["SUMMARY"]) == "Calendar reception"
    start = vevent.decoded("DTSTART")
    assert start == datetime(year, 3, 27, 16, 0, tzinfo=UTC)
    assert str(start.tzinfo) == RIGA or vevent["DTSTART"].params.get("TZID") == RIGA
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == [RIGA]
