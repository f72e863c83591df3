"""Newsletter pages for staff: compose with the directory's filter, preview (both
parts, the audience count, placeholder errors), send me a test, send now, schedule in
the author's zone, pause and resume, the issue's progress and figures, and the
series pages. Forms are posted as a browser would: every field the page holds, with
the CSRF token from the form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni.audience import AudienceFilter
from engage.alumni.models import Alumnus, AlumnusStatus
from engage.alumni.segments import create_segment, delete_segment
from engage.errors import Conflict
from engage.mail.models import OutboxMessage, Status
from engage.newsletters.models import IssueStatus, Newsletter, Series
from engage.newsletters.services import create_newsletter, pause_newsletter
from engage.web import newsletters as pages
from tests.events.test_pages_events import links_to, parse, submit

YEAR = datetime.now(UTC).year + 2
_ISSUE = re.compile(r"^/newsletters/(\d+)")


@pytest.fixture
async def staff(client, make_user, sign_in):
    user = await make_user(role=Role.STAFF, timezone="Europe/Riga")
    await sign_in(client, user)
    return user


@pytest.fixture
async def readers(make_alumnus):
    """Three Kenyans who receive the newsletter, one who does not want it, a Ugandan."""
    kenyans = [
        await make_alumnus(country="KE", given_name=name, preferred_name=pref)
        for name, pref in (("Amani", "Ami"), ("Baraka", ""), ("Chege", ""))
    ]
    await make_alumnus(country="KE", given_name="Dalia", accepts_newsletter=False)
    await make_alumnus(country="UG", given_name="Emong")
    return kenyans


_MULTIPLE = re.compile(r'<select[^>]*\bname="([^"]+)"[^>]*\bmultiple[^>]*>(.*?)</select>', re.S)


def form_of(html: str, action: str) -> dict[str, str | list[str]]:
    """The fields of the POST form sent to ``action``, as the page fills them (a name
    given several times, such as ticked boxes, as a list; a multiple select sends its
    selected options only, none when none is)."""
    multiple = {
        name: re.findall(r'<option value="([^"]*)"[^>]*\bselected', body)
        for name, body in _MULTIPLE.findall(html)
    }
    for method, target, fields in parse(html).forms:
        if method.lower() == "post" and urlsplit(target).path == action:
            found: dict[str, str | list[str]] = {}
            for name, value in fields:
                if name in multiple:
                    found[name] = multiple[name]
                elif name in found:
                    before = found[name]
                    found[name] = [*before, value] if isinstance(before, list) else [before, value]
                else:
                    found[name] = value
            return found
    raise AssertionError(f"no POST form to {action}")


def _issue_id(location: str) -> int:
    match = _ISSUE.match(location)
    assert match, location
    return int(match.group(1))


async def _compose(client, **fields):
    page = await client.get("/newsletters/new")
    assert page.status_code == 200
    form = form_of(page.text, "/newsletters/new")
    form.update(fields)
    return form


async def test_staff_composes_previews_and_sends(client, staff, readers):
    listing = await client.get("/newsletters")
    assert listing.status_code == 200 and "No newsletters yet." in listing.text
    assert links_to(listing.text, "/newsletters/new")

    form = await _compose(
        client,
        subject='News for {{ preferred_name | "colleague" }}',
        body="Dear {{ preferred_name }},\n\n## This month\n\nA **reception** in [Nairobi](https://example.org/nbo).",
        audience="filter",
        country="KE",
    )
    assert form["sections"] == ["events", "news"]  # both ticked at first
    response = await submit(client, "/newsletters/new", form, ("action", "preview"))
    assert response.status_code == 303, response.text[-3000:]
    issue_id = _issue_id(response.headers["location"])
    assert response.headers["location"] == f"/newsletters/{issue_id}/preview?notice=created"
    issue = await Newsletter.get(id=issue_id)
    assert issue.audience == {"filter": {"country": ["KE"]}}
    assert issue.status == IssueStatus.DRAFT and issue.sections == ["events", "news"]

    preview = await client.get(response.headers["location"])
    assert preview.status_code == 200
    assert "The newsletter was saved as a draft." in preview.text
    # The count: three Kenyans receive it, one does not accept it.
    assert re.search(r'id="reach-recipients">3 people will receive it', preview.text)
    assert re.search(r'id="skipped-no_consent">1<', preview.text)
    # As the first reader sees it: the subject and the text part, filled for her.
    assert 'id="preview-subject">News for Ami<' in preview.text
    text = re.search(r'<pre class="mail-text" id="preview-text">(.*?)</pre>', preview.text, re.S)
    assert text and "Dear Ami," in text.group(1) and "This month" in text.group(1)
    frame = f"/newsletters/{issue_id}/preview.html"
    assert f'{frame}"' in preview.text
    html = await client.get(frame)
    assert html.status_code == 200
    assert "sandbox" in html.headers["content-security-policy"]
    assert html.headers["x-frame-options"] == "SAMEORIGIN"
    assert "<strong>reception</strong>" in html.text and "Dear Ami," in html.text
    assert 'href="https://example.org/nbo"' in html.text
    sample = await client.get(f"/newsletters/{issue_id}/preview?as=sample")
    assert 'id="preview-subject">News for colleague<' in sample.text

    page = await client.get(f"/newsletters/{issue_id}")
    assert page.status_code == 200
    assert 'id="issue-status">Draft<' in page.text
    assert 'id="issue-audience">Country: Kenya<' in page.text
    assert "Riga time" in page.text  # the author's zone, named beside the time

    test = await submit(
        client, f"/newsletters/{issue_id}/test", form_of(page.text, f"/newsletters/{issue_id}/test")
    )
    assert test.status_code == 303
    assert test.headers["location"] == f"/newsletters/{issue_id}?notice=test#status"
    copy = await OutboxMessage.get(dedupe_key__startswith=f"newsletter-test:{issue_id}:")
    assert copy.to_address == staff.email

    send = form_of(page.text, f"/newsletters/{issue_id}/send")
    sent = await submit(client, f"/newsletters/{issue_id}/send", send, ("action", "now"))
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/newsletters/{issue_id}?notice=sending#status"
    # A small audience is written within the request: one row per reader.
    rows = await OutboxMessage.filter(campaign=f"newsletter:{issue_id}")
    assert sorted(r.recipient_id for r in rows) == sorted(r.id for r in readers)
    again = await submit(client, f"/newsletters/{issue_id}/send", send, ("action", "now"))
    assert again.status_code == 303  # a second click changes nothing
    assert await OutboxMessage.filter(campaign=f"newsletter:{issue_id}").count() == 3

    after = await client.get(f"/newsletters/{issue_id}")
    issue = await Newsletter.get(id=issue_id)
    assert issue.status == IssueStatus.SENT
    assert "3 of 3 copies written" in after.text
    # Still queued: the page reloads itself, without JavaScript.
    assert after.headers["refresh"] == str(pages.REFRESH_SECONDS)
    assert re.search(r'id="figure-recipients">3<', after.text)
    assert re.search(r'id="figure-queued">3<', after.text)
    assert re.search(r'id="figure-delivered">0<', after.text)
    assert "<svg" in after.text and 'aria-hidden="true"' in after.text
    assert "Opens and clicks are not tracked" in after.text
    assert not parse(after.text).forms or not any(
        action.endswith("/send") for _m, action, _f in parse(after.text).forms
    )
    await OutboxMessage.filter(campaign=f"newsletter:{issue_id}").update(status=Status.SENT)
    done = await client.get(f"/newsletters/{issue_id}")
    assert "refresh" not in done.headers
    assert re.search(r'id="figure-delivered">3<', done.text)
    # A sent issue cannot be edited: its page says what it is.
    edit = await client.get(f"/newsletters/{issue_id}/edit")
    assert edit.status_code == 303 and edit.headers["location"] == f"/newsletters/{issue_id}"


async def test_unknown_placeholders_are_shown_as_errors(client, staff, readers):
    form = await _compose(
        client,
        subject="Hello {{ nmae }}",
        body="Dear {{ preferred_name | colleague }},",
        audience="filter",
    )
    response = await submit(client, "/newsletters/new", form, ("action", "preview"))
    assert response.status_code == 422
    assert "Unknown placeholder {{ nmae }}" in response.text
    assert "{{ preferred_name | colleague }} is not a placeholder" in response.text
    assert 'aria-invalid="true"' in response.text
    # What was typed comes back, filter included.
    again = form_of(response.text, "/newsletters/new")
    assert again["subject"] == "Hello {{ nmae }}" and again["audience"] == "filter"
    assert await Newsletter.all().count() == 0


async def test_a_bad_filter_and_a_missing_segment_are_said_beside_their_fields(
    client, staff, readers
):
    form = await _compose(client, subject="News", body="Hello", audience="filter")
    form.update(grade_min="OF-5", grade_max="OF-1")
    response = await submit(client, "/newsletters/new", form, ("action", "save"))
    assert response.status_code == 422
    assert 'id="f-grade_max-error"' in response.text
    form = await _compose(client, subject="News", body="Hello", audience="segment")
    response = await submit(client, "/newsletters/new", form, ("action", "save"))
    assert response.status_code == 422
    assert "Choose a saved segment or a filter." in response.text


async def test_a_saved_segment_and_editing_a_draft(client, staff, readers):
    actor = await load_actor(staff)
    segment = await create_segment("Kenyan alumni", AudienceFilter(country=["KE"]), actor=actor)
    form = await _compose(client, subject="Segment news", body="Hello", audience="segment")
    form["segment_id"] = str(segment.id)
    response = await submit(client, "/newsletters/new", form, ("action", "save"))
    assert response.status_code == 303, response.text[-2000:]
    issue_id = _issue_id(response.headers["location"])
    page = await client.get(f"/newsletters/{issue_id}")
    assert "The saved segment “Kenyan alumni”" in page.text
    assert re.search(r'id="reach-recipients">3 people', page.text)

    edit = await client.get(f"/newsletters/{issue_id}/edit")
    form = form_of(edit.text, f"/newsletters/{issue_id}/edit")
    assert form["audience"] == "segment" and form["segment_id"] == str(segment.id)
    form.update(audience="filter", country="UG", subject="Ugandan news")
    saved = await submit(client, f"/newsletters/{issue_id}/edit", form, ("action", "save"))
    assert saved.headers["location"] == f"/newsletters/{issue_id}?notice=saved"
    issue = await Newsletter.get(id=issue_id)
    assert issue.subject == "Ugandan news" and issue.audience == {"filter": {"country": ["UG"]}}
    edit = await client.get(f"/newsletters/{issue_id}/edit")
    assert form_of(edit.text, f"/newsletters/{issue_id}/edit")["country"] == ["UG"]


async def test_schedule_in_the_authors_zone_then_back_to_draft(client, staff, readers):
    form = await _compose(client, subject="Summer", body="Hello", audience="filter")
    response = await submit(client, "/newsletters/new", form, ("action", "save"))
    issue_id = _issue_id(response.headers["location"])
    page = await client.get(f"/newsletters/{issue_id}")
    send = form_of(page.text, f"/newsletters/{issue_id}/send")

    missing = await submit(client, f"/newsletters/{issue_id}/send", send, ("action", "schedule"))
    assert missing.status_code == 422 and "Give the date and time" in missing.text
    send["send_at"] = f"{YEAR}-07-01T09:00"
    scheduled = await submit(client, f"/newsletters/{issue_id}/send", send, ("action", "schedule"))
    assert scheduled.headers["location"] == f"/newsletters/{issue_id}?notice=scheduled#status"
    issue = await Newsletter.get(id=issue_id)
    assert issue.status == IssueStatus.SCHEDULED
    # 09:00 in Riga in July is 06:00 UTC.
    assert issue.send_at == datetime(YEAR, 7, 1, 6, 0, tzinfo=UTC)
    assert issue.send_timezone == "Europe/Riga"
    page = await client.get(f"/newsletters/{issue_id}")
    assert "09:00 Riga time (UTC+3)" in page.text
    assert form_of(page.text, f"/newsletters/{issue_id}/send")["send_at"] == f"{YEAR}-07-01T09:00"
    past = dict(send, send_at="2001-01-01T09:00")
    refused = await submit(client, f"/newsletters/{issue_id}/send", past, ("action", "schedule"))
    assert refused.status_code == 422 and "future" in refused.text

    back = await submit(
        client,
        f"/newsletters/{issue_id}/unschedule",
        form_of(page.text, f"/newsletters/{issue_id}/unschedule"),
    )
    assert back.status_code == 303
    issue = await Newsletter.get(id=issue_id)
    assert issue.status == IssueStatus.DRAFT and issue.send_at is None


async def test_pause_and_resume_from_the_page(client, staff, readers):
    actor = await load_actor(staff)
    issue = await create_newsletter(actor, {"subject": "Big", "body": "Hi", "filter": {}})
    # As if a big run were under way elsewhere: sending, nothing written yet.
    await Newsletter.filter(id=issue.id).update(status=IssueStatus.SENDING)
    page = await client.get(f"/newsletters/{issue.id}")
    assert page.headers["refresh"] == str(pages.REFRESH_SECONDS)
    paused = await submit(
        client,
        f"/newsletters/{issue.id}/pause",
        form_of(page.text, f"/newsletters/{issue.id}/pause"),
    )
    assert paused.headers["location"] == f"/newsletters/{issue.id}?notice=paused#status"
    assert (await Newsletter.get(id=issue.id)).status == IssueStatus.PAUSED
    page = await client.get(paused.headers["location"])
    assert "Sending is paused." in page.text
    assert 'id="issue-status">Paused<' in page.text
    resumed = await submit(
        client,
        f"/newsletters/{issue.id}/resume",
        form_of(page.text, f"/newsletters/{issue.id}/resume"),
    )
    assert resumed.status_code == 303
    # Resuming goes on from the checkpoint, here to the end: every reader once.
    issue = await Newsletter.get(id=issue.id)
    assert issue.status == IssueStatus.SENT
    assert await OutboxMessage.filter(campaign=f"newsletter:{issue.id}").count() == 4
    # Pausing what is not sending is a conflict, said plainly.
    with pytest.raises(Conflict, match="Only a newsletter being sent"):
        await pause_newsletter(actor, issue.id)


async def test_the_list_shows_status_and_progress(client, staff, readers):
    actor = await load_actor(staff)
    draft = await create_newsletter(actor, {"subject": "A draft", "body": "x", "filter": {}})
    going = await create_newsletter(actor, {"subject": "Going out", "body": "x", "filter": {}})
    await Newsletter.filter(id=going.id).update(status=IssueStatus.SENDING, total=40, written=10)
    listing = await client.get("/newsletters")
    assert links_to(listing.text, f"/newsletters/{draft.id}")
    assert "10 of 40 written" in listing.text
    drafts = await client.get("/newsletters?status=draft")
    assert "A draft" in drafts.text and "Going out" not in drafts.text


async def test_series_pages(client, staff, readers):
    page = await client.get("/newsletters/series/new")
    assert page.status_code == 200
    form = form_of(page.text, "/newsletters/series/new")
    assert form["timezone"] == "Europe/Riga"  # the author's zone first
    assert form["rrule"] == "FREQ=MONTHLY;BYMONTHDAY=1"
    form.update(
        name="Monthly alumni bulletin",
        rrule="FREQ=MONTHLY;BYMONTHDAY=31",
        starts_at="2026-01-31T09:00",
        subject="The month",
        body="Dear {{ preferred_name }},",
        audience="filter",
    )
    bad = await submit(client, "/newsletters/series/new", dict(form, rrule="FREQ=HOURLY"))
    assert bad.status_code == 422 and "FREQ is DAILY, WEEKLY, MONTHLY or YEARLY" in bad.text
    assert form_of(bad.text, "/newsletters/series/new")["name"] == "Monthly alumni bulletin"
    created = await submit(client, "/newsletters/series/new", form)
    assert created.status_code == 303, created.text[-2000:]
    series = await Series.get(name="Monthly alumni bulletin")
    assert created.headers["location"] == f"/newsletters/series/{series.id}?notice=created"
    assert series.timezone == "Europe/Riga" and series.automatic is False
    assert series.audience == {"filter": {}} and series.sections == ["events", "news"]

    shown = await client.get(created.headers["location"])
    dates = re.findall(r"<li>(.*?)</li>", shown.text.split('id="next-dates"')[1].split("</ol>")[0])
    assert len(dates) == 5 and all("31" in d and "09:00 Riga time" in d for d in dates)
    listing = await client.get("/newsletters/series")
    assert links_to(listing.text, f"/newsletters/series/{series.id}")

    edit = await client.get(f"/newsletters/series/{series.id}/edit")
    form = form_of(edit.text, f"/newsletters/series/{series.id}/edit")
    assert form["starts_at"] == "2026-01-31T09:00" and form["active"] == "on"
    form.update(rrule="FREQ=MONTHLY;BYMONTHDAY=-1", automatic="on")
    saved = await submit(client, f"/newsletters/series/{series.id}/edit", form)
    assert saved.status_code == 303, saved.text[-2000:]
    await series.refresh_from_db()
    assert series.rrule == "FREQ=MONTHLY;BYMONTHDAY=-1" and series.automatic is True
    del form["active"]  # unticked
    await submit(client, f"/newsletters/series/{series.id}/edit", form)
    await series.refresh_from_db()
    assert series.active is False
    shown = await client.get(f"/newsletters/series/{series.id}")
    assert "No dates ahead." in shown.text


async def test_others_cannot_reach_the_staff_pages(client, make_user, sign_in, readers):
    for role in (Role.ALUMNUS, Role.ATTACHE):
        await sign_in(client, await make_user(role=role))
        for path in ("/newsletters", "/newsletters/new", "/newsletters/series"):
            assert (await client.get(path)).status_code == 403
    staff = await make_user(role=Role.STAFF)
    await sign_in(client, staff)
    assert (await client.get("/newsletters/999999")).status_code == 404
    assert (await client.get("/newsletters/series/999999")).status_code == 404


async def test_a_left_service_reader_is_counted_apart(client, staff, readers):
    await Alumnus.filter(id=readers[0].id).update(status=AlumnusStatus.LEFT_SERVICE)
    form = await _compose(client, subject="News", body="Hello", audience="filter", country="KE")
    response = await submit(client, "/newsletters/new", form, ("action", "preview"))
    preview = await client.get(response.headers["location"])
    assert re.search(r'id="reach-recipients">2 people', preview.text)
    assert re.search(r'id="skipped-deceased_or_left_service">1<', preview.text)


async def test_a_deleted_segment_is_said_on_the_issues_pages(client, staff, readers):
    actor = await load_actor(staff)
    segment = await create_segment("Kenyans", AudienceFilter(country=["KE"]), actor=actor)
    issue = await create_newsletter(
        actor, {"subject": "News", "body": "Hello", "segment_id": segment.id}
    )
    await delete_segment(segment.id, actor=actor)
    page = await client.get(f"/newsletters/{issue.id}")
    assert page.status_code == 200
    assert 'id="unreachable"' in page.text and "edit it" in page.text
    assert "A saved segment that no longer exists" in page.text
    preview = await client.get(f"/newsletters/{issue.id}/preview")
    assert preview.status_code == 200 and 'id="unreachable"' in preview.text
    assert (await client.get(f"/newsletters/{issue.id}/preview.html")).status_code == 200
