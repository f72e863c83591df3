"""Newsletter series: the schedule (an RRULE read in the series' zone, in wall-clock
time), the issues the scheduler makes from it, once, however many schedulers run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.models import Role
from engage.errors import InvalidInput, PermissionDenied
from engage.mail.models import OutboxMessage
from engage.newsletters.models import IssueStatus, Newsletter, Series
from engage.newsletters.series import (
    build_rule,
    create_series,
    due_series,
    list_series,
    series_issues,
    upcoming_dates,
    update_series,
)
from engage.worker.scheduler import Scheduler

RIGA = "Europe/Riga"
#: Riga: EET (UTC+2) in winter, EEST (UTC+3) from 29 March 2026 03:00.
BEFORE = datetime(2026, 1, 10, tzinfo=UTC)


def _series(**fields):
    data = {
        "name": "Monthly alumni bulletin",
        "rrule": "FREQ=MONTHLY;BYMONTHDAY=1",
        "starts_at": "2026-02-01T09:00",
        "timezone": RIGA,
        "subject": 'News for {{ preferred_name | "colleague" }}',
        "body": "Dear {{ preferred_name }},\n\nThe month in brief.",
        "filter": {},
        "sections": ["events", "news"],
    }
    data.update(fields)
    return data


def _riga(instant: datetime) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(RIGA)).strftime("%Y-%m-%d %H:%M %Z")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- The rule -----------------------------------------------------------------------


async def test_monthly_at_nine_stays_at_nine_across_the_dst_change(db, actor_for):
    staff = await actor_for(Role.STAFF)
    series = await create_series(staff, _series(), now=BEFORE)
    assert series.next_run_at == datetime(2026, 2, 1, 7, 0, tzinfo=UTC)  # 09:00 EET
    dates = await upcoming_dates(series, after=BEFORE, count=4)
    assert [_riga(d) for d in dates] == [
        "2026-02-01 09:00 EET",
        "2026-03-01 09:00 EET",
        "2026-04-01 09:00 EEST",
        "2026-05-01 09:00 EEST",
    ]
    assert dates[2] == datetime(2026, 4, 1, 6, 0, tzinfo=UTC)  # UTC moved, Riga did not


async def test_the_31st_skips_short_months_and_minus_one_is_the_last_day(db, actor_for):
    staff = await actor_for(Role.STAFF)
    on_31st = await create_series(
        staff, _series(rrule="FREQ=MONTHLY;BYMONTHDAY=31", starts_at="2026-01-31T09:00"), now=BEFORE
    )
    assert [_riga(d)[:10] for d in await upcoming_dates(on_31st, after=BEFORE, count=5)] == [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
        "2026-08-31",
    ]
    last_day = await create_series(
        staff,
        _series(rrule="RRULE:freq=monthly;bymonthday=-1", starts_at="2027-12-31T09:00"),
        now=BEFORE,
    )
    assert last_day.rrule == "FREQ=MONTHLY;BYMONTHDAY=-1"
    days = [_riga(d) for d in await upcoming_dates(last_day, after=BEFORE, count=4)]
    assert days == [
        "2027-12-31 09:00 EET",
        "2028-01-31 09:00 EET",
        "2028-02-29 09:00 EET",  # a leap year
        "2028-03-31 09:00 EEST",
    ]


async def test_a_time_the_clocks_skip_moves_forward_by_the_hour(db, actor_for):
    staff = await actor_for(Role.STAFF)
    daily = await create_series(
        staff, _series(rrule="FREQ=DAILY", starts_at="2026-03-28T03:30"), now=BEFORE
    )
    dates = [_riga(d) for d in await upcoming_dates(daily, after=BEFORE, count=3)]
    assert dates == ["2026-03-28 03:30 EET", "2026-03-29 04:30 EEST", "2026-03-30 03:30 EEST"]


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("", "Give a schedule"),
        ("FREQ=HOURLY", "FREQ is DAILY, WEEKLY, MONTHLY or YEARLY"),
        ("FREQ=SECONDLY", "FREQ is DAILY"),
        ("BYMONTHDAY=1", "Say how often"),
        ("FREQ=MONTHLY;BYMONTHDAY=1;BYMONTHDAY=2", "given twice"),
        ("FREQ=DAILY;BYHOUR=9,17", "At most one issue a day"),
        ("FREQ=MONTHLY;BYEASTER=0", "BYEASTER is not used"),
        ("FREQ=MONTHLY\nEXDATE:20260301T090000", "one RRULE line"),
        ("FREQ=MONTHLY;COUNT=2;UNTIL=20270101", "COUNT or UNTIL"),
        ("FREQ=MONTHLY;UNTIL=2027", "UNTIL is a date"),
        ("FREQ=MONTHLY;BYMONTHDAY=40", "BYMONTHDAY takes numbers from 1 to 31"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY takes"),
        ("FREQ=MONTHLY;INTERVAL=-2", "INTERVAL takes"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY takes days"),
        ("FREQ=WEEKLY;WKST=XX", "Not a valid schedule"),
        ("garbage", "is not a rule part"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(rule, why):
    with pytest.raises(InvalidInput) as caught:
        build_rule(rule, datetime(2026, 1, 1, 9, 0), RIGA)
    assert why in caught.value.fields["rrule"]


async def test_a_rule_with_no_date_is_refused(db, actor_for):
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        # 30 February never comes (searching for it gives up, it does not hang).
        await create_series(staff, _series(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"), now=BEFORE)
    assert "no date" in caught.value.fields["rrule"]
    ended = _series(rrule="FREQ=MONTHLY;UNTIL=20250101T000000Z", starts_at="2024-06-01T09:00")
    with pytest.raises(InvalidInput) as caught:
        await create_series(staff, ended, now=BEFORE)
    assert "rrule" in caught.value.fields
    assert await Series.all().count() == 0


async def test_until_in_utc_is_read_in_the_zone(db, actor_for):
    staff = await actor_for(Role.STAFF)
    series = await create_series(
        staff, _series(rrule="FREQ=MONTHLY;BYMONTHDAY=1;UNTIL=20260401T060000Z"), now=BEFORE
    )
    dates = await upcoming_dates(series, after=BEFORE, count=10)
    assert [_riga(d)[:10] for d in dates] == ["2026-02-01", "2026-03-01", "2026-04-01"]


async def test_every_bad_field_is_named_at_once_and_only_staff_may(db, actor_for):
    staff = await actor_for(Role.STAFF)
    bad = _series(
        name=" ",
        rrule="FREQ=WEEKLY;BYDAY=XX",
        timezone="Mars/Olympus",
        subject="Hello {{ nmae }}",
        body="{{ rank | }}",
        sections=["events", "gossip"],
        events_weeks="99",
    )
    with pytest.raises(InvalidInput) as caught:
        await create_series(staff, bad, now=BEFORE)
    assert set(caught.value.fields) >= {
        "name",
        "timezone",
        "subject",
        "body",
        "sections",
        "events_weeks",
    }
    assert "nmae" in caught.value.fields["subject"]
    with pytest.raises(InvalidInput) as caught:
        await create_series(staff, _series(rrule="FREQ=WEEKLY;BYDAY=XX"), now=BEFORE)
    assert "rrule" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        await create_series(staff, _series(starts_at="2026-03-29T03:30"), now=BEFORE)
    assert "clocks go forward" in caught.value.fields["starts_at"]
    for role in (Role.ALUMNUS, Role.ATTACHE):
        actor = await actor_for(role, countries=["KE"])
        with pytest.raises(PermissionDenied):
            await create_series(actor, _series(), now=BEFORE)
        with pytest.raises(PermissionDenied):
            await list_series(actor)


# --- The scheduler's job ------------------------------------------------------------


async def test_each_date_makes_a_draft_for_staff_to_approve(db, actor_for):
    staff = await actor_for(Role.STAFF)
    series = await create_series(staff, _series(), now=BEFORE)

    assert await due_series(datetime(2026, 2, 1, 6, 59, tzinfo=UTC)) == 0
    assert await due_series(datetime(2026, 2, 1, 7, 0, tzinfo=UTC)) == 1
    assert await due_series(datetime(2026, 2, 1, 7, 5, tzinfo=UTC)) == 0  # made once

    issue = await Newsletter.get(series_id=series.id)
    assert issue.status == IssueStatus.DRAFT and issue.send_at is None
    assert issue.occurrence == datetime(2026, 2, 1, 7, 0, tzinfo=UTC)
    assert (issue.subject, issue.body, issue.audience, issue.sections) == (
        series.subject,
        series.body,
        {"filter": {}},
        ["events", "news"],
    )
    assert issue.created_by_id == staff.id  # type: ignore[attr-defined]
    assert issue.news_since is None  # the first: since the last issue sent, decided then
    await series.refresh_from_db()
    assert series.next_run_at == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)

    # April's issue, after the change to summer time: 09:00 in Riga is 06:00 UTC.
    assert await due_series(datetime(2026, 3, 1, 7, 0, tzinfo=UTC)) == 1
    assert await due_series(datetime(2026, 4, 1, 6, 0, tzinfo=UTC)) == 1
    issues = await series_issues(staff, series.id)
    assert [_riga(i.occurrence) for i in issues] == [
        "2026-04-01 09:00 EEST",
        "2026-03-01 09:00 EET",
        "2026-02-01 09:00 EET",
    ]
    assert issues[0].news_since == issues[1].occurrence  # news since the last issue


async def test_after_a_long_stop_only_the_latest_date_makes_an_issue(db, actor_for):
    staff = await actor_for(Role.STAFF)
    series = await create_series(staff, _series(), now=BEFORE)
    assert await due_series(datetime(2026, 5, 15, tzinfo=UTC)) == 1
    issue = await Newsletter.get(series_id=series.id)
    assert _riga(issue.occurrence) == "2026-05-01 09:00 EEST"
    await series.refresh_from_db()
    assert _riga(series.next_run_at) == "2026-06-01 09:00 EEST"


async def test_an_automatic_series_sends_in_the_same_turn(db, settings, actor_for, make_alumnus):
    staff = await actor_for(Role.STAFF)
    readers = [await make_alumnus(country="KE") for _ in range(3)]
    await make_alumnus(country="KE", accepts_newsletter=False)
    series = await create_series(staff, _series(automatic=True), now=BEFORE)
    scheduler = Scheduler(settings, clock=Clock(datetime(2026, 2, 1, 7, 0, 30, tzinfo=UTC)))

    counts = await scheduler.tick()

    assert counts is not None
    assert counts["newsletter_series"] == 1
    assert counts["newsletters"] == 3
    issue = await Newsletter.get(series_id=series.id)
    assert issue.status == IssueStatus.SENT
    assert issue.send_at == datetime(2026, 2, 1, 7, 0, tzinfo=UTC)
    rows = await OutboxMessage.filter(campaign=f"newsletter:{issue.id}").values_list(
        "recipient_id", flat=True
    )
    assert sorted(rows) == sorted(r.id for r in readers)
    again = await scheduler.tick()
    assert again is not None and again["newsletter_series"] == 0 and again["newsletters"] == 0


async def test_two_schedulers_make_each_issue_once(db, settings, actor_for):
    staff = await actor_for(Role.STAFF)
    monthly = await create_series(staff, _series(), now=BEFORE)
    weekly = await create_series(
        staff, _series(name="Weekly", rrule="FREQ=WEEKLY;BYDAY=MO"), now=BEFORE
    )
    now = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # Monday 2 February, after 09:00 in Riga

    # Without the scheduler's lock: the jobs themselves race (separate connections
    # on PostgreSQL).
    made = await asyncio.gather(*(due_series(now) for _ in range(4)))
    assert sum(made) == 2
    # With it: several schedulers ticking together.
    later = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    schedulers = [Scheduler(settings, clock=Clock(later)) for _ in range(3)]
    results = await asyncio.gather(*(s.tick() for s in schedulers))
    assert sum(r["newsletter_series"] for r in results if r is not None) == 2

    for series, expected in ((monthly, 2), (weekly, 2)):
        occurrences = await Newsletter.filter(series_id=series.id).values_list(
            "occurrence", flat=True
        )
        assert len(occurrences) == len(set(occurrences)) == expected


async def test_a_new_schedule_starts_from_now_and_an_inactive_series_rests(db, actor_for):
    staff = await actor_for(Role.STAFF)
    series = await create_series(staff, _series(), now=BEFORE)
    now = datetime(2026, 2, 10, tzinfo=UTC)
    series = await update_series(
        staff, series.id, {"rrule": "FREQ=WEEKLY;BYDAY=TU", "body": "Weekly now."}, now=now
    )
    assert _riga(series.next_run_at) == "2026-02-10 09:00 EET"
    assert series.body == "Weekly now."
    series = await update_series(staff, series.id, {"active": False}, now=now)
    assert await due_series(datetime(2026, 3, 1, tzinfo=UTC)) == 0
    series = await update_series(
        staff, series.id, {"active": True}, now=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert _riga(series.next_run_at) == "2026-03-03 09:00 EET"  # missed dates make no issue
    with pytest.raises(InvalidInput) as caught:
        await update_series(staff, series.id, {"colour": "red"})
    assert caught.value.fields == {"colour": "Unknown field."}
    moved = await update_series(staff, series.id, {"timezone": "Africa/Nairobi"}, now=now)
    assert moved.starts_at == datetime(2026, 2, 1, 6, 0, tzinfo=UTC)  # 09:00 in Nairobi
    assert await Series.filter(id=series.id).count() == 1
    assert moved.next_run_at is not None
    assert moved.next_run_at > now - timedelta(days=1)
