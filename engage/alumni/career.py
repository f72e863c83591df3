"""Career history: ranks and positions over time, each rank mapped to a NATO grade.

::

    entry = await add_career_entry(person.id, {"rank": "Colonel", "position": "J3",
                                               "effective_date": "2024-07-01"}, actor=owner)
    entry.source          # "self_reported" (the person) or "staff_verified" (staff, attachés)
    await verify_career_entry(person.id, entry.id, actor=attache)

The profile's rank, grade and position follow its latest entry (by effective date).
A rank the tables do not know is never guessed: the entry's grade stays empty and
the rank waits in the staff mapping queue (``engage.alumni.grades``).

Who does what: the person adds their own updates (self-reported) and may delete one
until it is verified; attachés (in scope) and staff add verified entries and verify
the person's; staff delete any entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor
from engage.accounts.audit import record
from engage.alumni.engagement import record_engagement
from engage.alumni.grades import grade_for, rank_key, refresh_current_grade
from engage.alumni.models import Alumnus, CareerEntry, CareerSource, EngagementKind
from engage.alumni.profiles import Audience, clean_text, find_alumnus, parse_date, parse_id
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.i18n import _

_MAX = {"rank": 100, "position": 200}
CAREER_FIELDS = ("rank", "position", "effective_date")


async def add_career_entry(
    alumnus_id: object,
    data: Mapping[str, Any],
    *,
    actor: Actor,
    now: datetime | None = None,
    ip: str = "",
) -> CareerEntry:
    """Record a rank (required), position and effective date (required, not in the
    future). Raises NotFound, InvalidInput, Conflict (the same rank on the same date)."""
    alumnus, audience = await find_alumnus(alumnus_id, actor=actor)
    if alumnus.erased_at is not None or alumnus.merged_into_id is not None:  # type: ignore[attr-defined]
        raise Conflict(_("This profile is closed (merged or erased)."))
    now = now or utcnow()
    values = _clean(data, today=now.date())
    existing = await CareerEntry.filter(
        alumnus_id=alumnus.id, effective_date=values["effective_date"]
    ).values_list("rank", flat=True)
    if any(rank_key(str(rank)) == rank_key(values["rank"]) for rank in existing):
        raise Conflict(
            _("This rank is already recorded on this date."),
            fields={"rank": _("Already recorded on this date.")},
        )
    source = (
        CareerSource.SELF_REPORTED if audience is Audience.OWNER else CareerSource.STAFF_VERIFIED
    )
    # Looked up before the write: an unknown rank joins the mapping queue.
    grade = await grade_for(alumnus.country_id, alumnus.service, values["rank"])  # type: ignore[attr-defined]
    async with in_transaction() as conn:
        entry = await CareerEntry.create(
            alumnus_id=alumnus.id,
            rank=values["rank"],
            grade=grade,
            position=values["position"],
            effective_date=values["effective_date"],
            source=source,
            created_by=actor.user,
            using_db=conn,
        )
        await _follow_latest(alumnus.id, conn)
        # The timeline: the person's own update is engagement; staff's a line only.
        rank = f"{entry.rank} ({grade})" if grade else entry.rank
        await record_engagement(
            alumnus.id,
            EngagementKind.CAREER_UPDATED,
            at=now,
            detail=f"{audience}: {rank}",
            summary=audience is Audience.OWNER,
            using_db=conn,
        )
        await record(
            "career.add",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"entry": entry.id, "source": str(source), "grade": grade},
            ip=ip,
            using_db=conn,
        )
    return entry


async def verify_career_entry(
    alumnus_id: object, entry_id: object, *, actor: Actor, ip: str = ""
) -> CareerEntry:
    """Mark the person's own update as verified (staff; attachés in scope)."""
    alumnus, audience = await find_alumnus(alumnus_id, actor=actor)
    if audience is Audience.OWNER:
        raise PermissionDenied(_("Staff or an attaché verify career updates."))
    entry = await _entry(alumnus, entry_id)
    if entry.source == CareerSource.STAFF_VERIFIED:
        return entry
    async with in_transaction() as conn:
        entry.source = CareerSource.STAFF_VERIFIED
        entry.verified_by = actor.user  # type: ignore[assignment]
        entry.verified_at = utcnow()
        await entry.save(update_fields=["source", "verified_by_id", "verified_at"], using_db=conn)
        await record(
            "career.verify",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"entry": entry.id},
            ip=ip,
            using_db=conn,
        )
    return entry


async def delete_career_entry(
    alumnus_id: object, entry_id: object, *, actor: Actor, ip: str = ""
) -> None:
    """Remove an entry made by mistake: staff any; the person their own unverified one."""
    alumnus, audience = await find_alumnus(alumnus_id, actor=actor)
    entry = await _entry(alumnus, entry_id)
    if audience is Audience.ATTACHE:
        raise PermissionDenied(_("Only staff remove career entries."))
    if audience is Audience.OWNER and entry.source != CareerSource.SELF_REPORTED:
        raise PermissionDenied(_("A verified entry is removed by staff."))
    async with in_transaction() as conn:
        await CareerEntry.filter(id=entry.id).using_db(conn).delete()
        await _follow_latest(alumnus.id, conn)
        await record(
            "career.delete",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"entry": entry.id, "source": str(entry.source)},
            ip=ip,
            using_db=conn,
        )


async def _entry(alumnus: Alumnus, entry_id: object) -> CareerEntry:
    pk = parse_id(entry_id)
    entry = None if pk is None else await CareerEntry.get_or_none(id=pk, alumnus_id=alumnus.id)
    if entry is None:
        raise NotFound(_("No such career entry."))
    return entry


async def _follow_latest(alumnus_id: int, conn: Any) -> None:
    """The profile's rank, grade and position from its latest entry (cleared if none)."""
    latest = (
        await CareerEntry.filter(alumnus_id=alumnus_id)
        .using_db(conn)
        .order_by("-effective_date", "-id")
        .first()
    )
    if latest is None:
        await (
            Alumnus.filter(id=alumnus_id).using_db(conn).update(rank="", grade="", grade_level=None)
        )
        return
    await refresh_current_grade(alumnus_id, using_db=conn)
    if latest.position:
        await Alumnus.filter(id=alumnus_id).using_db(conn).update(position=latest.position)


def _clean(data: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(CAREER_FIELDS))
    for name in unknown:
        errors[name] = _("Unknown field.")
    values: dict[str, Any] = {}
    for name, limit in _MAX.items():
        text = clean_text(data.get(name, ""))
        if len(text) > limit:
            errors[name] = _("At most %(n)s characters.", n=limit)
        values[name] = text
    if not values["rank"] and "rank" not in errors:
        errors["rank"] = _("Required.")
    try:
        effective = parse_date(data.get("effective_date"))
    except ValueError:
        errors["effective_date"] = _("A date, e.g. 2024-07-01.")
    else:
        if effective is None:
            errors["effective_date"] = _("Required.")
        elif effective > today:
            errors["effective_date"] = _("Not in the future: add a promotion once it applies.")
        elif effective.year < 1940:
            errors["effective_date"] = _("Check the year.")
        values["effective_date"] = effective
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    return values
