"""The demo's engagement history (engage.cli.demo_engagement): after `engage demo`,
last contacts spread over months and years, some people never contacted, past events
with answers and attendance, newsletters, recent promotions of people not heard from,
and each line consistent with the summary columns."""

from __future__ import annotations

from datetime import timedelta

from engage.alumni.audience import months_before
from engage.alumni.engagement import CONTACTED, ENGAGED
from engage.alumni.identity import confirmed_alumni
from engage.alumni.models import Alumnus, CareerEntry, Engagement, EngagementKind
from engage.cli.demo import load_demo
from engage.cli.demo_engagement import PAST_EVENTS, PAST_ISSUES, seed_demo_engagement
from engage.clock import utcnow
from engage.events.models import Event
from engage.invitations.models import Invitation, InvitationStatus

K = EngagementKind


async def _latest(kinds) -> dict[int, object]:
    """The latest line of ``kinds`` per person, leaving out updates made by staff or
    an attaché (lines only: they move no column)."""
    rows = await Engagement.filter(kind__in=[str(k) for k in kinds]).values_list(
        "alumnus_id", "at", "detail"
    )
    latest: dict[int, object] = {}
    for pk, at, detail in rows:
        if detail.startswith(("staff: ", "attache: ")):
            continue
        if pk not in latest or latest[pk] < at:
            latest[pk] = at
    return latest


async def test_the_demo_history_feeds_every_report(settings, db):
    await load_demo(settings)
    await seed_demo_engagement(settings)  # a no-op once engage demo runs it itself
    now = utcnow()

    # Idempotent.
    lines = await Engagement.all().count()
    assert await seed_demo_engagement(settings) == 0
    assert await Engagement.all().count() == lines

    # Past events across the years, with the whole funnel.
    titles = [past.title for past in PAST_EVENTS]
    events = await Event.filter(title__in=titles).order_by("starts_at")
    assert len(events) == len(PAST_EVENTS)
    assert events[0].starts_at < now - timedelta(days=5 * 365)
    assert events[-1].starts_at > now - timedelta(days=90)
    for event in events:
        invitations = await Invitation.filter(event_id=event.id)
        answered = [i for i in invitations if i.responded_at is not None]
        yes = [i for i in invitations if i.status == InvitationStatus.YES]
        maybe = [i for i in invitations if i.status == InvitationStatus.MAYBE]
        came = [i for i in invitations if i.arrived_at is not None]
        assert len(invitations) > len(answered) > len(yes) > 0, event.title
        assert 0 < len(came) <= len(yes) + len(maybe), event.title
        assert event.seats_taken == len(yes)
        kinds = await Engagement.filter(ref_type="event", ref_id=event.id).values_list(
            "kind", flat=True
        )
        assert {str(k) for k in kinds} == {"invited", "answered", "attended"}

    for issue in PAST_ISSUES:
        assert await Engagement.filter(kind=K.NEWSLETTER, detail=issue.subject).count() > 0

    # The summary columns agree with the lines (the same rules as record_engagement).
    contacted, engaged = await _latest(CONTACTED), await _latest(ENGAGED)
    people = await confirmed_alumni().values_list("id", "last_contacted_at", "last_engaged_at")
    for pk, last_contacted, last_engaged in people:
        assert last_contacted == contacted.get(pk), pk
        assert last_engaged == engaged.get(pk), pk

    # Coverage spreads over every band, and some were never contacted.
    # (Reckoned without the issue of engage.cli.demo_newsletters, which every
    # eligible alumnus received a month ago: this history is what spreads the rest.)
    history: dict[int, object] = {}
    for pk, at, ref_type in await Engagement.filter(
        kind__in=[str(k) for k in CONTACTED]
    ).values_list("alumnus_id", "at", "ref_type"):
        if ref_type != "newsletter" and (pk not in history or history[pk] < at):
            history[pk] = at
    bands = {"3": 0, "6": 0, "12": 0, "24": 0, "older": 0, "never": 0}
    for pk, _contacted, _engaged in people:
        last_contacted = history.get(pk)
        if last_contacted is None:
            bands["never"] += 1
        elif last_contacted >= months_before(now, 3):
            bands["3"] += 1
        elif last_contacted >= months_before(now, 6):
            bands["6"] += 1
        elif last_contacted >= months_before(now, 12):
            bands["12"] += 1
        elif last_contacted >= months_before(now, 24):
            bands["24"] += 1
        else:
            bands["older"] += 1
    assert all(count >= 5 for count in bands.values()), bands
    assert bands["never"] < len(people) / 2, bands

    # Lapsed: not engaged for 18 months (or never), and some of them recently promoted.
    quiet_since = months_before(now, 18)
    quiet = {pk for pk, _contacted, last in people if last is None or last < quiet_since}
    assert 0 < len(quiet) < len(people)
    promoted = await CareerEntry.filter(
        effective_date__gte=(now - timedelta(days=365)).date(), grade__in=["OF-5", "OF-6"]
    ).values_list("alumnus_id", "grade")
    assert {grade for _pk, grade in promoted} == {"OF-5", "OF-6"}
    assert len({pk for pk, _grade in promoted} & quiet) >= 5
    lines_of_promoted = await Engagement.filter(
        kind=K.CAREER_UPDATED, alumnus_id__in=[pk for pk, _grade in promoted]
    ).count()
    assert lines_of_promoted >= len(promoted)

    # The mail page's bounces are on the people's timelines.
    assert await Engagement.filter(kind=K.BOUNCED).count() >= 3

    # People with an account updated their own profile: engagement, on their timeline.
    owners = await Alumnus.filter(user_id__isnull=False, last_engaged_at__isnull=False).count()
    assert owners >= 3
