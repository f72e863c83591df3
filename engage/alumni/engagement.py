"""The engagement record: each person's timeline, and the two summary columns kept
beside it where things happen (never recomputed by scanning).

::

    await record_engagement(person.id, EngagementKind.ANSWERED, at=now,
                            ref=("event", event.id), detail="yes", using_db=conn)
    lines = await timeline(attache, person.id)          # newest first; 404 out of scope

What moves which column, forward only (an older line never moves a column back):

- ``last_contacted_at``: a delivered invitation (``invited``), a delivered newsletter
  (``newsletter``), attendance (``attended``);
- ``last_engaged_at``: an answer (``answered``), attendance, an update of the profile
  (``profile_updated``) or of the career (``career_updated``) *by the person*. The
  same update made by staff or an attaché is a line of the timeline (``summary=False``)
  but not the person engaging: a promotion typed in by staff must not hide someone
  who has not been heard from;
- ``bounced`` moves neither.

Where the lines come from: the mail worker's delivery of an invitation (campaign
``invite:<job>``) or a newsletter (``newsletter:<issue>``) and bounces, through the
mail package's hooks (:mod:`engage.mail.hooks`, registered below); answers
(``engage.invitations.rsvp``), arrivals and walk-ins (``engage.invitations.checkin``),
profile updates (``engage.alumni.profiles``) and career entries
(``engage.alumni.career``) call :func:`record_engagement` in their own transaction.
A delivery that bounces afterwards, and an arrival undone, take their line back
(:func:`withdraw_engagement`).

``ref`` says what a line is about: ``("event", id)`` for invitations, answers,
attendance (and the bounce of an invitation), ``("newsletter", id)``,
``("message", outbox id)`` for the bounce of other mail. ``detail`` is short and
plain: an answer (``yes``), who changed what (``owner: phone, unit``), a rank
(``staff: Colonel (OF-5)``), a bounce (``hard: mx.example.org: 550 5.1.1 ...``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor
from engage.alumni.models import Alumnus, Engagement, EngagementKind
from engage.i18n import N_, _
from engage.mail.hooks import on_bounce, on_sent
from engage.mail.models import BounceKind, OutboxMessage

__all__ = [
    "CONTACTED",
    "ENGAGED",
    "EngagementRecord",
    "TimelineLine",
    "bounce_ref",
    "merge_engagement",
    "record_engagement",
    "record_engagements",
    "timeline",
    "timeline_lines",
    "withdraw_engagement",
]

#: Kinds that move ``last_contacted_at``, and those that move ``last_engaged_at``.
CONTACTED = frozenset({EngagementKind.INVITED, EngagementKind.NEWSLETTER, EngagementKind.ATTENDED})
ENGAGED = frozenset(
    {
        EngagementKind.ANSWERED,
        EngagementKind.ATTENDED,
        EngagementKind.PROFILE_UPDATED,
        EngagementKind.CAREER_UPDATED,
    }
)
_COLUMNS = (("last_contacted_at", CONTACTED), ("last_engaged_at", ENGAGED))
_DETAIL_MAX = 300
#: Rows per INSERT of :func:`record_engagements`.
_BATCH = 500

Ref = tuple[str, int]


def _columns(kind: EngagementKind) -> list[str]:
    return [column for column, kinds in _COLUMNS if kind in kinds]


# --- Recording ------------------------------------------------------------------------


async def record_engagement(
    alumnus_id: int,
    kind: EngagementKind,
    *,
    at: datetime,
    ref: Ref | None = None,
    detail: str = "",
    using_db: BaseDBAsyncClient | None = None,
    summary: bool = True,
) -> None:
    """Write one line of the person's timeline and move their summary columns forward.

    Both in ``using_db``'s transaction (the caller's change and its line commit
    together), or in a transaction of their own. ``summary=False`` writes the line
    only (a change made for the person by staff).
    """
    kind = EngagementKind(kind)
    if using_db is not None:
        await _write(alumnus_id, kind, at, ref, detail, summary, using_db)
        return
    async with in_transaction() as conn:
        await _write(alumnus_id, kind, at, ref, detail, summary, conn)


async def _write(
    alumnus_id: int,
    kind: EngagementKind,
    at: datetime,
    ref: Ref | None,
    detail: str,
    summary: bool,
    conn: BaseDBAsyncClient,
) -> None:
    await Engagement.create(
        alumnus_id=alumnus_id,
        kind=kind,
        at=at,
        ref_type=ref[0] if ref else "",
        ref_id=ref[1] if ref else None,
        detail=detail[:_DETAIL_MAX],
        using_db=conn,
    )
    if summary:
        for column in _columns(kind):
            await _move_forward(alumnus_id, column, at, conn)


async def _move_forward(
    alumnus_id: int | Sequence[int], column: str, at: datetime, conn: BaseDBAsyncClient
) -> int:
    """``column = at`` where it is empty or earlier: GREATEST, as a conditional update
    (a concurrent later value is never overwritten by an earlier one)."""
    later = Q(**{f"{column}__isnull": True}) | Q(**{f"{column}__lt": at})
    people = Alumnus.filter(later)
    if isinstance(alumnus_id, int):
        people = people.filter(id=alumnus_id)
    else:
        people = people.filter(id__in=list(alumnus_id))
    return await people.using_db(conn).update(**{column: at})


@dataclass(frozen=True)
class EngagementRecord:
    """One line for :func:`record_engagements`."""

    alumnus_id: int
    kind: EngagementKind
    at: datetime
    ref: Ref | None = None
    detail: str = ""
    summary: bool = True


async def record_engagements(
    records: Iterable[EngagementRecord], *, using_db: BaseDBAsyncClient | None = None
) -> int:
    """Many lines at once, with the same rules as :func:`record_engagement` (bulk
    inserts, then one conditional update per person and column). Returns the count."""
    items = list(records)
    if not items:
        return 0
    if using_db is None:
        async with in_transaction() as conn:
            return await _write_many(items, conn)
    return await _write_many(items, using_db)


async def _write_many(items: list[EngagementRecord], conn: BaseDBAsyncClient) -> int:
    rows = [
        Engagement(
            alumnus_id=item.alumnus_id,
            kind=EngagementKind(item.kind),
            at=item.at,
            ref_type=item.ref[0] if item.ref else "",
            ref_id=item.ref[1] if item.ref else None,
            detail=item.detail[:_DETAIL_MAX],
        )
        for item in items
    ]
    await Engagement.bulk_create(rows, batch_size=_BATCH, using_db=conn)
    latest: dict[tuple[str, int], datetime] = {}
    for item in items:
        if not item.summary:
            continue
        for column in _columns(EngagementKind(item.kind)):
            key = (column, item.alumnus_id)
            if key not in latest or latest[key] < item.at:
                latest[key] = item.at
    for (column, alumnus_id), at in latest.items():
        await _move_forward(alumnus_id, column, at, conn)
    return len(rows)


async def withdraw_engagement(
    alumnus_id: int,
    kind: EngagementKind,
    *,
    ref: Ref,
    using_db: BaseDBAsyncClient | None = None,
) -> int:
    """Take back the lines of ``kind`` about ``ref`` (an arrival undone, a delivery
    that bounced). A summary column one of them had set goes back to the latest
    line left of its kinds (or empty). Returns how many lines went."""
    if using_db is None:
        async with in_transaction() as conn:
            return await _withdraw(alumnus_id, EngagementKind(kind), ref, conn)
    return await _withdraw(alumnus_id, EngagementKind(kind), ref, using_db)


async def _withdraw(
    alumnus_id: int, kind: EngagementKind, ref: Ref, conn: BaseDBAsyncClient
) -> int:
    lines = Engagement.filter(alumnus_id=alumnus_id, kind=kind, ref_type=ref[0], ref_id=ref[1])
    times = await lines.using_db(conn).values_list("at", flat=True)
    if not times:
        return 0
    removed = await lines.using_db(conn).delete()
    gone = max(times)
    for column in _columns(kind):
        current = await Alumnus.filter(id=alumnus_id).using_db(conn).values_list(column, flat=True)
        if not current or current[0] is None or current[0] > gone:
            continue  # set by a later line: it stays
        kinds = [str(k) for k in dict(_COLUMNS)[column]]
        found = await (
            Engagement.filter(alumnus_id=alumnus_id, kind__in=kinds)
            .using_db(conn)
            .order_by("-at")
            .limit(1)
            .values_list("at", flat=True)
        )
        await (
            Alumnus.filter(id=alumnus_id)
            .using_db(conn)
            .update(**{column: found[0] if found else None})
        )
    return int(removed)


async def merge_engagement(
    survivor_id: int, merged_id: int, *, using_db: BaseDBAsyncClient | None = None
) -> int:
    """Two profiles of one person merged: the lines move to the survivor, whose summary
    columns move forward to the other's. Returns how many lines moved."""
    if using_db is None:
        async with in_transaction() as conn:
            return await _merge(survivor_id, merged_id, conn)
    return await _merge(survivor_id, merged_id, using_db)


async def _merge(survivor_id: int, merged_id: int, conn: BaseDBAsyncClient) -> int:
    moved = await (
        Engagement.filter(alumnus_id=merged_id).using_db(conn).update(alumnus_id=survivor_id)
    )
    found = await (
        Alumnus.filter(id=merged_id)
        .using_db(conn)
        .values_list("last_contacted_at", "last_engaged_at")
    )
    if found:
        for (column, _kinds), at in zip(_COLUMNS, found[0], strict=True):
            if at is not None:
                await _move_forward(survivor_id, column, at, conn)
    return int(moved)


# --- From the mail package ------------------------------------------------------------


def bounce_ref(row: OutboxMessage) -> Ref:
    """What the bounce of ``row`` is about on the timeline: the event of an
    invitation, the newsletter, else the message itself."""
    found = _campaign(row) if row.recipient_type == "alumnus" else None
    return found[1] if found else ("message", int(row.id))


def _campaign(row: OutboxMessage) -> tuple[EngagementKind, Ref] | None:
    """The contact a delivered row is, if it is one: an invitation or a newsletter."""
    prefix, _colon, number = (row.campaign or "").partition(":")
    if prefix == "newsletter" and number.isdigit():
        return EngagementKind.NEWSLETTER, ("newsletter", int(number))
    if prefix == "invite":
        return EngagementKind.INVITED, _invitation_ref(row.context or {})
    return None


def _invitation_ref(context: dict[str, object]) -> Ref:
    """The event an invitation row is about, from its context (no query): its own
    ``event``, or its calendar attachment's; else the invitation itself."""
    event = context.get("event")
    if isinstance(event, int):
        return ("event", event)
    for spec in context.get("attachments") or []:  # type: ignore[attr-defined]
        if isinstance(spec, dict) and isinstance(spec.get("event"), int):
            return ("event", spec["event"])
    invitation = context.get("invitation")
    return ("invitation", invitation if isinstance(invitation, int) else 0)


@on_sent
async def _delivered(row: OutboxMessage, at: datetime) -> None:
    """An invitation or newsletter delivered to an alumnus: contacted (one INSERT and
    one conditional UPDATE; nothing at all for other mail)."""
    if row.recipient_type != "alumnus" or row.recipient_id is None or not row.campaign:
        return
    found = _campaign(row)
    if found is None:
        return
    kind, ref = found
    await record_engagement(int(row.recipient_id), kind, at=at, ref=ref)


async def _recipient(row: OutboxMessage, conn: BaseDBAsyncClient) -> int | None:
    if row.recipient_id is None:
        return None
    if row.recipient_type == "alumnus":
        return int(row.recipient_id)
    if row.recipient_type == "user":
        found = await (
            Alumnus.filter(user_id=row.recipient_id).using_db(conn).values_list("id", flat=True)
        )
        return int(found[0]) if found else None
    return None


@on_bounce
async def _bounced(
    row: OutboxMessage, kind: BounceKind, detail: str, at: datetime, conn: BaseDBAsyncClient
) -> None:
    """A bounce on the timeline; a bounced invitation or newsletter was not delivered
    after all, so its "contacted" line goes (a complaint means it arrived: it stays)."""
    alumnus_id = await _recipient(row, conn)
    if alumnus_id is None:
        return
    found = _campaign(row) if row.recipient_type == "alumnus" else None
    ref = bounce_ref(row)
    if found is not None and kind is not BounceKind.COMPLAINT:
        await withdraw_engagement(alumnus_id, found[0], ref=ref, using_db=conn)
    await record_engagement(
        alumnus_id,
        EngagementKind.BOUNCED,
        at=at,
        ref=ref,
        detail=f"{kind}: {detail}",
        using_db=conn,
    )


# --- Reading --------------------------------------------------------------------------


async def timeline(
    actor: Actor, alumnus_id: object, *, limit: int = 50, before: datetime | None = None
) -> list[Engagement]:
    """The person's lines, newest first, scoped like the profile (404 out of reach)."""
    # Imported here: the profile services record engagement themselves.
    from engage.alumni.profiles import find_alumnus

    alumnus, _audience = await find_alumnus(alumnus_id, actor=actor)
    lines = Engagement.filter(alumnus_id=alumnus.id)
    if before is not None:
        lines = lines.filter(at__lt=before)
    return await lines.order_by("-at", "-id").limit(max(1, min(limit, 500)))


KIND_LABELS = {
    EngagementKind.INVITED: N_("Invitation delivered"),
    EngagementKind.ANSWERED: N_("Answered"),
    EngagementKind.ATTENDED: N_("Attended"),
    EngagementKind.NEWSLETTER: N_("Newsletter delivered"),
    EngagementKind.BOUNCED: N_("Email bounced"),
    EngagementKind.PROFILE_UPDATED: N_("Profile updated"),
    EngagementKind.CAREER_UPDATED: N_("Career updated"),
}
ANSWERS = {
    "yes": N_("yes"),
    "no": N_("no"),
    "maybe": N_("maybe"),
    "waitlisted": N_("yes (on the waitlist)"),
}
WHO = {
    "owner": N_("by the person"),
    "attache": N_("by an attaché"),
    "staff": N_("by staff"),
}


@dataclass(frozen=True)
class TimelineLine:
    """A line as the profile page shows it."""

    at: datetime
    kind: EngagementKind
    #: "Answered", "Newsletter delivered"... (translated).
    label: str
    #: What it was about: the event's title, the newsletter's subject (or "").
    about: str = ""
    #: More: the answer, who changed what, the server's words of a bounce.
    note: str = ""
    #: The event to link to, if the line is about one.
    event_id: int | None = None


async def timeline_lines(
    actor: Actor, alumnus_id: object, *, limit: int = 50, before: datetime | None = None
) -> list[TimelineLine]:
    """:func:`timeline` in words, with the events' titles and newsletters' subjects."""
    lines = await timeline(actor, alumnus_id, limit=limit, before=before)
    events = await _titles("event", {x.ref_id for x in lines if x.ref_type == "event"})
    issues = await _titles("newsletter", {x.ref_id for x in lines if x.ref_type == "newsletter"})
    return [_line(x, events, issues) for x in lines]


async def _titles(ref_type: str, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    # Imported here: those domains build on this one (their models import nothing of it).
    if ref_type == "event":
        from engage.events.models import Event

        rows = await Event.filter(id__in=wanted).values_list("id", "title")
    else:
        from engage.newsletters.models import Newsletter

        rows = await Newsletter.filter(id__in=wanted).values_list("id", "subject")
    return {int(pk): str(title) for pk, title in rows}


def _line(x: Engagement, events: dict[int, str], issues: dict[int, str]) -> TimelineLine:
    kind = EngagementKind(x.kind)
    event_id = x.ref_id if x.ref_type == "event" else None
    about = ""
    if event_id is not None:
        about = events.get(event_id, _("an event no longer listed"))
    elif x.ref_type == "newsletter" and x.ref_id is not None:
        about = issues.get(x.ref_id, _("a newsletter no longer listed"))
    detail = x.detail or ""
    note = detail
    if kind is EngagementKind.ANSWERED:
        note = _(ANSWERS[detail]) if detail in ANSWERS else detail
    elif kind is EngagementKind.ATTENDED:
        note = _("walked in") if detail == "walk_in" else ""
    elif kind is EngagementKind.NEWSLETTER and not about:
        about, note = detail, ""  # an issue older than the archive: its subject
    elif kind in (EngagementKind.PROFILE_UPDATED, EngagementKind.CAREER_UPDATED):
        who, _colon, what = detail.partition(": ")
        note = f"{what} ({_(WHO[who])})" if who in WHO else detail
    return TimelineLine(
        at=x.at,
        kind=kind,
        label=_(KIND_LABELS[kind]),
        about=about,
        note=note,
        event_id=event_id,
    )
