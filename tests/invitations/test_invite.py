"""Inviting: audiences, skip reasons, dedupe, scope, the outbox rows a run writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.eligibility import BulkKind, Reason, ineligibility
from engage.alumni.models import Alumnus, AlumnusStatus, Segment, Vetting
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.events.models import EventStatus
from engage.invitations.jobs import SKIP_REASONS, audience_people, classify
from engage.invitations.models import Invitation, InvitationStatus, JobStatus
from engage.invitations.services import (
    InviteAudience,
    invite,
    preview_invitations,
    start_invite_job,
)
from engage.mail.models import Category, OutboxMessage
from engage.places.models import Country, ProgrammeStatus


@pytest.fixture
async def nairobi(db, make_embassy, make_user):
    """An embassy accredited to Kenya and Uganda, its attaché, and a published event."""
    from engage.accounts.actor import load_actor

    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "UG"])
    user = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    return embassy, await load_actor(user)


async def _zero(**counts: int) -> dict[str, int]:
    return {reason: counts.get(reason, 0) for reason in SKIP_REASONS}


async def test_invite_by_ids_creates_invitations_and_bulk_outbox_rows(
    nairobi, make_event, make_alumnus
):
    embassy, attache = nairobi
    event = await make_event(embassy, kind="reception")
    amani = await make_alumnus(country="KE", email="amani@example.ke")
    grace = await make_alumnus(country="UG", given_name="Grace")

    job = await invite(attache, event.id, {"alumni_ids": [amani.id, grace.id]})

    assert job.status == JobStatus.DONE and job.invited == 2 and job.total == 2
    invitations = await Invitation.filter(event_id=event.id).order_by("alumnus_id")
    assert [i.alumnus_id for i in invitations] == [amani.id, grace.id]
    assert all(i.status == InvitationStatus.INVITED for i in invitations)
    assert all(i.invited_by_id == attache.id for i in invitations)
    rows = await OutboxMessage.all().order_by("recipient_id")
    assert [r.to_address for r in rows] == ["amani@example.ke", grace.email]
    first = rows[0]
    assert first.template == "invitation"
    assert first.category == Category.BULK
    assert first.dedupe_key == f"invitation:{invitations[0].id}"
    assert (first.recipient_type, first.recipient_id) == ("alumnus", amani.id)
    assert first.to_name == f"Amani {amani.family_name}"
    assert first.context == {
        "invitation": invitations[0].id,
        "attachments": [
            {
                "kind": "event_ics",
                "event": event.id,
                "method": "REQUEST",
                "invitation": invitations[0].id,
            }
        ],
    }


async def test_inviting_twice_never_duplicates(nairobi, make_event, make_alumnus):
    embassy, attache = nairobi
    event = await make_event(embassy)
    people = [await make_alumnus(country="KE") for _ in range(3)]
    ids = [p.id for p in people]

    await invite(attache, event.id, {"alumni_ids": ids[:2]})
    second = await invite(attache, event.id, {"alumni_ids": ids})
    third = await invite(attache, event.id, {"filter": {"country": ["KE"]}})

    assert second.invited == 1 and second.skipped == {"already_invited": 2}
    assert third.invited == 0 and third.skipped == {"already_invited": 3}
    assert await Invitation.filter(event_id=event.id).count() == 3
    assert await OutboxMessage.all().count() == 3


async def test_each_skip_reason_is_counted_once_under_its_first_reason(
    nairobi, make_event, make_alumnus, make_embassy
):
    embassy, attache = nairobi
    await make_embassy(code="KLA", country="UG", accredited=["UG", "TZ"])
    event = await make_event(embassy)
    await Country.filter(code="UG").update(programme_status=ProgrammeStatus.SUSPENDED)
    ok = await make_alumnus(country="KE")
    invited_before = await make_alumnus(country="KE")
    pending = await make_alumnus(country="KE", vetting=Vetting.PENDING)
    merged = await make_alumnus(country="KE", merged_into=ok)
    no_email = await make_alumnus(country="KE", email="")
    no_consent = await make_alumnus(country="KE", accepts_invitations=False)
    dne = await make_alumnus(country="KE", do_not_engage=True)
    deceased = await make_alumnus(country="KE", status=AlumnusStatus.DECEASED)
    left = await make_alumnus(country="KE", status=AlumnusStatus.LEFT_SERVICE)
    suspended = await make_alumnus(country="UG")
    # Both "no consent" and "do not engage": counted once, under the first.
    both = await make_alumnus(country="KE", accepts_invitations=False, do_not_engage=True)
    # Tanzania is another embassy's: outside the attaché's scope.
    tanzanian = await make_alumnus(country="TZ")
    await invite(attache, event.id, {"alumni_ids": [invited_before.id]})
    picked = [
        ok,
        invited_before,
        pending,
        merged,
        no_email,
        no_consent,
        dne,
        deceased,
        left,
        suspended,
        both,
        tanzanian,
    ]
    audience = {"alumni_ids": [p.id for p in picked] + [987654321]}

    preview = await preview_invitations(attache, event.id, audience)

    expected = await _zero(
        outside_scope=2,  # the Tanzanian (out of the attaché's scope) and an unknown id
        already_invited=1,
        pending_identity=1,
        merged_or_erased=1,
        no_email=1,
        no_consent=2,
        do_not_engage=1,
        deceased_or_left_service=2,
        programme_suspended=1,
    )
    assert preview.invite == 1
    assert preview.skipped == expected
    assert preview.total == 13

    job = await invite(attache, event.id, audience, chunk_size=4)

    assert job.invited == 1
    assert {k: v for k, v in expected.items() if v} == job.skipped
    assert await Invitation.filter(event_id=event.id).count() == 2
    # The SQL reasons agree with the shared rule's own, person by person.
    for person in picked[2:11]:
        await person.refresh_from_db()
        reasons = await ineligibility(person, BulkKind.INVITATIONS)
        assert reasons, person
    assert (await ineligibility(both, BulkKind.INVITATIONS))[0] == Reason.NO_CONSENT


async def test_an_event_invites_only_alumni_of_its_embassy_countries(
    db, make_event, make_alumnus, make_embassy, actor_for
):
    nbo = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    event = await make_event(nbo)
    staff = await actor_for(Role.STAFF)
    kenyan = await make_alumnus(country="KE")
    await make_alumnus(country="UG")

    preview = await preview_invitations(staff, event.id, {"filter": {}})
    job = await invite(staff, event.id, {"filter": {}})

    assert preview.invite == 1 and preview.skipped["outside_scope"] == 1
    assert job.invited == 1 and job.skipped == {"outside_scope": 1}
    assert await Invitation.filter(event_id=event.id).values_list("alumnus_id", flat=True) == [
        kenyan.id
    ]


async def test_staff_may_override_the_suspension_and_it_is_audit_logged(
    nairobi, make_event, make_alumnus, actor_for
):
    embassy, attache = nairobi
    event = await make_event(embassy)
    await Country.filter(code="UG").update(programme_status=ProgrammeStatus.SUSPENDED)
    ugandan = await make_alumnus(country="UG")
    staff = await actor_for(Role.STAFF)
    audience = {"alumni_ids": [ugandan.id]}

    with pytest.raises(PermissionDenied):
        await preview_invitations(attache, event.id, audience, override_suspension=True)
    with pytest.raises(PermissionDenied):
        await invite(attache, event.id, audience, override_suspension=True)
    assert (await preview_invitations(staff, event.id, audience)).invite == 0
    preview = await preview_invitations(staff, event.id, audience, override_suspension=True)
    assert preview.invite == 1

    job = await invite(staff, event.id, audience, override_suspension=True, ip="10.0.0.9")

    assert job.invited == 1 and job.override_suspension
    entry = await AuditEvent.get(action="invitations.override_suspension")
    assert entry.actor_id == staff.id
    assert (entry.target_type, entry.target_id) == ("event", str(event.id))
    assert entry.details["job"] == job.id and entry.ip == "10.0.0.9"


async def test_scope_another_embassys_event_is_404_and_alumni_403(
    nairobi, make_event, make_embassy, make_alumnus, actor_for
):
    _embassy, attache = nairobi
    other = await make_embassy(code="KLA", country="UG", accredited=["UG"])
    event = await make_event(other)
    person = await make_alumnus(country="UG")
    alumnus = await actor_for(Role.ALUMNUS)

    with pytest.raises(NotFound):
        await preview_invitations(attache, event.id, {"alumni_ids": [person.id]})
    with pytest.raises(NotFound):
        await invite(attache, event.id, {"alumni_ids": [person.id]})
    with pytest.raises(NotFound):
        await invite(attache, 10**12, {"alumni_ids": [person.id]})
    with pytest.raises(PermissionDenied):
        await invite(alumnus, event.id, {"alumni_ids": [person.id]})
    assert await Invitation.all().count() == 0


async def test_only_published_upcoming_events_take_invitations(nairobi, make_event, make_alumnus):
    embassy, attache = nairobi
    person = await make_alumnus(country="KE")
    draft = await make_event(embassy, status=EventStatus.DRAFT)
    cancelled = await make_event(embassy, status=EventStatus.CANCELLED)
    started = await make_event(
        embassy, starts_at=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    )

    for event, words in ((draft, "Publish"), (cancelled, "cancelled"), (started, "started")):
        with pytest.raises(Conflict, match=words):
            await invite(attache, event.id, {"alumni_ids": [person.id]})
    assert await Invitation.all().count() == 0


async def test_audience_by_saved_segment_and_by_filter(nairobi, make_event, make_alumnus):
    embassy, attache = nairobi
    event = await make_event(embassy)
    kenyan = await make_alumnus(country="KE")
    ugandan = await make_alumnus(country="UG")
    segment = await Segment.create(name="Uganda", filters={"country": ["UG"]}, embassy=embassy)

    by_segment = await invite(attache, event.id, {"segment_id": segment.id})
    by_filter = await invite(attache, event.id, {"filter": {"country": ["KE", "UG"]}})

    assert by_segment.invited == 1 and by_filter.invited == 1
    assert by_filter.skipped == {"already_invited": 1}
    assert set(await Invitation.filter(event_id=event.id).values_list("alumnus_id", flat=True)) == {
        kenyan.id,
        ugandan.id,
    }


async def test_bad_audiences_are_refused_with_field_errors(
    nairobi, make_event, make_embassy, actor_for
):
    embassy, attache = nairobi
    event = await make_event(embassy)
    kla = await make_embassy(code="KLA", country="UG", accredited=["UG"])
    foreign = await Segment.create(name="Theirs", filters={}, embassy=kla)

    cases = [
        ({}, "audience"),
        ({"alumni_ids": [1], "segment_id": 2}, "audience"),
        ({"alumni_ids": "1,2"}, "alumni_ids"),
        ({"alumni_ids": []}, "alumni_ids"),
        ({"alumni_ids": [0]}, "alumni_ids"),
        ({"segment_id": "x"}, "segment_id"),
        ({"filter": {"grade_min": "general"}}, "grade_min"),
        ({"everyone": True}, "everyone"),
    ]
    for audience, name in cases:
        with pytest.raises(InvalidInput) as caught:
            await start_invite_job(attache, event.id, audience)
        assert name in caught.value.fields, (audience, caught.value.fields)
    with pytest.raises(NotFound):
        await start_invite_job(attache, event.id, {"segment_id": foreign.id})
    with pytest.raises(NotFound):
        await start_invite_job(attache, event.id, {"filter": {"embassy": "KLA"}})


async def test_classify_counts_every_person_once(nairobi, make_event, make_alumnus):
    embassy, attache = nairobi
    event = await make_event(embassy)
    for status in (AlumnusStatus.SERVING, AlumnusStatus.RETIRED, AlumnusStatus.DECEASED):
        await make_alumnus(country="KE", status=status)
    await make_alumnus(country="KE", do_not_engage=True, status=AlumnusStatus.DECEASED)

    people = await audience_people(InviteAudience(filter={}), actor=attache)
    counts = await classify(people, event, override_suspension=False)

    assert sum(counts.values()) == await Alumnus.all().count() == 4
    assert counts["invite"] == 2
    assert counts["do_not_engage"] == 1 and counts["deceased_or_left_service"] == 1
