"""Invitation pages: choosing the audience and its preview, sending (in the request
and in the background), the progress page, the event page's invitations block,
revoking, the CSV, and who may reach each of them. Forms are posted as a browser
would: every field the page holds, with the CSRF token from the form."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.alumni.audience import AudienceFilter
from engage.alumni.models import AlumnusStatus
from engage.alumni.segments import create_segment
from engage.clock import utcnow
from engage.events.models import EventStatus
from engage.invitations.links import invitation_for_token, rsvp_token
from engage.invitations.models import Invitation, InvitationStatus, InviteJob, JobStatus
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.invitations.services import start_invite_job
from engage.mail.models import OutboxMessage
from engage.places.models import Country, ProgrammeStatus
from engage.web import invitations as pages
from tests.events.test_pages_events import form_of, links_to, parse, submit

#: As the events service stores them (every key present).
QUESTIONS = [
    {"id": "diet", "label": "Dietary needs", "type": "text", "required": False, "choices": []},
    {"id": "menu", "label": "Menu", "type": "choice", "required": True, "choices": ["Fish", "Veg"]},
    {"id": "parking", "label": "Parking", "type": "yes_no", "required": False, "choices": []},
]
_JOB = re.compile(r"^/events/(\d+)/invite/(\d+)$")


@pytest.fixture
async def nairobi(client, make_embassy, make_user, sign_in):
    """The Nairobi embassy (Kenya and Uganda), its attaché signed in."""
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "UG"])
    user = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    await sign_in(client, user)
    return embassy, await load_actor(user)


@pytest.fixture
async def reception(nairobi, make_event):
    embassy, _attache = nairobi
    return await make_event(
        embassy,
        title="Evening reception",
        capacity=10,
        guests_allowed=1,
        guests_named=True,
        questions=QUESTIONS,
    )


async def _open(client, event) -> str:
    response = await client.get(f"/events/{event.id}/invite")
    assert response.status_code == 200, response.text
    return response.text


async def _post(client, event, fields: dict[str, str], action: str = "preview", page=None):
    """The invitation form as the page fills it, with ``fields`` typed over it."""
    data = form_of(page or await _open(client, event), f"/events/{event.id}/invite")
    data.update(fields)
    return await submit(client, f"/events/{event.id}/invite", data, ("action", action))


def _preview(html: str) -> tuple[int, dict[str, int]]:
    """How many the preview invites, and the skipped rows (label -> count)."""
    invite = re.search(r'id="preview-invite">(\d+) (?:person|people) will be invited', html)
    assert invite, html
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td></tr>', html)
    return int(invite.group(1)), {label: int(n) for label, n in rows}


async def _segment(actor, name="Kenyans", **filters):
    return await create_segment(name, AudienceFilter.model_validate(filters), actor=actor)


# --- Choosing and previewing ---------------------------------------------------------


async def test_preview_of_a_segment_counts_who_is_invited_and_why_others_are_skipped(
    client, nairobi, reception, make_alumnus
):
    _embassy, attache = nairobi
    for _ in range(3):
        await make_alumnus(country="KE")
    await make_alumnus(country="KE", accepts_invitations=False)
    await make_alumnus(country="KE", do_not_engage=True)
    await make_alumnus(country="KE", status=AlumnusStatus.DECEASED)
    await make_alumnus(country="KE", email="")
    invited = await make_alumnus(country="KE")
    await Invitation.create(event=reception, alumnus=invited, invited_at=utcnow())
    segment = await _segment(attache, country=["KE"])

    page = await _open(client, reception)
    assert f'<option value="{segment.id}">Kenyans (NBO)</option>' in page
    response = await _post(
        client, reception, {"audience": "segment", "segment_id": str(segment.id)}
    )

    assert response.status_code == 200, response.text
    invite, skipped = _preview(response.text)
    assert invite == 3
    assert skipped == {
        "Already invited": 1,
        "No email address": 1,
        "No consent to invitations": 1,
        "Flagged “do not engage”": 1,
        "Deceased, or left the service": 1,
    }
    # The choice stays made, and the page now offers to send.
    again = form_of(response.text, f"/events/{reception.id}/invite")
    assert again["audience"] == "segment" and again["segment_id"] == str(segment.id)
    assert 'name="action" value="send"' in response.text
    assert 'name="action" value="send"' not in page  # only once previewed
    assert await Invitation.filter(event_id=reception.id).count() == 1  # nothing sent


async def test_preview_by_the_directory_filter_and_by_picked_numbers(
    client, nairobi, reception, make_alumnus, make_embassy
):
    await make_embassy(code="DAR", country="TZ", accredited=["TZ"])
    kenyans = [await make_alumnus(country="KE") for _ in range(2)]
    ugandan = await make_alumnus(country="UG")
    tanzanian = await make_alumnus(country="TZ")

    by_filter = await _post(client, reception, {"audience": "filter", "country": "UG"})
    assert _preview(by_filter.text) == (1, {})
    # The directory's own filter fields, with its names and choices.
    page = parse(by_filter.text)
    names = {a.get("name") for tag, a in page.tags if tag in ("input", "select")}
    assert {
        "q",
        "country",
        "embassy",
        "grade_min",
        "class_year_min",
        "accepts_invitations",
    } <= names

    typed = f"{kenyans[0].id}, {kenyans[1].id}\n#{ugandan.id}\n{tanzanian.id} 999999"
    by_ids = await _post(client, reception, {"audience": "people", "alumni_ids": typed})
    invite, skipped = _preview(by_ids.text)
    # Tanzania is not Nairobi's, and an unknown number names nobody: both outside.
    assert invite == 3
    assert skipped == {"Outside your scope: not of a country the embassy is accredited to": 2}


async def test_form_errors_keep_what_was_typed(client, nairobi, reception, make_alumnus):
    person = await make_alumnus(country="KE")

    bad_ids = await _post(
        client, reception, {"audience": "people", "alumni_ids": f"{person.id}\nabc"}
    )
    assert bad_ids.status_code == 422
    assert "“abc” is not an alumni number" in bad_ids.text
    kept = form_of(bad_ids.text, f"/events/{reception.id}/invite")
    assert kept["alumni_ids"] == f"{person.id}\nabc" and kept["audience"] == "people"
    assert 'aria-invalid="true"' in bad_ids.text

    bad_filter = await _post(
        client,
        reception,
        {"audience": "filter", "class_year_min": "2020", "class_year_max": "2010", "q": "Ama"},
    )
    assert bad_filter.status_code == 422
    assert "The last class year must not be before the first." in bad_filter.text
    kept = form_of(bad_filter.text, f"/events/{reception.id}/invite")
    assert (kept["q"], kept["class_year_min"], kept["class_year_max"]) == ("Ama", "2020", "2010")

    no_segment = await _post(client, reception, {"audience": "segment", "segment_id": ""})
    assert no_segment.status_code == 422
    assert "Choose a segment." in no_segment.text
    missing = await _post(client, reception, {"audience": "segment", "segment_id": "987654"})
    assert missing.status_code == 422
    assert "No such segment." in missing.text


async def test_only_staff_see_and_may_use_the_suspension_override(
    client, nairobi, reception, make_alumnus, make_user, sign_in
):
    await Country.filter(code="UG").update(programme_status=ProgrammeStatus.SUSPENDED)
    ugandans = [await make_alumnus(country="UG") for _ in range(2)]
    picked = {"audience": "people", "alumni_ids": " ".join(str(p.id) for p in ugandans)}

    page = await _open(client, reception)
    assert 'name="override_suspension"' not in page
    attache_preview = await _post(client, reception, picked)
    assert _preview(attache_preview.text) == (
        0,
        {"Their country's programme is suspended": 2},
    )
    # Forged by an attaché: refused (403), nothing recorded.
    forged = await _post(client, reception, {**picked, "override_suspension": "on"}, "send")
    assert forged.status_code == 403
    assert "Only staff may invite alumni of suspended programmes." in forged.text
    assert await InviteJob.all().count() == 0

    staff = await make_user(role=Role.STAFF)
    await sign_in(client, staff)
    page = await _open(client, reception)
    assert "Override the programme suspension for this run" in page
    assert "recorded in the audit log" in page
    overridden = await _post(client, reception, {**picked, "override_suspension": "on"})
    assert _preview(overridden.text) == (2, {})
    kept = form_of(overridden.text, f"/events/{reception.id}/invite")
    assert kept["override_suspension"] == "on"

    sent = await _post(
        client, reception, {**picked, "override_suspension": "on"}, "send", overridden.text
    )
    assert sent.status_code == 303
    assert await Invitation.filter(event_id=reception.id).count() == 2
    assert await AuditEvent.filter(action="invitations.override_suspension").count() == 1
    done = await client.get(sent.headers["location"])
    assert "The programme suspension was overridden for this run" in done.text


# --- Sending and the progress page ---------------------------------------------------


async def test_sending_invites_and_the_progress_page_says_done(
    client, nairobi, reception, make_alumnus
):
    _embassy, attache = nairobi
    people = [await make_alumnus(country="KE") for _ in range(3)]
    await make_alumnus(country="KE", accepts_invitations=False)
    segment = await _segment(attache, country=["KE"])
    previewed = await _post(
        client, reception, {"audience": "segment", "segment_id": str(segment.id)}
    )

    sent = await _post(client, reception, {}, "send", previewed.text)

    assert sent.status_code == 303
    match = _JOB.match(sent.headers["location"])
    assert match and int(match.group(1)) == reception.id
    invitations = await Invitation.filter(event_id=reception.id).order_by("alumnus_id")
    assert [i.alumnus_id for i in invitations] == [p.id for p in people]
    assert await OutboxMessage.filter(template="invitation").count() == 3
    job = await InviteJob.get(id=int(match.group(2)))
    assert job.status == JobStatus.DONE and job.audience == {"segment_id": segment.id}

    progress = await client.get(sent.headers["location"])
    assert progress.status_code == 200
    assert "Done: 3 invited, 1 skipped, of 4." in progress.text
    assert "Refresh" not in progress.headers
    assert re.search(
        r'<th scope="row">Skipped: No consent to invitations</th><td>1</td>', progress.text
    )
    assert re.search(rf'href="[^"]*/events/{reception.id}#invitations"', progress.text)

    # The event page counts them.
    event_page = await client.get(f"/events/{reception.id}")
    assert re.search(r'id="count-invited">3<', event_page.text)
    assert re.search(r'id="count-not_answered">3<', event_page.text)


async def test_a_large_run_goes_on_in_the_background_and_its_page_reloads(
    client, nairobi, reception, make_alumnus, monkeypatch
):
    monkeypatch.setattr(pages, "IN_REQUEST", 1)
    people = [await make_alumnus(country="KE") for _ in range(3)]
    picked = {"audience": "people", "alumni_ids": " ".join(str(p.id) for p in people)}
    # Holds the run until the test has seen its page running.
    gate = asyncio.Event()
    real_run = pages.run_invite_job

    async def gated(job_id: int, **options):
        await gate.wait()
        return await real_run(job_id, **options)

    monkeypatch.setattr(pages, "run_invite_job", gated)

    sent = await _post(client, reception, picked, "send")
    assert sent.status_code == 303
    running = await client.get(sent.headers["location"])
    assert running.headers["refresh"] == str(pages.REFRESH_SECONDS)
    assert "Inviting: 0 invited of 3." in running.text
    assert "This page reloads every 2 seconds." in running.text
    assert "Resume the run" not in running.text

    gate.set()
    job_id = int(_JOB.match(sent.headers["location"]).group(2))
    await asyncio.wait({pages._RUNNING[job_id]})
    done = await client.get(sent.headers["location"])
    assert "refresh" not in done.headers
    assert "Done: 3 invited, 0 skipped, of 3." in done.text
    assert await Invitation.filter(event_id=reception.id).count() == 3


async def test_an_interrupted_run_is_resumed_from_its_page(
    client, nairobi, reception, make_alumnus
):
    _embassy, attache = nairobi
    people = [await make_alumnus(country="KE") for _ in range(2)]
    # Started (as by a process that then stopped), never run here.
    job = await start_invite_job(attache, reception.id, {"alumni_ids": [p.id for p in people]})
    path = f"/events/{reception.id}/invite/{job.id}"

    stopped = await client.get(path)
    assert "not going on in this server" in stopped.text
    assert "refresh" not in stopped.headers
    resumed = await submit(client, f"{path}/resume", form_of(stopped.text, f"{path}/resume"))

    assert resumed.status_code == 303 and resumed.headers["location"] == path
    assert "Done: 2 invited, 0 skipped, of 2." in (await client.get(path)).text


async def test_sending_to_a_draft_says_what_to_do_and_keeps_the_form(
    client, nairobi, make_event, make_alumnus
):
    embassy, _attache = nairobi
    draft = await make_event(embassy, status=EventStatus.DRAFT)
    person = await make_alumnus(country="KE")
    picked = {"audience": "people", "alumni_ids": str(person.id)}

    page = await _open(client, draft)
    assert "Publish the event before inviting people to it." in page
    # A preview works, but offers no sending; a send forged anyway is refused.
    previewed = await _post(client, draft, picked, page=page)
    assert _preview(previewed.text) == (1, {})
    assert 'name="action" value="send"' not in previewed.text
    response = await _post(client, draft, picked, "send", previewed.text)

    assert response.status_code == 409
    assert "Publish the event before inviting people to it." in response.text
    assert form_of(response.text, f"/events/{draft.id}/invite")["alumni_ids"] == str(person.id)
    assert await Invitation.all().count() == 0
    event_page = await client.get(f"/events/{draft.id}")
    assert not links_to(event_page.text, f"/events/{draft.id}/invite")


async def test_a_started_event_offers_no_invitations(client, nairobi, make_event):
    embassy, _attache = nairobi
    started = await make_event(embassy, starts_at=utcnow() - timedelta(hours=1))

    event_page = await client.get(f"/events/{started.id}")
    invite_page = await _open(client, started)

    assert not links_to(event_page.text, f"/events/{started.id}/invite")
    assert links_to(event_page.text, f"/events/{started.id}/invitations.csv")
    assert "This event has started: nobody can be invited to it any more." in invite_page


async def test_every_form_needs_the_csrf_token(client, nairobi, reception, make_alumnus):
    person = await make_alumnus(country="KE")
    invitation = await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())
    client.headers.pop("X-CSRF-Token")
    for path, data in (
        (f"/events/{reception.id}/invite", {"audience": "people", "alumni_ids": str(person.id)}),
        (f"/events/{reception.id}/invitations/{invitation.id}/revoke", {}),
    ):
        response = await client.post(path, data={**data, "action": "send"})
        assert response.status_code == 403, path
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.INVITED
    assert await InviteJob.all().count() == 0


# --- The event page's block ----------------------------------------------------------


async def test_the_event_page_lists_answers_guests_questions_and_the_waitlist(
    client, nairobi, make_event, make_alumnus
):
    embassy, _attache = nairobi
    event = await make_event(
        embassy, capacity=2, guests_allowed=1, guests_named=True, questions=QUESTIONS
    )
    amani = await make_alumnus(country="KE", given_name="Amani", family_name="Otieno")
    grace = await make_alumnus(country="UG", given_name="Grace", family_name="Achieng")
    juma = await make_alumnus(country="KE", given_name="Juma", family_name="Mwangi")
    silent = await make_alumnus(country="KE", given_name="Silent", family_name="Kamau")
    rows = {}
    for person in (amani, grace, juma, silent):
        rows[person.id] = await Invitation.create(event=event, alumnus=person, invited_at=utcnow())
    await answer(
        rows[amani.id].id,
        RsvpAnswer(
            "yes",
            guests=1,
            guest_names=["Wanjiku Otieno"],
            answers={"diet": "No nuts", "menu": "Fish", "parking": "yes"},
        ),
    )
    await answer(rows[grace.id].id, RsvpAnswer("yes", answers={"menu": "Veg"}))  # full: waits
    await answer(rows[juma.id].id, RsvpAnswer("no", answers={"menu": "Veg"}))

    page = await client.get(f"/events/{event.id}")

    assert page.status_code == 200
    html = page.text
    for key, n in (
        ("invited", 4),
        ("yes", 1),
        ("no", 1),
        ("maybe", 0),
        ("waitlisted", 1),
        ("not_answered", 1),
        ("revoked", 0),
    ):
        assert re.search(rf'id="count-{key}">{n}<', html), key
    assert re.search(r'id="count-seats">2 of 2 <span class="hint">\(including 1 guest\)', html)
    assert "<svg" in html and 'aria-hidden="true"' in html  # the bars; the table has the numbers
    assert "Amani Otieno" in html and "Wanjiku Otieno" in html
    assert "<dt>Dietary needs</dt><dd>No nuts</dd>" in html
    assert "<dt>Menu</dt><dd>Fish</dd>" in html and "<dt>Parking</dt><dd>Yes</dd>" in html
    assert "number 1 on the waitlist" in html
    assert links_to(html, f"/events/{event.id}/invite")
    assert links_to(html, f"/events/{event.id}/invitations.csv")
    assert html.count("/revoke") == 4

    waiting = await client.get(f"/events/{event.id}?status=waitlisted")
    assert "Grace Achieng" in waiting.text and "Amani Otieno" not in waiting.text
    kept = parse(waiting.text)
    assert ("option", {"value": "waitlisted", "selected": None}) in kept.tags


async def test_the_list_is_paginated(client, nairobi, reception, make_alumnus, monkeypatch):
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for n in range(5):
        person = await make_alumnus(country="KE", given_name=f"Person{n}", family_name="Test")
        await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())

    first = await client.get(f"/events/{reception.id}")
    third = await client.get(f"/events/{reception.id}?page=3")

    assert "Person0 Test" in first.text and "Person2 Test" not in first.text
    assert "Page 1 of 3" in first.text and "page=2#invitation-list" in first.text
    assert "Person4 Test" in third.text and "Person0 Test" not in third.text
    assert 'rel="next"' not in third.text


# --- Revoking -----------------------------------------------------------------------


async def test_revoking_kills_the_link_and_says_so_on_the_event_page(
    client, settings, nairobi, reception, make_alumnus
):
    person = await make_alumnus(country="KE", given_name="Amani", family_name="Otieno")
    invitation = await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())
    token = rsvp_token(settings, invitation)
    assert (await client.get(f"/rsvp/{token}")).status_code == 200
    page = await client.get(f"/events/{reception.id}?status=invited")
    action = f"/events/{reception.id}/invitations/{invitation.id}/revoke"

    response = await submit(client, action, form_of(page.text, action))

    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/events/{reception.id}?invitations=revoked&status=invited#invitations"
    )
    revoked = await Invitation.get(id=invitation.id)
    assert revoked.status == InvitationStatus.REVOKED and revoked.revoked_at is not None
    assert await invitation_for_token(settings, token) is None
    assert (await client.get(f"/rsvp/{token}")).status_code == 404
    after = await client.get(f"/events/{reception.id}?invitations=revoked")
    assert "The invitation is revoked: its link no longer works." in after.text
    assert re.search(r'id="count-revoked">1<', after.text)
    assert action not in after.text  # no button for a revoked invitation


# --- The CSV ------------------------------------------------------------------------


async def test_the_csv_has_a_column_per_question(client, nairobi, reception, make_alumnus):
    person = await make_alumnus(country="KE", given_name="Amani", family_name="Otieno")
    invitation = await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())
    await answer(
        invitation.id,
        RsvpAnswer("yes", guests=1, guest_names=["Wanjiku"], answers={"menu": "Fish"}),
    )

    response = await client.get(f"/events/{reception.id}/invitations.csv")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="event-{reception.id}-invitations.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, row = rows[0], rows[1]
    assert header[-3:] == ["Dietary needs", "Menu", "Parking"]
    values = dict(zip(header, row, strict=True))
    assert (values["given_name"], values["status"], values["guest_names"]) == (
        "Amani",
        "yes",
        "Wanjiku",
    )
    assert values["Menu"] == "Fish"
    assert await AuditEvent.filter(action="invitations.export").count() == 1


# --- Who may reach the pages --------------------------------------------------------


async def test_another_embassys_attache_gets_404_everywhere(
    client, nairobi, reception, make_alumnus, make_embassy, make_user, sign_in
):
    _embassy, attache = nairobi
    person = await make_alumnus(country="KE")
    job = await start_invite_job(attache, reception.id, {"alumni_ids": [person.id]})
    invitation = await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())
    await make_embassy(code="BOG", country="CO", accredited=["CO"])
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["BOG"]))
    base = f"/events/{reception.id}"

    for path in (f"{base}/invite", f"{base}/invitations.csv", f"{base}/invite/{job.id}"):
        assert (await client.get(path)).status_code == 404, path
    for path, data in (
        (f"{base}/invite", {"audience": "people", "alumni_ids": str(person.id)}),
        (f"{base}/invite/{job.id}/resume", {}),
        (f"{base}/invitations/{invitation.id}/revoke", {}),
    ):
        assert (await client.post(path, data={**data, "action": "send"})).status_code == 404, path
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.INVITED
    assert await Invitation.all().count() == 1
    assert (await InviteJob.get(id=job.id)).status == JobStatus.RUNNING


async def test_an_alumnus_gets_403(client, nairobi, reception, make_alumnus, make_user, sign_in):
    _embassy, attache = nairobi
    person = await make_alumnus(country="KE")
    job = await start_invite_job(attache, reception.id, {"alumni_ids": [person.id]})
    invitation = await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())
    user = await make_user(role=Role.ALUMNUS)
    await make_alumnus(country="KE", user=user)
    await sign_in(client, user)
    base = f"/events/{reception.id}"

    for path in (f"{base}/invite", f"{base}/invitations.csv", f"{base}/invite/{job.id}"):
        assert (await client.get(path)).status_code == 403, path
    for path in (
        f"{base}/invite",
        f"{base}/invite/{job.id}/resume",
        f"{base}/invitations/{invitation.id}/revoke",
    ):
        assert (await client.post(path, data={"action": "send"})).status_code == 403, path
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.INVITED


async def test_revoking_through_another_events_address_is_not_found(
    client, settings, nairobi, reception, make_event, make_alumnus
):
    other = await make_event(nairobi[0], title="Another evening")
    person = await make_alumnus(country="KE")
    invitation = await Invitation.create(event=reception, alumnus=person, invited_at=utcnow())
    page = await client.get(f"/events/{reception.id}?status=invited")
    action = f"/events/{reception.id}/invitations/{invitation.id}/revoke"
    form = form_of(page.text, action)

    response = await submit(client, f"/events/{other.id}/invitations/{invitation.id}/revoke", form)

    assert response.status_code == 404
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.INVITED
