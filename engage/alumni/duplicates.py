"""Likely duplicates, and merging two profiles of one person (staff).

::

    pairs = await find_duplicates(actor=staff)
    pairs[0].reasons                    # (Reason.EMAIL, Reason.NAME)
    preview = await merge_preview(a.id, b.id, actor=staff)     # both profiles, side by side
    survivor = await merge_alumni(a.id, b.id, keep=a.id, actor=staff)

**Likely duplicates** are pairs of live profiles (not merged, not erased, not an
unverified registration) that share:

- a **programme ID** (case, spaces and punctuation folded), a programme ID declared
  at registration included;
- an **email address**: the primary, the secondary or the claimed account's address
  of one is an address of the other;
- a **normalised name, country and class year**: given and family names folded
  (case, accents, scripts; word order ignored), in the original script or the Latin
  spelling, the same country, and a class year in common (training records, or the
  year declared at registration).

Detection reads the identity columns of every live profile into memory: a few
megabytes for a hundred thousand profiles.

**Merging** moves everything to the profile staff choose to keep (the survivor):

- training records and career entries (a record identical to one the survivor has is
  kept once), profiles merged earlier into the other one, and the claimed account;
- the engagement timeline, the survivor's last contact and engagement becoming the
  later of the two (``engage.alumni.engagement.merge_engagement``);
- empty fields of the survivor are filled from the other (Latin spelling, preferred
  name, email, secondary email, phone, position, unit, programme ID, rank, and the
  class year and programme ID declared at registration); the other's different
  primary address becomes the survivor's secondary one if it has none; a service,
  status, language or time zone left at its default takes the other's; staff notes
  are joined;
- what protects the person wins: a consent withdrawn on either profile stays
  withdrawn, "do not engage" on either stays set; the survivor is confirmed if
  either profile was;
- the other profile keeps its data as history, with ``merged_into`` pointing at the
  survivor, and gives up its unique keys (email key, programme ID) and its account;
  it disappears from lists and from duplicates. One audit event names both ids.

A merge is refused (409, saying why) when both profiles are claimed by different
accounts, when either was merged or erased, or when either belongs to a registration
whose address is not verified yet (a merge must never hand a profile to an address
nobody proved).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role, User
from engage.accounts.users import email_key
from engage.alumni.engagement import merge_engagement
from engage.alumni.grades import grade_for, rank_key, refresh_current_grade
from engage.alumni.identity import is_awaiting_verification, live_alumni
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    CareerEntry,
    CareerSource,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import query_tokens, refresh_search_tokens, search_key
from engage.alumni.profiles import ProfileView, get_alumnus, parse_id
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.i18n import _

_FACT_COLUMNS = (
    "id",
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "country_id",
    "programme_id",
    "email_key",
    "secondary_email",
    "user_id",
    "user__email_key",
    "declared_class_year",
    "declared_programme_id",
)
#: Fields filled from the other profile when empty on the survivor.
_FILLED = (
    "given_name_latin",
    "family_name_latin",
    "preferred_name",
    "phone",
    "position",
    "unit",
)
#: Filled from the other profile when None on the survivor (what a registrant said).
_DECLARED = ("declared_class_year", "declared_programme_id")
#: Defaults that count as "not set" when merging.
_DEFAULTS: dict[str, object] = {
    "service": Service.OTHER,
    "status": AlumnusStatus.SERVING,
    "language": "en",
    "timezone": "UTC",
}


class Reason(StrEnum):
    """Why two profiles look like one person."""

    PROGRAMME_ID = "programme_id"
    EMAIL = "email"
    NAME = "name"


@dataclass(frozen=True)
class DuplicatePair:
    first: Alumnus
    second: Alumnus
    reasons: tuple[Reason, ...]

    @property
    def both_claimed(self) -> bool:
        """Both profiles belong to accounts: they cannot be merged."""
        return self.first.user_id is not None and self.second.user_id is not None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MergePreview:
    """Two profiles side by side, before staff choose which one to keep."""

    first: ProfileView
    second: ProfileView
    reasons: tuple[Reason, ...]
    #: Why they cannot be merged ("" when they can).
    problem: str


@dataclass
class _Facts:
    """What detection compares, for one profile."""

    id: int
    country: str
    names: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    programme_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)


# --- Detection --------------------------------------------------------------------------


def name_key(given: str, family: str) -> str:
    """Names folded for comparison: "KOVALENKO Oleksandr" == "Oleksandr Kovalenko"."""
    return " ".join(sorted(query_tokens(f"{given} {family}")))


def programme_key(programme_id: str) -> str:
    return re.sub(r"[^0-9a-z]", "", programme_id.casefold())


def _facts(row: dict[str, Any], years: Iterable[int]) -> _Facts:
    facts = _Facts(id=row["id"], country=row["country_id"], years=set(years))
    for given, family in (
        (row["given_name"], row["family_name"]),
        (row["given_name_latin"], row["family_name_latin"]),
    ):
        if key := name_key(given or "", family or ""):
            facts.names.add(key)
    if row["declared_class_year"] is not None:
        facts.years.add(row["declared_class_year"])
    for programme_id in (row["programme_id"], row["declared_programme_id"]):
        if programme_id and (key := programme_key(programme_id)):
            facts.programme_ids.add(key)
    for address in (row["email_key"], row["secondary_email"], row["user__email_key"]):
        if address:
            facts.emails.add(email_key(address))
    return facts


async def _load_facts(query: Q | None = None) -> list[_Facts]:
    rows_query = live_alumni()
    if query is not None:
        rows_query = rows_query.filter(query)
    rows = await rows_query.values(*_FACT_COLUMNS)
    ids = {row["id"] for row in rows}
    years: dict[int, set[int]] = defaultdict(set)
    training = TrainingRecord.filter(class_year__isnull=False)
    for alumnus_id, year in await training.values_list("alumnus_id", "class_year"):
        if alumnus_id in ids:
            years[alumnus_id].add(year)
    return [_facts(row, years[row["id"]]) for row in rows]


def _keys(facts: _Facts, *, years: bool = True) -> Iterable[tuple[Reason, tuple[object, ...]]]:
    for key in facts.programme_ids:
        yield Reason.PROGRAMME_ID, (key,)
    for address in facts.emails:
        yield Reason.EMAIL, (address,)
    for name in facts.names:
        if years:
            for year in facts.years:
                yield Reason.NAME, (facts.country, name, year)
        else:
            yield Reason.NAME, (facts.country, name)


def _reasons_between(a: _Facts, b: _Facts) -> tuple[Reason, ...]:
    shared = set(_keys(a)) & set(_keys(b))
    return tuple(r for r in Reason if any(reason is r for reason, _key in shared))


async def find_duplicates(*, actor: Actor, limit: int = 200) -> list[DuplicatePair]:
    """Likely duplicate pairs (staff), the best evidence first (see the module doc)."""
    require_role(actor, Role.STAFF)
    facts = await _load_facts()
    buckets: dict[tuple[Reason, tuple[object, ...]], set[int]] = defaultdict(set)
    for item in facts:
        for key in _keys(item):
            buckets[key].add(item.id)
    pairs: dict[tuple[int, int], set[Reason]] = defaultdict(set)
    for (reason, _key), members in buckets.items():
        ordered = sorted(members)
        for i, first in enumerate(ordered):
            for second in ordered[i + 1 :]:
                pairs[(first, second)].add(reason)
    ranked = sorted(pairs.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    ids = {pk for pair, _reasons in ranked for pk in pair}
    profiles = {a.id: a for a in await Alumnus.filter(id__in=list(ids)).select_related("country")}
    return [
        DuplicatePair(
            first=profiles[a],
            second=profiles[b],
            reasons=tuple(r for r in Reason if r in reasons),
        )
        for (a, b), reasons in ranked
    ]


async def likely_matches(people: Sequence[Alumnus], *, actor: Actor) -> dict[int, list[Alumnus]]:
    """For each of ``people``, other live profiles in the actor's scope that may be the
    same person: a shared programme ID or address, or the same name and country (with
    a class year in common where both have one)."""
    if not people:
        return {}
    wanted = await _load_facts(Q(id__in=[p.id for p in people]))
    countries = {f.country for f in wanted}
    programme_ids = {p for f in wanted for p in f.programme_ids}
    emails = {e for f in wanted for e in f.emails}
    nearby = Q(country_id__in=sorted(countries))
    if emails:
        nearby |= Q(email_key__in=sorted(emails))
    candidates = [f for f in await _load_facts(nearby) if actor.can_see_country(f.country)]
    if programme_ids:
        # Programme IDs are compared folded: scan those that have one.
        seen = {f.id for f in candidates}
        for f in await _load_facts(Q(programme_id__isnull=False)):
            if (
                f.id not in seen
                and f.programme_ids & programme_ids
                and actor.can_see_country(f.country)
            ):
                candidates.append(f)
    found: dict[int, list[int]] = {}
    for person in wanted:
        keys = set(_keys(person, years=False))
        matched = []
        for other in candidates:
            if other.id == person.id:
                continue
            shared = keys & set(_keys(other, years=False))
            if not shared:
                continue
            only_name = all(reason is Reason.NAME for reason, _key in shared)
            if only_name and person.years and other.years and not person.years & other.years:
                continue  # same name, different classes: another person
            matched.append(other.id)
        found[person.id] = sorted(matched)
    ids = {pk for matched in found.values() for pk in matched}
    profiles = {a.id: a for a in await Alumnus.filter(id__in=list(ids)).select_related("country")}
    return {pk: [profiles[m] for m in matched] for pk, matched in found.items() if matched}


# --- Merging ----------------------------------------------------------------------------


async def merge_preview(alumnus_id: object, other_id: object, *, actor: Actor) -> MergePreview:
    """Both profiles (staff), why they look alike, and what would stop a merge."""
    require_role(actor, Role.STAFF)
    if parse_id(other_id) is None:
        raise NotFound(_("Choose the other profile by its number."))
    first = await get_alumnus(alumnus_id, actor=actor)
    second = await get_alumnus(other_id, actor=actor)
    problem = await _merge_problem(first.alumnus, second.alumnus)
    facts = {f.id: f for f in await _load_facts(Q(id__in=[first.alumnus.id, second.alumnus.id]))}
    reasons: tuple[Reason, ...] = ()
    if len(facts) == 2:
        reasons = _reasons_between(facts[first.alumnus.id], facts[second.alumnus.id])
    return MergePreview(first=first, second=second, reasons=reasons, problem=problem)


async def _merge_problem(a: Alumnus, b: Alumnus) -> str:
    if a.id == b.id:
        return _("Choose two different profiles.")
    for person in (a, b):
        if person.merged_into_id is not None:  # type: ignore[attr-defined]
            return _(
                "Profile %(id)s was already merged into profile %(into)s.",
                id=person.id,
                into=person.merged_into_id,  # type: ignore[attr-defined]
            )
        if person.erased_at is not None:
            return _("Profile %(id)s was erased; it cannot be merged.", id=person.id)
    users = {
        u.id: u
        for u in await User.filter(
            id__in=[x.user_id for x in (a, b) if x.user_id is not None]  # type: ignore[attr-defined]
        )
    }
    for person in (a, b):
        if is_awaiting_verification(person, users.get(person.user_id)):  # type: ignore[attr-defined]
            return _(
                "Profile %(id)s belongs to a registration whose email address is not "
                "confirmed yet; it cannot be merged until the person confirms it.",
                id=person.id,
            )
    if a.user_id is not None and b.user_id is not None:  # type: ignore[attr-defined]
        return _(
            "Both profiles are linked to accounts (%(first)s and %(second)s). A merge would "
            "take one person's profile away from their account. Ask which account the "
            "person uses; an admin deactivates the other, and its profile is erased or "
            "deleted, before merging.",
            first=users[a.user_id].email,  # type: ignore[attr-defined]
            second=users[b.user_id].email,  # type: ignore[attr-defined]
        )
    return ""


async def merge_alumni(
    alumnus_id: object,
    other_id: object,
    *,
    keep: object,
    actor: Actor,
    now: datetime | None = None,
    ip: str = "",
) -> Alumnus:
    """Merge two profiles of one person into the one ``keep`` names (staff; see the
    module doc). Raises InvalidInput (``keep`` is neither), NotFound, Conflict."""
    require_role(actor, Role.STAFF)
    first, second = parse_id(alumnus_id), parse_id(other_id)
    if first is None or second is None:
        raise NotFound(_("No such alumni profile."))
    survivor_id = parse_id(keep)
    if survivor_id not in (first, second):
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"keep": _("Choose which profile to keep.")},
        )
    merged_id = second if survivor_id == first else first
    now = now or utcnow()
    async with in_transaction():
        rows = {
            a.id: a
            for a in await Alumnus.filter(id__in=[survivor_id, merged_id]).select_for_update()
        }
        if survivor_id not in rows or merged_id not in rows:
            raise NotFound(_("No such alumni profile."))
        survivor, merged = rows[survivor_id], rows[merged_id]
        if problem := await _merge_problem(survivor, merged):
            raise Conflict(problem)
        summary = await _combine(survivor, merged, now=now)
        await record(
            "alumnus.merge",
            actor=actor.user,
            target=("alumnus", survivor.id),
            details={"survivor": survivor.id, "merged": merged.id, **summary},
            ip=ip,
        )
    return await Alumnus.get(id=survivor_id).select_related("country")


async def _combine(survivor: Alumnus, merged: Alumnus, *, now: datetime) -> dict[str, Any]:
    """Move and fill (inside the merge's transaction); what happened, for the audit."""
    filled: list[str] = []
    for name in _FILLED:
        if not getattr(survivor, name) and getattr(merged, name):
            setattr(survivor, name, getattr(merged, name))
            filled.append(name)
    for name in _DECLARED:
        if getattr(survivor, name) is None and getattr(merged, name) is not None:
            setattr(survivor, name, getattr(merged, name))
            filled.append(name)
    for name, default in _DEFAULTS.items():
        if getattr(survivor, name) == default and getattr(merged, name) != default:
            setattr(survivor, name, getattr(merged, name))
            filled.append(name)
    notes = []
    if merged.staff_notes:
        notes.append(merged.staff_notes)
    # The other profile gives up its unique keys first; the survivor may take them.
    email, programme_id, user_id = merged.email, merged.programme_id, merged.user_id  # type: ignore[attr-defined]
    # Conditional, like a claim: of two merges racing on one profile, one wins.
    taken = await Alumnus.filter(id=merged.id, merged_into_id=None, user_id=user_id).update(
        merged_into_id=survivor.id, email_key=None, programme_id=None, user_id=None
    )
    if not taken:
        raise Conflict(_("The profile changed meanwhile. Reload the page and try again."))
    if email and not survivor.email:
        survivor.email, survivor.email_key = email, email_key(email)
        filled.append("email")
    elif email and email_key(email) != survivor.email_key and not survivor.secondary_email:
        survivor.secondary_email = email
        owner = await User.get_or_none(id=user_id) if user_id else None
        verified = owner is not None and owner.email_key == email_key(email)
        survivor.secondary_verified_at = now if verified else None
        filled.append("secondary_email")
    if (
        not survivor.secondary_email
        and merged.secondary_email
        and email_key(merged.secondary_email) != survivor.email_key
    ):
        survivor.secondary_email = merged.secondary_email
        survivor.secondary_verified_at = merged.secondary_verified_at
        filled.append("secondary_email")
    if programme_id and not survivor.programme_id:
        survivor.programme_id = programme_id
        filled.append("programme_id")
    elif programme_id and programme_id != survivor.programme_id:
        notes.append(f"Programme ID {programme_id} (merged profile {merged.id}).")
    if notes:
        header = f"Merged from profile {merged.id}:"
        survivor.staff_notes = "\n\n".join(
            part for part in (survivor.staff_notes, header + "\n" + "\n".join(notes)) if part
        )
    if user_id is not None and survivor.user_id is None:  # type: ignore[attr-defined]
        survivor.user_id = user_id  # type: ignore[attr-defined]
    for consent in ("invitations", "newsletter"):
        if getattr(survivor, f"accepts_{consent}") and not getattr(merged, f"accepts_{consent}"):
            for suffix in ("", "_at", "_source"):
                name = f"accepts_{consent}" if not suffix else f"{consent}_consent{suffix}"
                setattr(survivor, name, getattr(merged, name))
            filled.append(f"accepts_{consent}")
    if merged.do_not_engage and not survivor.do_not_engage:
        survivor.do_not_engage = True
        survivor.do_not_engage_reason = merged.do_not_engage_reason
        survivor.do_not_engage_at = merged.do_not_engage_at or now
        filled.append("do_not_engage")
    if merged.vetting == Vetting.CONFIRMED and survivor.vetting == Vetting.PENDING:
        survivor.vetting = Vetting.CONFIRMED
        survivor.confirmed_by_id = merged.confirmed_by_id  # type: ignore[attr-defined]
        survivor.confirmed_at = merged.confirmed_at or now
        filled.append("vetting")
    edited = [t for t in (survivor.contact_edited_at, merged.contact_edited_at) if t is not None]
    survivor.contact_edited_at = max(edited) if edited else None
    survivor.search_key = search_key(
        survivor.given_name,
        survivor.family_name,
        survivor.given_name_latin,
        survivor.family_name_latin,
        survivor.preferred_name,
    )
    await survivor.save()
    # The survivor's names may have been filled; the merged profile is no longer found.
    await refresh_search_tokens([survivor.id, merged.id])
    training = await _move_training(survivor.id, merged.id)
    career = await _move_career(survivor.id, merged.id)
    await merge_engagement(survivor.id, merged.id)  # the timeline and its summary
    await Alumnus.filter(merged_into_id=merged.id).update(merged_into_id=survivor.id)
    # Grades depend on country and service: the moved entries (and the survivor's own,
    # if its service was filled in) are graded again for the survivor.
    if career["moved"] or "service" in filled:
        for entry in await CareerEntry.filter(alumnus_id=survivor.id):
            grade = await grade_for(survivor.country_id, survivor.service, entry.rank)  # type: ignore[attr-defined]
            if grade != entry.grade:
                await CareerEntry.filter(id=entry.id).update(grade=grade)
        await refresh_current_grade(survivor.id)
    elif not survivor.rank and merged.rank:
        await Alumnus.filter(id=survivor.id).update(
            rank=merged.rank, grade=merged.grade, grade_level=merged.grade_level
        )
        filled.append("rank")
    return {
        "filled": filled,
        "account_moved": user_id is not None,
        "training": training,
        "career": career,
    }


async def _move_training(survivor_id: int, merged_id: int) -> dict[str, int]:
    def same(record: TrainingRecord) -> tuple[object, ...]:
        return (record.course_id, record.class_year, record.start_date, record.end_date)  # type: ignore[attr-defined]

    kept = {same(r) for r in await TrainingRecord.filter(alumnus_id=survivor_id)}
    moved = dropped = 0
    for record_ in await TrainingRecord.filter(alumnus_id=merged_id):
        if same(record_) in kept:
            await TrainingRecord.filter(id=record_.id).delete()
            dropped += 1
        else:
            await TrainingRecord.filter(id=record_.id).update(alumnus_id=survivor_id)
            kept.add(same(record_))
            moved += 1
    return {"moved": moved, "identical": dropped}


async def _move_career(survivor_id: int, merged_id: int) -> dict[str, int]:
    def same(entry: CareerEntry) -> tuple[object, ...]:
        return (rank_key(entry.rank), entry.effective_date)

    kept = {same(e): e for e in await CareerEntry.filter(alumnus_id=survivor_id)}
    moved = dropped = 0
    for entry in await CareerEntry.filter(alumnus_id=merged_id):
        twin = kept.get(same(entry))
        if twin is None:
            await CareerEntry.filter(id=entry.id).update(alumnus_id=survivor_id)
            kept[same(entry)] = entry
            moved += 1
            continue
        if (
            entry.source == CareerSource.STAFF_VERIFIED
            and twin.source == CareerSource.SELF_REPORTED
        ):
            await CareerEntry.filter(id=twin.id).update(
                source=CareerSource.STAFF_VERIFIED,
                verified_by_id=entry.verified_by_id or entry.created_by_id,  # type: ignore[attr-defined]
                verified_at=entry.verified_at or entry.created_at,
            )
        await CareerEntry.filter(id=entry.id).delete()
        dropped += 1
    return {"moved": moved, "identical": dropped}
