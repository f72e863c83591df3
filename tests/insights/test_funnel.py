"""The event funnel on the small world of conftest.py and three events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engage.errors import NotFound
from engage.events.models import EventStatus
from engage.events.timefmt import to_local
from engage.insights.filters import report_filter
from engage.insights.funnel import event_funnel
from engage.invitations.models import Invitation, InvitationSource
from engage.invitations.models import InvitationStatus as S

NAMES = ("events", "invited", "answered", "yes", "attended", "no_show", "yes_started")


def counts(row):
    return {name: row.counts[name] for name in NAMES}


@pytest.fixture
async def events(world, make_event):
    """e1 at NBO ten days ago, e2 at NBO in two weeks, e3 at BOG forty days ago, and
    a draft (never counted)."""
    nbo, bog = world.embassies["NBO"], world.embassies["BOG"]
    made = {
        "e1": await make_event(nbo, title="Reception", starts_at=world.ago(10)),
        "e2": await make_event(nbo, title="Seminar", starts_at=world.now + timedelta(days=14)),
        "e3": await make_event(bog, title="Reunion", starts_at=world.ago(40)),
        "draft": await make_event(nbo, status=EventStatus.DRAFT, starts_at=world.ago(5)),
    }

    async def invite(event, key, status, *, arrived=False, source=InvitationSource.INVITED):
        await Invitation.create(
            event=made[event],
            alumnus=world.people[key],
            status=status,
            source=source,
            invited_at=world.ago(60),
            responded_at=None if status == S.INVITED else world.ago(50),
            arrived_at=made[event].starts_at if arrived else None,
        )

    await invite("e1", "k1", S.YES, arrived=True)
    await invite("e1", "k2", S.YES)  # did not come
    await invite("e1", "k3", S.INVITED)
    await invite("e1", "k4", S.YES, arrived=True, source=InvitationSource.WALK_IN)
    await invite("e1", "u1", S.NO)
    await invite("e1", "k5", S.REVOKED)
    await invite("e2", "k1", S.YES)
    await invite("e2", "k2", S.WAITLISTED)
    await invite("e2", "u1", S.MAYBE)
    await invite("e3", "c1", S.YES, arrived=True)
    await invite("draft", "k1", S.YES)
    return made


async def test_per_event_embassy_and_month(world, events):
    report = await event_funnel(report_filter(), actor=world.staff, now=world.now)
    rows = {row.label: counts(row) for row in report.events}
    assert rows == {
        # Invited: all but the revoked; answered: yes, no, maybe, waitlisted.
        "Reception": {"events": 1, "invited": 5, "answered": 4, "yes": 3, "attended": 2,
                      "no_show": 1, "yes_started": 3},
        # Not started: nobody is a no-show yet.
        "Seminar": {"events": 1, "invited": 3, "answered": 3, "yes": 1, "attended": 0,
                    "no_show": 0, "yes_started": 0},
        "Reunion": {"events": 1, "invited": 1, "answered": 1, "yes": 1, "attended": 1,
                    "no_show": 0, "yes_started": 1},
    }  # fmt: skip
    assert [row.label for row in report.events] == ["Seminar", "Reception", "Reunion"]
    assert counts(report.total) == {
        "events": 3, "invited": 9, "answered": 8, "yes": 5, "attended": 3, "no_show": 1,
        "yes_started": 4,
    }  # fmt: skip
    assert report.no_show_rate == pytest.approx(1 / 4)
    assert {r.key: r.counts["invited"] for r in report.embassies} == {"NBO": 8, "BOG": 1}
    months: dict[str, int] = {}
    for event in ("e1", "e2", "e3"):
        e = events[event]
        month = to_local(e.starts_at, e.timezone).strftime("%Y-%m")
        months[month] = months.get(month, 0) + {"e1": 5, "e2": 3, "e3": 1}[event]
    assert {r.key: r.counts["invited"] for r in report.months} == months
    assert [r.key for r in report.months] == sorted(months)


async def test_scope_and_filters(world, events):
    mine = await event_funnel(report_filter(), actor=world.nbo, now=world.now)
    assert counts(mine.total) == {
        "events": 2, "invited": 8, "answered": 7, "yes": 4, "attended": 2, "no_show": 1,
        "yes_started": 3,
    }  # fmt: skip
    with pytest.raises(NotFound):
        await event_funnel(report_filter(embassy="BOG"), actor=world.nbo)
    bog = await event_funnel(report_filter(embassy="BOG"), actor=world.staff)
    assert [r.label for r in bog.events] == ["Reunion"]
    # The invitees of one country: u1 said no to e1 and maybe to e2.
    uganda = await event_funnel(report_filter(country=["UG"]), actor=world.staff)
    assert counts(uganda.total) == {
        "events": 3, "invited": 2, "answered": 2, "yes": 0, "attended": 0, "no_show": 0,
        "yes_started": 0,
    }  # fmt: skip
    # Events that started in the last twenty days (and the one to come).
    recent = report_filter(date_from=(world.now - timedelta(days=20)).date())
    report = await event_funnel(recent, actor=world.staff, now=world.now)
    assert sorted(r.label for r in report.events) == ["Reception", "Seminar"]
    assert report.total.counts["invited"] == 8
    # PME class years 2015-2019: k1, k3 (and k5, pending, revoked anyway).
    pme = report_filter(course_category="pme", class_year_min=2015)
    report = await event_funnel(pme, actor=world.staff, now=world.now)
    assert report.total.counts["invited"] == 3  # k1 twice, k3 once
    assert report.total.counts["attended"] == 1
