"""The demo's invitations and answers, on the events of ``engage.cli.demo_events``.

::

    added = await seed_demo_invitations(settings)    # invitations made; 0 the second time

- **The upcoming Nairobi reception**: the Nairobi attaché invites every eligible
  alumnus of the embassy's countries through the invitations service (the emails go
  to the outbox like any run). The invitations are dated a week back, and about half
  the people have answered since: yes (most with a named guest), no, maybe, through
  the RSVP service, so the capacity of 40 fills and the last to say yes wait on the
  list in answer order; the rest have not answered.
- **The Bogotá webinar** (open to alumni of Colombia and Ecuador): the Bogotá attaché
  invites them; a few have said yes.
- **The past Nairobi reception**: the invitations a run made before it, with the
  answers people gave then (written directly: answers to an event in the past are
  closed), and who came: most of those who said yes and a few who said maybe,
  marked arrived at the door through the check-in service, and one walk-in.

Drafts and cancelled events get none. Idempotent: an event that has invitations is
left as it is. The same people answer the same way every time (a fixed seed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from engage.accounts.actor import load_actor
from engage.accounts.models import User
from engage.accounts.users import find_user
from engage.alumni.eligibility import BulkKind, bulk_eligible
from engage.alumni.identity import confirmed_alumni
from engage.alumni.models import AlumnusStatus
from engage.clock import utcnow
from engage.errors import EngageError
from engage.events.models import Event, EventStatus
from engage.invitations.checkin import add_walk_in, mark_arrived
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.invitations.services import invite
from engage.places.models import Accreditation, Embassy
from engage.settings import Settings

SEED = 8
#: The attaché who invites for each embassy (demo accounts of engage.cli.demo).
ATTACHES = {
    "NBO": "attache.nairobi@engage.example",
    "BOG": "attache.bogota@engage.example",
}
#: Guests' names, for the security list.
GUESTS = (
    "Wanjiku Kamau",
    "Achieng Otieno",
    "Fatuma Hassan",
    "Grace Nakato",
    "Amina Warsame",
    "Ruth Chebet",
    "Joyce Mwangi",
    "Halima Abdi",
)
DIETARY = ("", "", "", "Vegetarian", "No pork", "Halal", "Nut allergy", "")


@dataclass(frozen=True)
class _Plan:
    embassy: str
    title: str
    #: Shares of the invited who said yes, no, maybe (the rest: no answer yet).
    yes: float
    no: float
    maybe: float
    #: Share of those saying yes who bring a guest.
    guests: float = 0.0
    #: Who is invited (an audience filter). The Nairobi reception leaves the saved
    #: segment of recent Kenyan classes uninvited, for the attaché to invite.
    audience: tuple[tuple[str, object], ...] = ()


#: Events, by embassy and title (engage.cli.demo_events.DEMO_EVENTS).
UPCOMING = (
    _Plan(
        "NBO",
        "Evening reception at the Residence",
        yes=0.7,
        no=0.1,
        maybe=0.08,
        guests=0.5,
        audience=(("class_year_max", 2014),),
    ),
    _Plan("BOG", "Webinar: humanitarian demining, lessons from Colombia", yes=0.2, no=0, maybe=0),
)
PAST = _Plan(
    "NBO", "Reception for the Staff College graduates of 2025", yes=0.5, no=0.2, maybe=0.1, guests=0
)


async def seed_demo_invitations(settings: Settings, *, now: datetime | None = None) -> int:
    """Invite and answer as described in the module doc; returns the invitations made."""
    now = now or utcnow()
    rng = random.Random(SEED)
    added = 0
    for plan in UPCOMING:
        added += await _upcoming(plan, rng, now)
    added += await _past(PAST, rng)
    return added


async def _event(plan: _Plan) -> Event | None:
    embassy = await Embassy.get_or_none(code=plan.embassy)
    if embassy is None:
        return None
    event = await Event.get_or_none(embassy_id=embassy.id, title=plan.title)
    if event is None or event.status != EventStatus.PUBLISHED:
        return None
    if await Invitation.exists(event_id=event.id):
        return None  # done by an earlier run
    return event


async def _upcoming(plan: _Plan, rng: random.Random, now: datetime) -> int:
    event = await _event(plan)
    user = await find_user(ATTACHES[plan.embassy])
    if event is None or user is None:
        return 0
    try:
        job = await invite(await load_actor(user), event.id, {"filter": dict(plan.audience)})
    except EngageError:
        return 0  # not invitable (started, say): the demo goes on without
    # Invited a week ago; answers came in since, in this order.
    sent = now - timedelta(days=7)
    await Invitation.filter(event_id=event.id).update(invited_at=sent)
    invitations = await Invitation.filter(event_id=event.id).order_by("id")
    answered = sent
    for invitation in invitations:
        given = _answer(plan, event, rng)
        if given is None:
            continue
        answered += timedelta(minutes=rng.randint(20, 180))
        if answered >= now:
            break
        await answer(invitation.id, given, now=answered)
    return job.invited


def _answer(plan: _Plan, event: Event, rng: random.Random) -> RsvpAnswer | None:
    roll = rng.random()
    if roll < plan.yes:
        guests = 1 if event.guests_allowed and rng.random() < plan.guests else 0
        names = [rng.choice(GUESTS)] if guests and event.guests_named else []
        return RsvpAnswer("yes", guests=guests, guest_names=names, answers=_questions(event, rng))
    if roll < plan.yes + plan.no:
        return RsvpAnswer("no")
    if roll < plan.yes + plan.no + plan.maybe:
        return RsvpAnswer("maybe", answers=_questions(event, rng))
    return None


def _questions(event: Event, rng: random.Random) -> dict[str, str]:
    answers = {}
    for question in event.questions or []:
        kind, key = question.get("type"), str(question.get("id"))
        if kind == "yes_no":
            answers[key] = rng.choice(("yes", "no"))
        elif kind == "choice" and question.get("choices"):
            answers[key] = rng.choice(list(question["choices"]))
        elif kind == "text" and (text := rng.choice(DIETARY)):
            answers[key] = text
    return answers


async def _past(plan: _Plan, rng: random.Random) -> int:
    """Invitations to an event already held, with the answers given before it."""
    event = await _event(plan)
    user = await find_user(ATTACHES[plan.embassy])
    if event is None or user is None:
        return 0
    countries = Accreditation.filter(embassy_id=event.embassy_id).values_list(  # type: ignore[attr-defined]
        "country_id", flat=True
    )
    people = await (
        confirmed_alumni()
        .filter(bulk_eligible(BulkKind.INVITATIONS), country_id__in=list(await countries))
        .order_by("id")
        .values_list("id", flat=True)
    )
    sent = event.starts_at - timedelta(days=21)
    rows, seats = [], 0
    for index, pk in enumerate(people):
        given = _answer(plan, event, rng)
        need = 1 + given.guests if given is not None and given.status == "yes" else 0
        if need and event.capacity is not None and seats + need > event.capacity:
            given = RsvpAnswer("no")  # it was full: keep the demo simple
            need = 0
        seats += need
        rows.append(
            Invitation(
                event_id=event.id,
                alumnus_id=pk,
                status=InvitationStatus(given.status) if given else InvitationStatus.INVITED,
                source=InvitationSource.INVITED,
                guests=given.guests if given else 0,
                guest_names=given.guest_names if given else [],
                answers=given.answers if given else {},
                responded_at=sent + timedelta(hours=3 + 5 * index) if given else None,
                invited_by_id=user.id,
                invited_at=sent,
            )
        )
    async with in_transaction() as conn:
        await Invitation.bulk_create(rows, using_db=conn)
        await Event.filter(id=event.id).using_db(conn).update(seats_taken=seats)
    return len(rows) + await _attendance(event, user)


async def _attendance(event: Event, user: User) -> int:
    """Who came to the past event, marked at the door (engage.invitations.checkin) as
    they arrived; one walk-in among them. Returns the walk-ins' invitations made."""
    rng = random.Random(SEED + 1)  # apart from the answers' draws
    actor = await load_actor(user)
    coming = await Invitation.filter(
        event_id=event.id, status__in=[InvitationStatus.YES, InvitationStatus.MAYBE]
    ).order_by("id")
    at = event.starts_at - timedelta(minutes=15)
    for invitation in coming:
        share = 0.85 if invitation.status == InvitationStatus.YES else 0.35
        if rng.random() < share:
            at += timedelta(seconds=rng.randint(20, 150))
            await mark_arrived(actor, invitation.id, now=at)
    countries = Accreditation.filter(embassy_id=event.embassy_id).values("country_id")  # type: ignore[attr-defined]
    stranger = (
        await confirmed_alumni()
        .filter(country_id__in=Subquery(countries), do_not_engage=False)
        .exclude(status=AlumnusStatus.DECEASED)
        .exclude(id__in=Subquery(Invitation.filter(event_id=event.id).values("alumnus_id")))
        .order_by("id")
        .first()
    )
    if stranger is None:
        return 0
    await add_walk_in(actor, event.id, alumnus_id=stranger.id, now=at + timedelta(minutes=5))
    return 1
