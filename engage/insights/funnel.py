"""The event funnel: invited -> answered -> yes -> attended, per event, per embassy and
by month, with the no-show rate.

::

    report = await event_funnel(flt, actor=attache)
    report.total.counts      # {"events": 12, "invited": 800, "answered": 520, "yes": 300,
                             #  "attended": 240, "no_show": 55, "yes_started": 295}
    report.no_show_rate      # 55 / 295
    report.events, report.embassies, report.months     # rows

Counted as on each event's page (``engage.invitations.services.invitation_counts``):

- ``invited``: every invitation not revoked (invited, open-event answers, walk-ins);
- ``answered``: those with an answer (yes, no, maybe, waitlisted);
- ``yes``: a yes with a seat;
- ``attended``: marked arrived at the door (walk-ins included);
- ``no_show``: said yes and did not arrive, once the event has started; the rate is
  ``no_show / yes_started`` (the yes answers of events that have started).

Events: published or cancelled (not drafts) that start in the date range, at the
embassy filtered on or, for an attaché, at their own embassies. Country, region,
course category and class years narrow the invitees (live, confirmed alumni of the
report, ``engage.insights.filters``). One grouped query over the invitations;
embassies and months add up the events (few), never people. Months are the event's
own (its embassy's zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import Role
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.events.models import Event, EventStatus
from engage.events.timefmt import to_local
from engage.i18n import _
from engage.insights.filters import ReportFilter, population
from engage.insights.groups import Row, add_up
from engage.insights.sql import PEOPLE, Statement
from engage.invitations.models import InvitationStatus

STAGES = ("invited", "answered", "yes", "attended")
NAMES = ("events", *STAGES, "no_show", "yes_started")
ANSWERED = (
    InvitationStatus.YES,
    InvitationStatus.NO,
    InvitationStatus.MAYBE,
    InvitationStatus.WAITLISTED,
)


@dataclass(frozen=True)
class EventRow(Row):
    """An event's row: its start, embassy and whether it has started."""

    starts_at: datetime | None = None
    timezone: str = "UTC"
    embassy: str = ""
    started: bool = False
    event_id: int = 0


@dataclass(frozen=True)
class FunnelReport:
    filter: ReportFilter
    as_of: datetime
    total: Row
    #: Latest first.
    events: list[EventRow] = field(default_factory=list)
    #: Most invited first.
    embassies: list[Row] = field(default_factory=list)
    #: Oldest first ("2025-03").
    months: list[Row] = field(default_factory=list)

    @property
    def no_show_rate(self) -> float | None:
        return self.total.share("no_show", of="yes_started")


def _people_criteria(flt: ReportFilter) -> bool:
    """Whether the filter narrows the invitees (not only the events)."""
    scope = flt.scope
    return bool(scope.country or scope.region or scope.training_criteria)


async def event_funnel(
    flt: ReportFilter, *, actor: Actor, now: datetime | None = None
) -> FunnelReport:
    """The funnel (attachés: their embassies' events; 404 for an embassy not theirs)."""
    require_role(actor, Role.ATTACHE)
    now = now or utcnow()
    people = await population(flt, actor=actor)  # also the scope check
    events = Event.filter(status__in=[EventStatus.PUBLISHED, EventStatus.CANCELLED])
    if not actor.at_least(Role.STAFF):
        events = events.filter(embassy_id__in=sorted(actor.embassy_ids) or [0])
    if flt.scope.embassy:
        events = events.filter(embassy__code=flt.scope.embassy)
    start, end = flt.period
    if start is not None:
        events = events.filter(starts_at__gte=start)
    if end is not None:
        events = events.filter(starts_at__lt=end)
    listed = await events.order_by("-starts_at", "-id").values(
        "id", "title", "starts_at", "timezone", "embassy__code", "embassy__name"
    )
    found = await _counts([int(e["id"]) for e in listed], people if _people_criteria(flt) else None)
    rows = [_event_row(e, found.get(int(e["id"]), {}), now) for e in listed]
    total = Row("", _("All events in the report"), add_up((r.counts for r in rows), NAMES))
    return FunnelReport(
        filter=flt,
        as_of=now,
        total=total,
        events=rows,
        embassies=_embassies(rows, listed),
        months=_months(rows),
    )


#: The invitations' counts, over invitations ``i`` (revoked ones left out).
_COUNTS = (
    "COUNT(*) AS invited, "
    "SUM(CASE WHEN i.status IN (:answered) THEN 1 ELSE 0 END) AS answered, "
    "SUM(CASE WHEN i.status = :yes THEN 1 ELSE 0 END) AS yes, "
    "SUM(CASE WHEN i.arrived_at IS NOT NULL THEN 1 ELSE 0 END) AS attended, "
    "SUM(CASE WHEN i.status = :yes AND i.arrived_at IS NULL THEN 1 ELSE 0 END) AS no_show"
)
#: Events per statement (well under the databases' limits on parameters).
_EVENTS_PER_QUERY = 2000


async def _counts(
    event_ids: list[int], people: QuerySet[Alumnus] | None
) -> dict[int, dict[str, Any]]:
    """Each event's counts, one grouped query (per 2,000 events). With ``people``,
    only their invitations: the people are scanned once and their invitations found
    by the index on (alumnus, event)."""
    stmt = Statement(people)
    values = {
        "answered": [str(s.value) for s in ANSWERED],
        "yes": InvitationStatus.YES.value,
        "revoked": InvitationStatus.REVOKED.value,
    }
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(event_ids), _EVENTS_PER_QUERY):
        chunk = event_ids[start : start + _EVENTS_PER_QUERY]
        if people is None:
            source = "FROM invitations_invitation i WHERE 1 = 1"
        else:
            source = (
                f"{stmt.people_from} JOIN invitations_invitation i "
                f"ON i.alumnus_id = {PEOPLE}.id WHERE {stmt.people_where}"
            )
        rows = await stmt.fetch(
            f"SELECT i.event_id AS event_id, {_COUNTS} {source} "
            # "+": the events are checked against the list, not sought one by one
            # in the index on (alumnus, event) for each person.
            "AND i.status <> :revoked AND +i.event_id IN (:events) GROUP BY i.event_id",
            **values,
            events=chunk,
        )
        found |= {int(r["event_id"]): r for r in rows}
    return found


def _event_row(event: dict[str, Any], found: dict[str, Any], now: datetime) -> EventRow:
    started = event["starts_at"] <= now
    counts = {
        name: int(found.get(name) or 0) for name in ("invited", "answered", "yes", "attended")
    }
    counts["events"] = 1
    counts["no_show"] = int(found.get("no_show") or 0) if started else 0
    counts["yes_started"] = counts["yes"] if started else 0
    return EventRow(
        key=str(event["id"]),
        label=str(event["title"]),
        counts=counts,
        starts_at=event["starts_at"],
        timezone=str(event["timezone"]),
        embassy=str(event["embassy__code"]),
        started=started,
        event_id=int(event["id"]),
    )


def _embassies(rows: list[EventRow], listed: list[dict[str, Any]]) -> list[Row]:
    names = {str(e["embassy__code"]): str(e["embassy__name"]) for e in listed}
    groups: dict[str, list[EventRow]] = {}
    for row in rows:
        groups.setdefault(row.embassy, []).append(row)
    found = [
        Row(code, f"{code} · {names.get(code, code)}", add_up((r.counts for r in group), NAMES))
        for code, group in groups.items()
    ]
    return sorted(found, key=lambda r: (-r.counts["invited"], r.key))


def _months(rows: list[EventRow]) -> list[Row]:
    groups: dict[str, list[EventRow]] = {}
    for row in rows:
        if row.starts_at is None:
            continue
        month = to_local(row.starts_at, row.timezone).strftime("%Y-%m")
        groups.setdefault(month, []).append(row)
    return [
        Row(month, month, add_up((r.counts for r in groups[month]), NAMES))
        for month in sorted(groups)
    ]
