"""The demo's engagement history: years of invitations, answers, attendance and
newsletters behind the demo alumni, so each profile's timeline and every Insights
report (coverage, lapsed and lost, funnels, careers) has something to show.

::

    added = await seed_demo_engagement(settings)    # timeline lines written; 0 after

Run after the other demo steps (alumni, events, invitations, newsletters). What it
makes, dated back from today:

- **Past events** at the Nairobi and Bogotá embassies over six years (receptions,
  a course reunion, seminars, webinars), each with invitations to part of the
  embassy's alumni trained by then, their answers (yes, no, maybe or none) and who
  came, a walk-in or two: the funnel invited → answered → yes → attended, by month.
- **Past newsletters**, delivered before Engage kept issues (a line with the subject,
  no issue in the archive): two bulletins for everyone years ago, then
  regional letters (East Africa, the Andes, Eurasia, Asia-Pacific, the Gulf and
  Central Asia) to part of their countries, so the last contact of people spreads
  over months and years, and some, everyone trained since among them, were never
  contacted.
- **Updates**: the claimed profiles' owners edited their details now and then;
  attachés updated contact details after a call (a line, not engagement); a few
  promotions to colonel (OF-5) and general (OF-6) rank recorded by staff in the last
  year, some for people not heard from in years ("recently promoted and not engaged").
- The lines the earlier demo steps wrote without the services (the past reception's
  invitations and answers, the mail page's bounces) are filled in.

Every line goes through :func:`engage.alumni.engagement.record_engagements`, whose
rules move ``last_contacted_at`` and ``last_engaged_at``. The same history every run
(a fixed seed); idempotent: the first run leaves a ``demo.engagement`` audit event,
and a run that finds it adds nothing.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from engage.accounts.actor import load_actor
from engage.accounts.audit import record
from engage.accounts.models import AuditEvent, User
from engage.accounts.users import find_user
from engage.alumni.career import add_career_entry
from engage.alumni.eligibility import BulkKind, bulk_eligible
from engage.alumni.engagement import EngagementRecord, bounce_ref, record_engagements
from engage.alumni.grades import table_grade
from engage.alumni.identity import confirmed_alumni
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    Engagement,
    EngagementKind,
    TrainingRecord,
)
from engage.cli.demo_alumni import demo_data
from engage.clock import utcnow
from engage.events.models import Event, EventStatus
from engage.events.timefmt import to_local, to_utc
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.mail.models import Bounce
from engage.places.models import Accreditation, Embassy
from engage.settings import Settings

SEED = 12
MARKER = "demo.engagement"
STAFF = "staff@engage.example"
#: Who invites for each embassy (demo accounts of engage.cli.demo).
ATTACHES = {
    "NBO": "attache.nairobi@engage.example",
    "BOG": "attache.bogota@engage.example",
}
K = EngagementKind


@dataclass(frozen=True)
class PastEvent:
    embassy: str
    kind: str
    title: str
    #: How long ago it was held (days), and its local start time (hour).
    days_ago: int
    hour: int
    #: Share of the embassy's alumni (trained by then) who were invited.
    invited: float
    #: Shares of the invited who said yes, no, maybe (the rest: no answer).
    yes: float
    no: float
    maybe: float
    #: Shares of those saying yes, maybe who came; people who walked in.
    came: float = 0.8
    came_maybe: float = 0.3
    walk_ins: int = 0
    capacity: int | None = None
    venue: str = ""
    online: bool = False


PAST_EVENTS = (
    PastEvent(
        "NBO", "reception", "Alumni reception 2020", 2190, 18, 0.8, 0.45, 0.2, 0.1,
        walk_ins=1, capacity=80, venue="The Ambassador's Residence",
    ),
    PastEvent(
        "BOG", "reception", "Alumni reception 2021", 1830, 19, 0.8, 0.5, 0.15, 0.1,
        walk_ins=1, capacity=70, venue="The Ambassador's Residence",
    ),
    PastEvent(
        "NBO", "course_reunion", "Reunion of the Staff College classes of 2010 to 2015",
        1340, 17, 0.5, 0.4, 0.25, 0.1, venue="Embassy conference hall",
    ),
    PastEvent(
        "BOG", "seminar", "Seminar: maritime security in the Caribbean", 900, 9,
        0.6, 0.35, 0.25, 0.15, came=0.7, venue="Embassy conference room",
    ),
    PastEvent(
        "NBO", "seminar", "Seminar: peace support operations in the Horn of Africa", 660, 9,
        0.6, 0.4, 0.2, 0.15, came=0.75, venue="Embassy conference hall",
    ),
    PastEvent(
        "NBO", "reception", "Reception for the graduates of 2024", 450, 18, 0.7, 0.5, 0.15, 0.1,
        walk_ins=2, capacity=60, venue="The Ambassador's Residence",
    ),
    PastEvent(
        "BOG", "webinar", "Webinar: cyber defence for small services", 230, 10,
        0.7, 0.3, 0.1, 0.1, came=0.6, came_maybe=0.2, online=True,
    ),
    PastEvent(
        "NBO", "webinar", "Webinar: logistics in peacekeeping missions", 150, 10,
        0.5, 0.3, 0.15, 0.1, came=0.65, online=True,
    ),
    PastEvent(
        "BOG", "reception", "Independence Day reception", 55, 18, 0.45, 0.55, 0.15, 0.1,
        came=0.85, walk_ins=1, capacity=50, venue="The Ambassador's Residence",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class PastIssue:
    subject: str
    days_ago: int
    #: The countries it went to (empty: all), and the share of them it reached.
    countries: tuple[str, ...]
    reach: float


PAST_ISSUES = (
    PastIssue("Alumni bulletin, spring 2022", 1680, (), 0.9),
    PastIssue("Alumni bulletin, 2023", 1250, (), 0.85),
    PastIssue("East Africa alumni news, first issue", 820, ("KE", "UG", "SO"), 0.8),
    PastIssue("Andean alumni news", 560, ("CO", "EC"), 0.8),
    PastIssue("Eurasia alumni letter", 500, ("UA", "KZ"), 0.7),
    PastIssue("East Africa alumni news, autumn", 320, ("KE", "UG", "SO"), 0.6),
    PastIssue("Asia-Pacific alumni letter", 290, ("VN",), 0.75),
    PastIssue("Ukraine alumni letter", 250, ("UA",), 0.6),
    PastIssue("Andean alumni news, summer", 130, ("CO", "EC"), 0.6),
    PastIssue("Gulf and Central Asia alumni letter", 110, ("SA", "KZ"), 0.6),
    PastIssue("East Africa alumni news, this season", 40, ("KE", "UG", "SO"), 0.45),
)
#: Promotions recorded by staff in the last year: (target grade, how many).
PROMOTIONS = (("OF-5", 7), ("OF-6", 3))


@dataclass
class _Person:
    id: int
    country: str
    service: str
    grade: str
    #: The year their (first) training ended; None: no training recorded.
    trained: int | None
    claimed: bool
    email: bool


async def seed_demo_engagement(settings: Settings, *, now: datetime | None = None) -> int:
    """Write the demo's history once (module doc); returns the lines written."""
    if await AuditEvent.exists(action=MARKER):
        return 0
    now = now or utcnow()
    rng = random.Random(SEED)
    people = await _people()
    if not people:
        return 0
    lines: list[EngagementRecord] = []
    lines += await _filled_in(now)
    for past in PAST_EVENTS:
        lines += await _event(settings, past, people, rng, now)
    readers = await (
        confirmed_alumni()
        .filter(bulk_eligible(BulkKind.NEWSLETTER))
        .order_by("id")
        .values_list("id", flat=True)
    )
    for issue in PAST_ISSUES:
        lines += _issue(issue, people, readers, rng, now)
    lines += _updates(people, rng, now)
    async with in_transaction() as conn:
        written = await record_engagements(lines, using_db=conn)
        await record(MARKER, actor=None, details={"lines": written, "seed": SEED}, using_db=conn)
    staff = await find_user(STAFF)
    if staff is not None:
        written += await _promotions(people, staff, rng, now)
    return written


async def _people() -> dict[int, _Person]:
    """The confirmed demo alumni, with when their training ended."""
    rows = await confirmed_alumni().values_list(
        "id", "country_id", "service", "grade", "user_id", "email_key"
    )
    ended: dict[int, int] = {}
    for alumnus_id, end, year in await TrainingRecord.all().values_list(
        "alumnus_id", "end_date", "class_year"
    ):
        found = end.year if end is not None else year
        if found is not None:
            ended[alumnus_id] = min(ended.get(alumnus_id, found), found)
    found: dict[int, _Person] = {}
    for pk, country, service, grade, user, key in rows:
        trained = ended.get(pk)
        found[pk] = _Person(
            pk, country, str(service), grade or "", trained, user is not None, bool(key)
        )
    return found


def _trained_by(person: _Person, when: datetime) -> bool:
    return person.trained is not None and person.trained < when.year


# --- Events --------------------------------------------------------------------------


async def _event(
    settings: Settings,
    past: PastEvent,
    people: dict[int, _Person],
    rng: random.Random,
    now: datetime,
) -> list[EngagementRecord]:
    embassy = await Embassy.get_or_none(code=past.embassy)
    attache = await find_user(ATTACHES[past.embassy])
    if embassy is None or attache is None:
        return []
    if await Event.exists(embassy_id=embassy.id, title=past.title):
        return []
    day = to_local(now, embassy.timezone).date() - timedelta(days=past.days_ago)
    starts = to_utc(datetime(day.year, day.month, day.day, past.hour, 0), embassy.timezone)
    countries = set(
        await Accreditation.filter(embassy_id=embassy.id).values_list("country_id", flat=True)
    )
    eligible = set(
        await confirmed_alumni()
        .filter(bulk_eligible(BulkKind.INVITATIONS), country_id__in=sorted(countries))
        .values_list("id", flat=True)
    )
    invited_at = starts - timedelta(days=21)
    chosen = [
        people[pk]
        for pk in sorted(eligible)
        if pk in people and _trained_by(people[pk], invited_at) and rng.random() < past.invited
    ]
    event = await Event.create(
        embassy_id=embassy.id,
        kind=past.kind,
        title=past.title,
        description="An evening with the programme's alumni and their families.",
        venue=past.venue,
        online_url="https://meet.example.org/engage-demo" if past.online else "",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        timezone=embassy.timezone,
        capacity=past.capacity,
        status=EventStatus.PUBLISHED,
        uid=f"{uuid.uuid4().hex}@{settings.mail.domain}",
        created_by_id=attache.id,
        published_at=invited_at - timedelta(days=2),
    )
    ref = ("event", event.id)
    rows: list[Invitation] = []
    lines: list[EngagementRecord] = []
    for index, person in enumerate(chosen):
        delivered = invited_at + timedelta(minutes=2 + index // 10)
        lines.append(EngagementRecord(person.id, K.INVITED, delivered, ref))
        status, answered = _answer(past, rng), None
        if status is not InvitationStatus.INVITED:
            answered = delivered + timedelta(hours=rng.randint(2, 24 * 14))
            lines.append(EngagementRecord(person.id, K.ANSWERED, answered, ref, str(status)))
        share = {InvitationStatus.YES: past.came, InvitationStatus.MAYBE: past.came_maybe}
        arrived = None
        if rng.random() < share.get(status, 0.0):
            arrived = starts + timedelta(minutes=rng.randint(-20, 40))
            lines.append(EngagementRecord(person.id, K.ATTENDED, arrived, ref))
        rows.append(
            Invitation(
                event_id=event.id,
                alumnus_id=person.id,
                status=status,
                source=InvitationSource.INVITED,
                responded_at=answered,
                invited_by_id=attache.id,
                invited_at=invited_at,
                arrived_at=arrived,
                arrived_by_id=attache.id if arrived else None,
            )
        )
    invited_ids = {person.id for person in chosen}
    strangers = [
        people[pk]
        for pk in sorted(eligible - invited_ids)
        if pk in people and _trained_by(people[pk], starts)
    ]
    for person in rng.sample(strangers, min(past.walk_ins, len(strangers))):
        arrived = starts + timedelta(minutes=rng.randint(10, 50))
        lines.append(EngagementRecord(person.id, K.ATTENDED, arrived, ref, "walk_in"))
        rows.append(
            Invitation(
                event_id=event.id,
                alumnus_id=person.id,
                status=InvitationStatus.YES,
                source=InvitationSource.WALK_IN,
                responded_at=arrived,
                invited_by_id=attache.id,
                invited_at=arrived,
                arrived_at=arrived,
                arrived_by_id=attache.id,
            )
        )
    seats = sum(1 for row in rows if row.status == InvitationStatus.YES)
    async with in_transaction() as conn:
        await Invitation.bulk_create(rows, using_db=conn)
        await Event.filter(id=event.id).using_db(conn).update(seats_taken=seats)
    return lines


def _answer(past: PastEvent, rng: random.Random) -> InvitationStatus:
    roll = rng.random()
    if roll < past.yes:
        return InvitationStatus.YES
    if roll < past.yes + past.no:
        return InvitationStatus.NO
    if roll < past.yes + past.no + past.maybe:
        return InvitationStatus.MAYBE
    return InvitationStatus.INVITED


async def _filled_in(now: datetime) -> list[EngagementRecord]:
    """Lines for what earlier demo steps wrote directly: invitations to events already
    held (delivered when made) and answers given before them, where no line says so."""
    lines: list[EngagementRecord] = []
    seen = {
        (pk, str(kind), ref_id)
        for pk, kind, ref_id in await Engagement.filter(ref_type="event").values_list(
            "alumnus_id", "kind", "ref_id"
        )
    }
    rows = await Invitation.filter(
        event__starts_at__lt=now, source=InvitationSource.INVITED
    ).values_list("alumnus_id", "event_id", "invited_at", "responded_at", "status")
    for pk, event_id, invited_at, responded_at, status in rows:
        ref = ("event", event_id)
        if (pk, K.INVITED.value, event_id) not in seen:
            lines.append(EngagementRecord(pk, K.INVITED, invited_at + timedelta(minutes=3), ref))
        if responded_at is not None and (pk, K.ANSWERED.value, event_id) not in seen:
            lines.append(EngagementRecord(pk, K.ANSWERED, responded_at, ref, str(status)))
    # The demo's bounces (engage.cli.demo_mail writes them as the receiver would).
    bounced = set(await Engagement.filter(kind=K.BOUNCED).values_list("alumnus_id", flat=True))
    owners = dict(await Alumnus.exclude(email_key=None).values_list("email_key", "id"))
    for bounce in await Bounce.all().select_related("message").order_by("id"):
        row = bounce.message
        if row is not None and row.recipient_type == "alumnus" and row.recipient_id:
            pk, ref = int(row.recipient_id), bounce_ref(row)
        else:
            pk, ref = owners.get(bounce.address_key), None
        if pk is None or pk in bounced:
            continue
        bounced.add(pk)
        detail = f"{bounce.kind}: {bounce.reporter}: {' '.join(bounce.diagnostic.split())}"
        lines.append(EngagementRecord(pk, K.BOUNCED, bounce.received_at, ref, detail))
    return lines


# --- Newsletters ---------------------------------------------------------------------


def _issue(
    issue: PastIssue,
    people: dict[int, _Person],
    eligible: Sequence[int],
    rng: random.Random,
    now: datetime,
) -> list[EngagementRecord]:
    """A newsletter delivered before Engage kept issues: a line with its subject."""
    sent = now - timedelta(days=issue.days_ago)
    reached = [
        pk
        for pk in eligible
        if pk in people
        and (not issue.countries or people[pk].country in issue.countries)
        and _trained_by(people[pk], sent)
        and rng.random() < issue.reach
    ]
    return [
        EngagementRecord(
            pk, K.NEWSLETTER, sent + timedelta(seconds=2 * index), detail=issue.subject
        )
        for index, pk in enumerate(reached)
    ]


# --- Updates -------------------------------------------------------------------------


def _updates(
    people: dict[int, _Person], rng: random.Random, now: datetime
) -> list[EngagementRecord]:
    """The owners of claimed profiles edit them; attachés update details after calls."""
    lines: list[EngagementRecord] = []
    for person in people.values():
        if person.claimed:
            for _n in range(rng.randint(1, 3)):
                at = now - timedelta(days=rng.randint(5, 900), hours=rng.randint(0, 23))
                fields = rng.choice(("phone", "position, unit", "language", "secondary_email"))
                lines.append(
                    EngagementRecord(person.id, K.PROFILE_UPDATED, at, detail=f"owner: {fields}")
                )
        elif rng.random() < 0.08:
            at = now - timedelta(days=rng.randint(20, 1500))
            lines.append(
                EngagementRecord(
                    person.id, K.PROFILE_UPDATED, at, detail="attache: phone", summary=False
                )
            )
    return lines


async def _promotions(
    people: dict[int, _Person], staff: User, rng: random.Random, now: datetime
) -> int:
    """Promotions in the last year, recorded by staff through the career service (a
    line, not engagement); most go to people not engaged for 18 months."""
    ladders = demo_data()["ladder"]
    quiet_since = now - timedelta(days=548)
    engaged = dict(await Alumnus.all().values_list("id", "last_engaged_at"))
    # A demo career has two to four entries: a promotion is a fourth at most.
    entries = Counter(await CareerEntry.all().values_list("alumnus_id", flat=True))
    actor = await load_actor(staff)
    made = 0
    taken: set[int] = set()
    for target, count in PROMOTIONS:
        below = f"OF-{int(target[3:]) - 1}"
        candidates = [
            p
            for p in sorted(people.values(), key=lambda p: p.id)
            if p.grade == below
            and p.id not in taken
            and entries[p.id] < 4
            and _rank_for(ladders, p, target)
        ]
        quiet = [p for p in candidates if (engaged.get(p.id) or now) < quiet_since]
        quiet += [p for p in candidates if engaged.get(p.id) is None]
        active = [p for p in candidates if p not in quiet]
        picks = rng.sample(quiet, min(len(quiet), count - 1))
        picks += rng.sample(active, min(len(active), count - len(picks)))
        for person in picks:
            at = now - timedelta(days=rng.randint(15, 330))
            await add_career_entry(
                person.id,
                {"rank": _rank_for(ladders, person, target), "effective_date": at.date()},
                actor=actor,
                now=at,
            )
            taken.add(person.id)
            made += 1
    return made


def _rank_for(ladders: dict[str, dict[str, Sequence[str]]], person: _Person, grade: str) -> str:
    """The rank of the person's country and service at ``grade`` ("" if none)."""
    ladder = ladders.get(person.country, {}).get(person.service) or ladders["_common"].get(
        person.service, ()
    )
    for rank in ladder:
        if table_grade(person.country, person.service, rank) == grade:
            return rank
    return ""
