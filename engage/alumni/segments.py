"""Saved segments: a named audience filter, reused by the directory, invitations and
newsletters.

::

    segment = await create_segment("Air force colonels", flt, actor=staff)   # global
    segment = await create_segment("Pilots", flt, actor=attache)             # their embassy
    await list_segments(actor=attache)                  # their embassies' segments
    people = await segment_audience(segment.id, actor=attache)   # a QuerySet: one query
    await segment_count(segment.id, actor=attache)      # one SELECT COUNT(*)

The rules:

- **Staff and admins** save global segments (no embassy); they see, use, rename and
  delete every segment.
- **An attaché's segment belongs to one of their embassies**: the embassy the filter
  names, else their only embassy, else the one they choose. The attachés of that
  embassy share it (see, use, rename, delete); any other attaché gets 404.
- **Evaluating** a segment applies its filter within the caller's scope and, for an
  embassy's segment, within the countries that embassy is accredited to (today's
  accreditations), whoever evaluates it.
- Names are unique (case-insensitive) among the global segments, and among each
  embassy's. Changes are audit-logged with the filter's field names, never its values
  (a name search is personal data).
"""

from __future__ import annotations

from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.audience import (
    AudienceFilter,
    audience_query,
    check_filter,
    filter_from,
)
from engage.alumni.models import Alumnus, Segment
from engage.alumni.profiles import clean_text, parse_id
from engage.errors import Conflict, InvalidInput, NotFound
from engage.i18n import _
from engage.places.models import Embassy

NAME_MAX = 120


async def list_segments(*, actor: Actor) -> list[Segment]:
    """The segments the actor may use, by name (embassy and owner loaded)."""
    require_role(actor, Role.ATTACHE)
    query = Segment.all()
    if not actor.at_least(Role.STAFF):
        query = query.filter(embassy_id__in=sorted(actor.embassy_ids) or [0])
    return await query.select_related("embassy", "owner").order_by("name", "id")


async def get_segment(segment_id: object, *, actor: Actor) -> Segment:
    """One segment (embassy and owner loaded); 404 when out of the actor's reach."""
    require_role(actor, Role.ATTACHE)
    pk = parse_id(segment_id)
    segment = (
        None
        if pk is None or pk > 2**31 - 1
        else await Segment.get_or_none(id=pk).select_related("embassy", "owner")
    )
    if segment is None or not _reaches(actor, segment):
        raise NotFound(_("No such segment."))
    return segment


def segment_filter(segment: Segment) -> AudienceFilter:
    """The segment's filter, held to its embassy's countries (embassy loaded)."""
    flt = filter_from(segment.filters or {})
    if segment.embassy_id is not None and not flt.embassy:  # type: ignore[attr-defined]
        flt = flt.model_copy(update={"embassy": segment.embassy.code})
    return flt


async def segment_audience(segment_id: object, *, actor: Actor) -> QuerySet[Alumnus]:
    """Everyone in the segment, in the actor's scope, as one query (unordered)."""
    flt = segment_filter(await get_segment(segment_id, actor=actor))
    await check_filter(flt, actor=actor)
    return audience_query(flt, actor=actor)


async def segment_count(segment_id: object, *, actor: Actor) -> int:
    """How many people the segment holds for the actor (one ``SELECT COUNT(*)``)."""
    return await (await segment_audience(segment_id, actor=actor)).count()


async def create_segment(
    name: str, flt: AudienceFilter, *, actor: Actor, embassy: str = "", ip: str = ""
) -> Segment:
    """Save ``flt`` as a segment named ``name`` (see the module doc for whose it is).

    ``embassy`` (a code) chooses the embassy of an attaché who works for several.
    Raises InvalidInput (name; embassy to choose), NotFound (an embassy not theirs),
    Conflict (the name is taken).
    """
    require_role(actor, Role.ATTACHE)
    name = _clean_name(name)
    await check_filter(flt, actor=actor)
    home = await _home_embassy(flt, embassy, actor=actor)
    await _check_name_free(name, home.id if home else None, exclude_id=None)
    async with in_transaction() as conn:
        segment = await Segment.create(
            name=name, filters=flt.to_json(), owner=actor.user, embassy=home, using_db=conn
        )
        await record(
            "segment.create",
            actor=actor.user,
            target=("segment", segment.id),
            details=_audit(segment, flt),
            ip=ip,
            using_db=conn,
        )
    return await get_segment(segment.id, actor=actor)


async def update_segment(
    segment_id: object,
    *,
    actor: Actor,
    name: str | None = None,
    flt: AudienceFilter | None = None,
    ip: str = "",
) -> Segment:
    """Rename a segment or change its filter (whoever may use it)."""
    segment = await get_segment(segment_id, actor=actor)
    changed: list[str] = []
    if name is not None:
        name = _clean_name(name)
        if name != segment.name:
            await _check_name_free(name, segment.embassy_id, exclude_id=segment.id)  # type: ignore[attr-defined]
            segment.name = name
            changed.append("name")
    if flt is not None:
        await check_filter(flt, actor=actor)
        if segment.embassy_id is not None and flt.embassy not in ("", segment.embassy.code):  # type: ignore[attr-defined]
            raise InvalidInput(
                _("Please correct the marked fields."),
                fields={
                    "embassy": _(
                        "This segment belongs to the embassy %(code)s.", code=segment.embassy.code
                    )
                },
            )
        if flt.to_json() != segment.filters:
            segment.filters = flt.to_json()
            changed.append("filters")
    if changed:
        async with in_transaction() as conn:
            await segment.save(using_db=conn)
            await record(
                "segment.update",
                actor=actor.user,
                target=("segment", segment.id),
                details={"changed": changed, **_audit(segment, segment_filter(segment))},
                ip=ip,
                using_db=conn,
            )
    return segment


async def delete_segment(segment_id: object, *, actor: Actor, ip: str = "") -> None:
    """Delete a segment (whoever may use it)."""
    segment = await get_segment(segment_id, actor=actor)
    async with in_transaction() as conn:
        await Segment.filter(id=segment.id).using_db(conn).delete()
        await record(
            "segment.delete",
            actor=actor.user,
            target=("segment", segment.id),
            details={"name": segment.name},
            ip=ip,
            using_db=conn,
        )


# --- Helpers ----------------------------------------------------------------------------


def _reaches(actor: Actor, segment: Segment) -> bool:
    if actor.at_least(Role.STAFF):
        return True
    return segment.embassy_id is not None and segment.embassy_id in actor.embassy_ids  # type: ignore[attr-defined]


def _clean_name(name: object) -> str:
    text = clean_text(name)
    if not text:
        message = _("Give the segment a name.")
    elif len(text) > NAME_MAX:
        message = _("At most %(n)s characters.", n=NAME_MAX)
    else:
        return text
    raise InvalidInput(_("Please correct the marked fields."), fields={"name": message})


async def _home_embassy(flt: AudienceFilter, chosen: str, *, actor: Actor) -> Embassy | None:
    """The embassy an attaché's segment belongs to; None for staff (global)."""
    if actor.at_least(Role.STAFF):
        return None
    code = (flt.embassy or clean_text(chosen)).upper()
    if code:
        embassy = await Embassy.get_or_none(code=code)
        if embassy is None or embassy.id not in actor.embassy_ids:
            raise NotFound(_("No such embassy."))
        if flt.embassy and chosen and clean_text(chosen).upper() != flt.embassy:
            raise InvalidInput(
                _("Please correct the marked fields."),
                fields={"embassy": _("The filter already names the embassy %(code)s.", code=code)},
            )
        return embassy
    embassies = await Embassy.filter(id__in=sorted(actor.embassy_ids) or [0]).order_by("code")
    if len(embassies) == 1:
        return embassies[0]
    raise InvalidInput(
        _("Please correct the marked fields."),
        fields={"embassy": _("Choose the embassy this segment is for.")},
    )


async def _check_name_free(name: str, embassy_id: int | None, *, exclude_id: int | None) -> None:
    query = Segment.filter(embassy_id=embassy_id)
    if exclude_id is not None:
        query = query.exclude(id=exclude_id)
    if name.casefold() in {str(n).casefold() for n in await query.values_list("name", flat=True)}:
        raise Conflict(
            _("A segment with this name exists."),
            fields={"name": _("A segment with this name exists; choose another name.")},
        )


def _audit(segment: Segment, flt: AudienceFilter) -> dict[str, Any]:
    return {
        "name": segment.name,
        "embassy": segment.embassy_id,  # type: ignore[attr-defined]
        "filters": sorted(flt.to_json()),
    }
