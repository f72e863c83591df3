"""Newsletter services: who may write, what is checked, audience counts equal to the
directory's narrowed by the eligibility rule, previews, tests, send now or at a time
in the author's zone, pause and resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.models import Role, User
from engage.alumni.audience import audience_query, filter_from
from engage.alumni.directory import search_directory
from engage.alumni.eligibility import BulkKind, bulk_eligible
from engage.alumni.models import AlumnusStatus, Vetting
from engage.alumni.segments import create_segment, update_segment
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.mail.models import Category, OutboxMessage, SuppressionReason, SuppressionScope
from engage.mail.suppression import suppress
from engage.newsletters import services
from engage.newsletters.models import IssueStatus, Newsletter
from engage.places.models import Country, ProgrammeStatus
from tests.factories import ensure_country

BODY = 'Dear {{ preferred_name | "colleague" }},\n\nNews from **{{ embassy | "us" }}**.'


async def _mixed_audience(make_alumnus) -> dict[str, list]:
    """People of Kenya: some eligible, one of each reason to be left out; one Ghanaian."""
    await ensure_country("KE", "Kenya")
    await ensure_country("GH", "Ghana")
    await ensure_country("ZW", "Zimbabwe", programme_status=ProgrammeStatus.SUSPENDED)
    people = {
        "eligible": [await make_alumnus(country="KE") for _ in range(3)],
        "no_consent": [await make_alumnus(country="KE", accepts_newsletter=False)],
        "do_not_engage": [await make_alumnus(country="KE", do_not_engage=True)],
        "deceased_or_left_service": [
            await make_alumnus(country="KE", status=AlumnusStatus.DECEASED),
            await make_alumnus(country="KE", status=AlumnusStatus.LEFT_SERVICE),
        ],
        "pending_identity": [await make_alumnus(country="KE", vetting=Vetting.PENDING)],
        "no_email": [await make_alumnus(country="KE", email="")],
        "suppressed": [await make_alumnus(country="KE")],
        "programme_suspended": [await make_alumnus(country="ZW")],
        "elsewhere": [await make_alumnus(country="GH")],
    }
    await suppress(
        people["suppressed"][0].email, SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED
    )
    return people


async def _issue(staff, **data) -> Newsletter:
    values = {"subject": "Alumni news", "body": BODY, "filter": {"country": ["KE"]}}
    values.update(data)
    return await services.create_newsletter(staff, values)


async def test_only_staff_and_admins_write_and_read_newsletters(db, actor_for):
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff)
    for role in (Role.ALUMNUS, Role.ATTACHE):
        actor = await actor_for(role, countries=["KE"])
        with pytest.raises(PermissionDenied):
            await services.create_newsletter(actor, {"subject": "x", "body": "y", "filter": {}})
        with pytest.raises(PermissionDenied):
            await services.get_newsletter(actor, issue.id)
        with pytest.raises(PermissionDenied):
            await services.list_newsletters(actor)
        with pytest.raises(PermissionDenied):
            await services.send_newsletter(actor, issue.id)
    admin = await actor_for(Role.ADMIN)
    assert (await services.get_newsletter(admin, issue.id)).id == issue.id
    for missing in (issue.id + 1000, "x", -1, None):
        with pytest.raises(NotFound):
            await services.get_newsletter(staff, missing)


async def test_a_draft_is_created_and_changed(db, actor_for):
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff, sections=["news", "events"], events_weeks=4)
    assert issue.status == IssueStatus.DRAFT
    assert issue.audience == {"filter": {"country": ["KE"]}}
    assert issue.sections == ["events", "news"]  # in the email's order
    assert issue.events_weeks == 4
    assert issue.created_by_id == staff.id
    changed = await services.update_newsletter(
        staff, issue.id, {"subject": "  New   subject ", "segment_id": None, "filter": {}}
    )
    assert changed.subject == "New subject"
    assert changed.audience == {"filter": {}}
    listed = await services.list_newsletters(staff, status="draft")
    assert [n.id for n in listed] == [issue.id]
    assert await services.count_newsletters(staff, status=IssueStatus.SENT) == 0


async def test_errors_name_each_field(db, actor_for):
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await services.create_newsletter(
            staff,
            {
                "subject": "Hello {{ name }}",
                "body": "Dear {{ preferred_name }} of {{ nation }}",
                "sections": ["events", "weather"],
                "events_weeks": 99,
                "filter": {"country": ["not a code"]},
            },
        )
    fields = caught.value.fields
    assert "{{ name }}" in fields["subject"]
    assert "{{ nation }}" in fields["body"] and "preferred_name }}" not in fields["body"]
    assert "weather" in fields["sections"]
    assert set(fields) == {"subject", "body", "sections", "events_weeks", "country"}
    with pytest.raises(InvalidInput) as caught:
        await services.create_newsletter(
            staff, {"subject": "", "body": "", "segment_id": 1, "filter": {}, "colour": "red"}
        )
    assert set(caught.value.fields) == {"colour"}
    with pytest.raises(InvalidInput) as caught:
        await services.create_newsletter(staff, {"subject": "S", "body": ""})
    assert set(caught.value.fields) == {"body", "audience"}
    # A segment that does not exist is not found.
    with pytest.raises(NotFound):
        await services.create_newsletter(staff, {"subject": "S", "body": "B", "segment_id": 999})


async def test_only_drafts_and_scheduled_issues_change(db, actor_for, make_alumnus):
    await make_alumnus(country="KE")
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff)
    later = datetime.now(UTC) + timedelta(days=3)
    scheduled = await services.send_newsletter(staff, issue.id, send_at=later)
    assert scheduled.status == IssueStatus.SCHEDULED
    assert (
        await services.update_newsletter(staff, issue.id, {"body": "Changed"})
    ).body == "Changed"
    await Newsletter.filter(id=issue.id).update(status=IssueStatus.SENDING)
    with pytest.raises(Conflict):
        await services.update_newsletter(staff, issue.id, {"body": "Too late"})
    assert (await Newsletter.get(id=issue.id)).body == "Changed"


async def test_audience_counts_equal_the_directory_narrowed_by_the_rule(
    db, actor_for, make_alumnus
):
    people = await _mixed_audience(make_alumnus)
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff, filter={"country": ["KE", "ZW"]})
    counts = await services.audience_count(staff, issue)

    flt = filter_from({"country": ["KE", "ZW"]})
    directory = await search_directory(flt, actor=staff)
    assert counts.total == directory.total == 11
    ruled = await audience_query(flt, actor=staff).filter(bulk_eligible(BulkKind.NEWSLETTER))
    assert counts.recipients == len(ruled) == 3
    assert {p.id for p in ruled} == {p.id for p in people["eligible"]}
    assert counts.skipped == {
        "deceased_or_left_service": 2,
        "do_not_engage": 1,
        "no_consent": 1,
        "no_email": 1,
        "pending_identity": 1,
        "programme_suspended": 1,
        "suppressed": 1,
    }
    assert counts.recipients + sum(counts.skipped.values()) == counts.total
    # The directory's own consent filter agrees on the consent reason.
    consenting = await search_directory(
        filter_from({"country": ["KE", "ZW"], "accepts_newsletter": False}), actor=staff
    )
    assert consenting.total == counts.skipped["no_consent"]


async def test_segment_audience_counts(db, actor_for, make_alumnus):
    await _mixed_audience(make_alumnus)
    staff = await actor_for(Role.STAFF)
    segment = await create_segment("Kenyans", filter_from({"country": ["KE"]}), actor=staff)
    issue = await _issue(staff, filter=None, segment_id=segment.id)
    counts = await services.audience_count(staff, issue)
    assert (counts.total, counts.recipients) == (10, 3)
    assert await services.audience_count(staff, {"filter": {"country": ["GH"]}}) == (
        services.AudiencePreview(recipients=1, skipped={}, total=1)
    )
    person = await services.sample_recipient(staff, issue)
    assert person is not None and person.country.code == "KE"


async def test_send_now_and_a_second_click(db, actor_for, make_alumnus):
    await make_alumnus(country="KE")
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff)
    sent = await services.send_newsletter(staff, issue.id)
    assert sent.status == IssueStatus.SENDING
    assert sent.send_at is not None
    again = await services.send_newsletter(staff, issue.id)
    assert again.status == IssueStatus.SENDING
    assert again.send_at == sent.send_at
    with pytest.raises(Conflict):
        await services.send_newsletter(staff, issue.id, send_at=datetime.now(UTC) + timedelta(1))


async def test_schedule_in_the_authors_zone(db, actor_for, make_alumnus, make_user):
    await make_alumnus(country="KE")
    user = await make_user(role=Role.STAFF)
    await User.filter(id=user.id).update(timezone="Europe/Riga")
    staff = await actor_for(Role.STAFF, user=await User.get(id=user.id))
    issue = await _issue(staff)
    year = datetime.now(UTC).year + 1
    # 09:00 in Riga in summer (UTC+3), and in winter (UTC+2).
    summer = await services.send_newsletter(staff, issue.id, send_at=f"{year}-07-01T09:00")
    assert summer.status == IssueStatus.SCHEDULED
    assert summer.send_at == datetime(year, 7, 1, 6, 0, tzinfo=UTC)
    assert summer.send_timezone == "Europe/Riga"
    winter = await services.send_newsletter(staff, issue.id, send_at=datetime(year, 1, 5, 9, 0))
    assert winter.send_at == datetime(year, 1, 5, 7, 0, tzinfo=UTC)
    # With an offset, the offset counts.
    aware = await services.send_newsletter(staff, issue.id, send_at=f"{year}-01-05T09:00+00:00")
    assert aware.send_at == datetime(year, 1, 5, 9, 0, tzinfo=UTC)
    # The hour skipped when clocks go forward (last Sunday of March, 03:00 -> 04:00).
    march_31 = max(d for d in (datetime(year, 3, day) for day in range(25, 32)) if d.weekday() == 6)
    with pytest.raises(InvalidInput) as caught:
        await services.send_newsletter(staff, issue.id, send_at=march_31.replace(hour=3, minute=30))
    assert "send_at" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        await services.send_newsletter(staff, issue.id, send_at="2001-01-01T09:00")
    assert "future" in caught.value.fields["send_at"]
    with pytest.raises(InvalidInput):
        await services.send_newsletter(staff, issue.id, send_at="next tuesday")
    # Back to a draft.
    draft = await services.unschedule_newsletter(staff, issue.id)
    assert (draft.status, draft.send_at) == (IssueStatus.DRAFT, None)


async def test_nobody_to_send_to_and_bad_placeholders_stop_a_send(db, actor_for, make_alumnus):
    await make_alumnus(country="KE", accepts_newsletter=False)
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff)
    with pytest.raises(InvalidInput) as caught:
        await services.send_newsletter(staff, issue.id)
    assert "audience" in caught.value.fields
    # A placeholder that slipped in (a series' text, an old draft) is named.
    await Newsletter.filter(id=issue.id).update(body="Dear {{ nickname }}")
    with pytest.raises(InvalidInput) as caught:
        await services.send_newsletter(staff, issue.id)
    assert "{{ nickname }}" in caught.value.fields["body"]
    assert (await Newsletter.get(id=issue.id)).status == IssueStatus.DRAFT


async def test_pause_and_resume(db, actor_for, make_alumnus):
    await make_alumnus(country="KE")
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff)
    with pytest.raises(Conflict):
        await services.pause_newsletter(staff, issue.id)
    with pytest.raises(Conflict):
        await services.resume_newsletter(staff, issue.id)
    await services.send_newsletter(staff, issue.id)
    await Newsletter.filter(id=issue.id).update(
        lease_owner="w1", lease_expires_at=datetime.now(UTC)
    )
    paused = await services.pause_newsletter(staff, issue.id)
    assert paused.status == IssueStatus.PAUSED and paused.paused_at is not None
    assert (await services.pause_newsletter(staff, issue.id)).status == IssueStatus.PAUSED
    resumed = await services.resume_newsletter(staff, issue.id)
    assert (resumed.status, resumed.paused_at, resumed.lease_owner) == (
        IssueStatus.SENDING,
        None,
        None,
    )
    await services.pause_newsletter(staff, issue.id)
    # Sending a paused issue resumes it.
    assert (await services.send_newsletter(staff, issue.id)).status == IssueStatus.SENDING


async def test_send_me_a_test(db, actor_for, make_alumnus, settings):
    staff = await actor_for(Role.STAFF)
    issue = await _issue(staff)
    await services.send_test(staff, issue.id, settings)
    await services.send_test(staff, issue.id, settings)
    rows = await OutboxMessage.filter(template="newsletter").order_by("id")
    assert len(rows) == 2  # each click sends one
    row = rows[0]
    assert row.to_address == staff.user.email
    assert row.category == Category.TRANSACTIONAL
    assert row.campaign is None  # not counted in the issue's stats
    assert row.context == {"newsletter": issue.id, "test": True}
    assert (row.recipient_type, row.recipient_id) == ("user", staff.id)
    # An author with an alumni profile sees their own values.
    own = await make_alumnus(country="KE", user=staff.user, preferred_name="Wanjiku")
    await services.send_test(staff, issue.id, settings)
    row = await OutboxMessage.filter(template="newsletter").order_by("-id").first()
    assert (row.recipient_type, row.recipient_id) == ("alumnus", own.id)


async def test_preview_for_a_recipient_and_a_sample(
    db, actor_for, make_alumnus, make_embassy, settings
):
    await make_embassy(code="NBO", country="KE")
    person = await make_alumnus(country="KE", preferred_name="Wanjiku", rank="Major")
    staff = await actor_for(Role.STAFF)
    issue = await _issue(
        staff, subject='News for {{ rank | "you" }} {{ preferred_name }}', sections=["events"]
    )
    preview = await services.render_preview(issue, recipient=person, settings=settings)
    assert preview.subject == "News for Major Wanjiku"
    assert "Dear Wanjiku," in preview.text
    assert "News from **Embassy NBO**." in preview.text
    assert "<strong>Embassy NBO</strong>" in preview.html
    assert "<style" not in preview.html and "style=" in preview.html  # CSS inlined
    assert "Preview: each recipient's copy" in preview.text
    # No events in the window: the section is left out.
    assert "Coming up for you" not in preview.text
    sample = await services.render_preview(issue, recipient=None, settings=settings)
    assert sample.subject == "News for you [preferred_name]"
    assert "Dear colleague," in sample.text
    # Unsaved changes are what the preview shows.
    issue.body = "Changed, {{ country }}"
    changed = await services.render_preview(issue, recipient=person, settings=settings)
    assert "Changed, Country KE" in changed.text or "Changed, Kenya" in changed.text
    issue.body = "{{ oops }}"
    with pytest.raises(InvalidInput):
        await services.render_preview(issue, recipient=person, settings=settings)


async def test_edits_to_a_segment_after_saving_are_followed_until_the_send(
    db, actor_for, make_alumnus
):
    await _mixed_audience(make_alumnus)
    staff = await actor_for(Role.STAFF)
    segment = await create_segment("People", filter_from({"country": ["KE"]}), actor=staff)
    issue = await _issue(staff, filter=None, segment_id=segment.id)
    await update_segment(segment.id, actor=staff, flt=filter_from({"country": ["GH"]}))
    assert (await services.audience_count(staff, issue)).total == 1
    # Countries exist as rows (the GH person counts once).
    assert await Country.filter(code="GH").count() == 1
