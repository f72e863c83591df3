"""Alumni profiles: who sees and changes what, one validation, one serialiser.

::

    person = await create_alumnus(
        {"given_name": "Amani", "family_name": "Wanjiru", "country": "KE",
         "email": "amani@example.ke", "rank": "Major"},
        actor=staff,
    )
    view = await get_alumnus(person.id, actor=attache)   # 404 outside their countries
    await update_alumnus(person.id, {"phone": "+254 700 000 000"}, actor=owner)
    await set_do_not_engage(person.id, True, "Coup, 2023", actor=staff)
    profile_data(view)                                   # GET /api/v1/alumni/{id}

Who sees what (a profile out of reach answers 404, as if it did not exist):

- **staff and admins**: every profile, merged and erased ones included, every field.
- **attachés**: profiles of the countries their embassies are accredited to (pending
  ones too: they confirm them). Never the staff notes, nor the reason or date of
  "do not engage"; they do see the flag itself (``do_not_engage: true``), because they
  are the people who would otherwise invite or call the person in person.
- **the alumnus**: their own (claimed) profile, without staff notes and without
  anything about "do not engage".

Fields the caller may not see are ``None`` in :func:`profile_data`. The class year and
programme ID a self-registered person declared (``declared_*``) are seen by all three
and changed by none: they record what the person said (``engage.alumni.identity``).

Who changes what (a field the caller may not change answers 403 naming it):

- **the alumnus**: contact details (preferred name, secondary email, phone, language,
  time zone, position, unit) and their consents, each consent stamped with when and
  where (``source``). Their primary email changes on their account page, where the
  new address is verified first; the profile follows (:func:`follow_account_email`).
  Their edits stamp ``contact_edited_at``: an import then keeps their contact details.
- **attachés** (in scope): contact details, the primary email included.
- **staff**: everything, plus status and "do not engage" (a reason is required to set
  it; setting and lifting are audit-logged). Staff may withdraw a consent for the
  person (who asked by other means) but only the person gives it again.

Rank and grade come from career entries (``engage.alumni.career``): ``rank`` given at
creation records the first, staff-verified entry dated today.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from babel import Locale, UnknownLocaleError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role, User
from engage.accounts.users import check_email, email_key
from engage.alumni.engagement import record_engagement
from engage.alumni.grades import grade_for, refresh_current_grade
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    CareerEntry,
    CareerSource,
    EngagementKind,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import refresh_search_tokens, search_key
from engage.alumni.secondary import queue_secondary_verification
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.i18n import _
from engage.mail.models import Topic
from engage.mail.suppression import resubscribe
from engage.places.models import Country
from engage.places.timezones import is_embassy_zone
from engage.settings import Settings

#: Where a consent was given or withdrawn (``*_consent_source``).
SOURCE_PROFILE_PAGE = "profile page"
SOURCE_API = "api"
SOURCE_CREATED_BY_STAFF = "created by staff"
SOURCE_STAFF = "changed by staff"

NAME_FIELDS = ("given_name", "family_name", "given_name_latin", "family_name_latin")
CONTACT_FIELDS = (
    "preferred_name",
    "email",
    "secondary_email",
    "phone",
    "language",
    "timezone",
    "position",
    "unit",
)
CONSENT_FIELDS = ("accepts_invitations", "accepts_newsletter")
#: The mail each consent covers: giving it back lifts one's own unsubscribes.
_CONSENT_TOPICS = {"accepts_invitations": Topic.INVITATIONS, "accepts_newsletter": Topic.NEWSLETTER}
STAFF_FIELDS = (
    *NAME_FIELDS,
    "country",
    "service",
    "status",
    "programme_id",
    "staff_notes",
    "do_not_engage",
    "do_not_engage_reason",
)
EDITABLE_FIELDS = (*STAFF_FIELDS, *CONTACT_FIELDS, *CONSENT_FIELDS)
#: Only at creation: the first career entry.
CREATE_ONLY_FIELDS = ("rank",)

_MAX = {
    "given_name": 100,
    "family_name": 100,
    "given_name_latin": 100,
    "family_name_latin": 100,
    "preferred_name": 100,
    "phone": 40,
    "position": 200,
    "unit": 200,
    "programme_id": 64,
    "rank": 100,
    "staff_notes": 10_000,
    "do_not_engage_reason": 1_000,
}
_MULTILINE = ("staff_notes", "do_not_engage_reason")
_PHONE = re.compile(r"\+?[0-9 ().\-/]{4,39}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


class Audience(StrEnum):
    """Whose eyes a profile is shown to."""

    OWNER = "owner"
    ATTACHE = "attache"
    STAFF = "staff"


@dataclass(frozen=True)
class ProfileView:
    """A profile with its training and career, as ``audience`` may see it."""

    alumnus: Alumnus
    audience: Audience
    #: Training records (course loaded), oldest first.
    training: list[TrainingRecord]
    #: Career entries, newest first (the first one gives the current rank).
    career: list[CareerEntry]

    @property
    def sees_staff_fields(self) -> bool:
        """Staff notes and the reason and date of "do not engage"."""
        return self.audience is Audience.STAFF

    @property
    def sees_flag(self) -> bool:
        """Whether "do not engage" is set (not why)."""
        return self.audience is not Audience.OWNER

    @property
    def editable(self) -> tuple[str, ...]:
        return editable_fields(self.audience)

    @property
    def display_name(self) -> str:
        return display_name(self.alumnus)


def display_name(alumnus: Alumnus) -> str:
    """ "Preferred Family" (or given and family names), with the Latin spelling after
    it when the names are written in another script."""
    given = alumnus.preferred_name or alumnus.given_name
    name = f"{given} {alumnus.family_name}".strip()
    latin = f"{alumnus.given_name_latin} {alumnus.family_name_latin}".strip()
    if latin and latin.casefold() != f"{alumnus.given_name} {alumnus.family_name}".casefold():
        return f"{name} ({latin})"
    return name


def editable_fields(audience: Audience) -> tuple[str, ...]:
    """The fields ``audience`` may change (see the module doc)."""
    if audience is Audience.STAFF:
        return EDITABLE_FIELDS
    if audience is Audience.ATTACHE:
        return CONTACT_FIELDS
    return tuple(f for f in (*CONTACT_FIELDS, *CONSENT_FIELDS) if f != "email")


# --- Reading ----------------------------------------------------------------------------


async def find_alumnus(alumnus_id: object, *, actor: Actor) -> tuple[Alumnus, Audience]:
    """The profile (country loaded) and how the actor sees it; 404 when out of reach.

    Training and career services call this first, so scope is decided in one place.
    """
    pk = parse_id(alumnus_id)
    alumnus = None if pk is None else await Alumnus.get_or_none(id=pk).select_related("country")
    if alumnus is None:
        raise NotFound(_("No such alumni profile."))
    if actor.at_least(Role.STAFF):
        return alumnus, Audience.STAFF
    if alumnus.erased_at is None and alumnus.merged_into_id is None:  # type: ignore[attr-defined]
        if actor.role is Role.ATTACHE and actor.can_see_country(alumnus.country_id):  # type: ignore[attr-defined]
            return alumnus, Audience.ATTACHE
        if alumnus.user_id is not None and alumnus.user_id == actor.id:  # type: ignore[attr-defined]
            return alumnus, Audience.OWNER
    raise NotFound(_("No such alumni profile."))


async def get_alumnus(alumnus_id: object, *, actor: Actor) -> ProfileView:
    """The profile with its training and career, as the actor may see it."""
    alumnus, audience = await find_alumnus(alumnus_id, actor=actor)
    return await _view(alumnus, audience)


async def get_own_profile(*, actor: Actor) -> ProfileView | None:
    """The profile the actor's account claimed, or None."""
    alumnus = await Alumnus.get_or_none(
        user_id=actor.id, merged_into_id=None, erased_at=None
    ).select_related("country")
    if alumnus is None:
        return None
    return await _view(alumnus, Audience.STAFF if actor.at_least(Role.STAFF) else Audience.OWNER)


async def list_alumni(*, actor: Actor, limit: int = 500) -> list[Alumnus]:
    """Profiles the actor may see (not merged, not erased), by family name; a simple
    list until the directory search (issue 6) replaces it."""
    require_role(actor, Role.ATTACHE)
    # A registration whose address is not verified yet shows nowhere (alumni.identity).
    query = Alumnus.filter(merged_into_id=None, erased_at=None).exclude(
        Q(vetting=Vetting.PENDING, user_id__isnull=False, user__email_verified_at__isnull=True)
    )
    if actor.country_codes is not None:
        query = query.filter(country_id__in=sorted(actor.country_codes))
    return (
        await query.select_related("country")
        .order_by("family_name", "given_name", "id")
        .limit(limit)
    )


async def _view(alumnus: Alumnus, audience: Audience) -> ProfileView:
    training = (
        await TrainingRecord.filter(alumnus_id=alumnus.id)
        .select_related("course")
        .order_by("start_date", "class_year", "id")
    )
    career = await CareerEntry.filter(alumnus_id=alumnus.id).order_by("-effective_date", "-id")
    return ProfileView(alumnus=alumnus, audience=audience, training=training, career=career)


# --- Serialising ------------------------------------------------------------------------


def profile_data(view: ProfileView) -> dict[str, Any]:
    """The profile as JSON-ready data: what ``GET /api/v1/alumni/{id}`` answers.

    Fields the audience may not see are None (see the module doc).
    """
    a = view.alumnus
    staff = view.sees_staff_fields
    return {
        "id": a.id,
        "given_name": a.given_name,
        "family_name": a.family_name,
        "given_name_latin": a.given_name_latin,
        "family_name_latin": a.family_name_latin,
        "preferred_name": a.preferred_name,
        "email": a.email,
        "secondary_email": a.secondary_email,
        "secondary_email_verified": a.secondary_verified_at is not None,
        "phone": a.phone,
        "country": a.country_id,  # type: ignore[attr-defined]
        "service": str(a.service),
        "rank": a.rank,
        "grade": a.grade,
        "grade_level": a.grade_level,
        "position": a.position,
        "unit": a.unit,
        "language": a.language,
        "timezone": a.timezone,
        "status": str(a.status),
        "vetting": str(a.vetting),
        "confirmed_at": a.confirmed_at,
        "programme_id": a.programme_id,
        "declared_class_year": a.declared_class_year,
        "declared_programme_id": a.declared_programme_id,
        "accepts_invitations": a.accepts_invitations,
        "invitations_consent_at": a.invitations_consent_at,
        "invitations_consent_source": a.invitations_consent_source,
        "accepts_newsletter": a.accepts_newsletter,
        "newsletter_consent_at": a.newsletter_consent_at,
        "newsletter_consent_source": a.newsletter_consent_source,
        "staff_notes": a.staff_notes if staff else None,
        "do_not_engage": a.do_not_engage if view.sees_flag else None,
        "do_not_engage_reason": a.do_not_engage_reason if staff else None,
        "do_not_engage_at": a.do_not_engage_at if staff else None,
        "claimed": a.user_id is not None,  # type: ignore[attr-defined]
        "contact_edited_at": a.contact_edited_at,
        "last_contacted_at": a.last_contacted_at,
        "last_engaged_at": a.last_engaged_at,
        "merged_into": a.merged_into_id,  # type: ignore[attr-defined]
        "erased": a.erased_at is not None,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "training": [training_data(r) for r in view.training],
        "career": [career_data(e) for e in view.career],
    }


def training_data(record: TrainingRecord) -> dict[str, Any]:
    """A training record (its course loaded) as JSON-ready data."""
    course = record.course
    return {
        "id": record.id,
        "course": {
            "id": course.id,
            "title": course.title,
            "school": course.school,
            "category": str(course.category),
            "tags": list(course.tags or []),
        },
        "start_date": record.start_date,
        "end_date": record.end_date,
        "class_year": record.class_year,
        "funding_type": record.funding_type,
        "graduated": record.graduated,
    }


def career_data(entry: CareerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "rank": entry.rank,
        "grade": entry.grade,
        "position": entry.position,
        "effective_date": entry.effective_date,
        "source": str(entry.source),
        "created_at": entry.created_at,
    }


# --- Creating ---------------------------------------------------------------------------


async def create_alumnus(
    data: Mapping[str, Any],
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
    ip: str = "",
) -> Alumnus:
    """Create a confirmed profile (staff only): names and country required.

    Consents default to yes, stamped "created by staff"; ``rank`` records the first
    career entry. Raises InvalidInput (422), Conflict (409: email or programme ID taken,
    or an address whose owner's data was erased).
    """
    require_role(actor, Role.STAFF)
    unknown = sorted(set(data) - {*EDITABLE_FIELDS, *CREATE_ONLY_FIELDS})
    values, errors = _clean(data)
    for name in unknown:
        errors[name] = _("Unknown field.")
    for name in ("given_name", "family_name", "country"):
        if not values.get(name) and name not in errors:
            errors[name] = _("Required.")
    if values.get("do_not_engage") and not values.get("do_not_engage_reason"):
        errors["do_not_engage_reason"] = _("Say why this person must not be engaged.")
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    await _check_country(values["country"])
    await _check_unique(values, exclude_id=None)
    await _check_not_erased(values, settings)  # an erased person is never recreated
    now = now or utcnow()
    rank = values.pop("rank", "")
    alumnus = Alumnus(
        vetting=Vetting.CONFIRMED,
        confirmed_by=actor.user,
        confirmed_at=now,
        accepts_invitations=True,
        accepts_newsletter=True,
    )
    for name in CONSENT_FIELDS:
        values.setdefault(name, True)
    _assign(alumnus, values, now=now, consent_source=SOURCE_CREATED_BY_STAFF)
    grade = await grade_for(values["country"], alumnus.service, rank) if rank else ""
    try:
        async with in_transaction() as conn:
            await alumnus.save(using_db=conn)
            await refresh_search_tokens([alumnus.id], using_db=conn)
            if alumnus.secondary_email:
                await queue_secondary_verification(alumnus, now=now, using_db=conn)
            if rank:
                await CareerEntry.create(
                    alumnus=alumnus,
                    rank=rank,
                    grade=grade,
                    effective_date=now.date(),
                    source=CareerSource.STAFF_VERIFIED,
                    created_by=actor.user,
                    using_db=conn,
                )
                await refresh_current_grade(alumnus.id, using_db=conn)
            await record(
                "alumnus.create",
                actor=actor.user,
                target=("alumnus", alumnus.id),
                details={"country": alumnus.country_id},  # type: ignore[attr-defined]
                ip=ip,
                using_db=conn,
            )
            if alumnus.do_not_engage:
                await record(
                    "alumnus.do_not_engage",
                    actor=actor.user,
                    target=("alumnus", alumnus.id),
                    details={"flag": True, "reason": alumnus.do_not_engage_reason},
                    ip=ip,
                    using_db=conn,
                )
    except IntegrityError:
        await _check_unique(values, exclude_id=None)  # names the field taken meanwhile
        raise
    await alumnus.refresh_from_db()
    return alumnus


# --- Changing ---------------------------------------------------------------------------


async def update_alumnus(
    alumnus_id: object,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    source: str = SOURCE_PROFILE_PAGE,
    now: datetime | None = None,
    ip: str = "",
) -> ProfileView:
    """Change some fields; the others stay. Field rules in the module doc.

    ``source`` says where the person changed a consent ("profile page", "api").
    Raises NotFound, PermissionDenied (naming the fields), InvalidInput, Conflict.
    """
    alumnus, audience = await find_alumnus(alumnus_id, actor=actor)
    if alumnus.erased_at is not None:
        raise Conflict(_("This person's data was erased; the profile cannot change."))
    allowed = editable_fields(audience)
    unknown = {
        f: _("Add a career entry to change the rank.")
        if f in ("rank", "grade")
        else _("Unknown field.")
        for f in changes
        if f not in EDITABLE_FIELDS
    }
    if unknown:
        raise InvalidInput(_("Please correct the marked fields."), fields=unknown)
    values, errors = _clean(changes)
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    changed = {k: v for k, v in values.items() if _current(alumnus, k) != _comparable(k, v)}
    _check_permissions(alumnus, audience, allowed, changed)
    if not changed:
        return await _view(alumnus, audience)
    if "country" in changed:
        await _check_country(changed["country"])
    await _check_unique(changed, exclude_id=alumnus.id)
    now = now or utcnow()
    flag_change = _do_not_engage_change(alumnus, changed, values)
    if not changed:
        return await _view(alumnus, audience)
    consent_source = source if audience is Audience.OWNER else SOURCE_STAFF
    regrade = await _regrade(alumnus, changed) if {"country", "service"} & set(changed) else {}
    _assign(alumnus, changed, now=now, consent_source=consent_source)
    if audience is Audience.OWNER and set(changed) & set(CONTACT_FIELDS):
        alumnus.contact_edited_at = now
    try:
        async with in_transaction() as conn:
            await alumnus.save(using_db=conn)
            if set(changed) & {*NAME_FIELDS, "preferred_name"}:
                await refresh_search_tokens([alumnus.id], using_db=conn)
            if changed.get("secondary_email"):
                await queue_secondary_verification(alumnus, now=now, using_db=conn)
            regained = [t for f, t in _CONSENT_TOPICS.items() if changed.get(f) is True]
            if regained and audience is Audience.OWNER:
                # Consent given back: the person's unsubscribes by link go too.
                addresses = [alumnus.email or "", alumnus.secondary_email or ""]
                await resubscribe(addresses, regained, using_db=conn)
            for entry_id, grade in regrade.items():
                await CareerEntry.filter(id=entry_id).using_db(conn).update(grade=grade)
            if regrade:
                await refresh_current_grade(alumnus.id, using_db=conn)
            plain = sorted(set(changed) - {"do_not_engage", "do_not_engage_reason", "status"})
            if plain:
                # Field names only: values are personal data the audit log outlives.
                await record(
                    "alumnus.update",
                    actor=actor.user,
                    target=("alumnus", alumnus.id),
                    details={"fields": plain, "by": str(audience)},
                    ip=ip,
                    using_db=conn,
                )
            if "status" in changed:
                await record(
                    "alumnus.status",
                    actor=actor.user,
                    target=("alumnus", alumnus.id),
                    details={"to": str(changed["status"])},
                    ip=ip,
                    using_db=conn,
                )
            if flag_change is not None:
                await record(
                    "alumnus.do_not_engage",
                    actor=actor.user,
                    target=("alumnus", alumnus.id),
                    details=flag_change,
                    ip=ip,
                    using_db=conn,
                )
            await _record_update(alumnus.id, audience, changed, now, conn)
    except IntegrityError:
        await _check_unique(changed, exclude_id=alumnus.id)
        raise
    alumnus = await Alumnus.get(id=alumnus.id).select_related("country")
    return await _view(alumnus, audience)


async def set_status(alumnus_id: object, status: str, *, actor: Actor, ip: str = "") -> ProfileView:
    """Serving, retired, left service or deceased (staff; audited)."""
    require_role(actor, Role.STAFF)
    return await update_alumnus(alumnus_id, {"status": status}, actor=actor, ip=ip)


async def set_do_not_engage(
    alumnus_id: object,
    flag: bool,
    reason: str = "",
    *,
    actor: Actor,
    now: datetime | None = None,
    ip: str = "",
) -> ProfileView:
    """Set (a reason is required) or lift "do not engage" (staff; audited both ways).

    Lifting clears the reason and date on the profile; the audit log keeps both, and
    the reason given for lifting, if any.
    """
    require_role(actor, Role.STAFF)
    return await update_alumnus(
        alumnus_id,
        {"do_not_engage": flag, "do_not_engage_reason": reason},
        actor=actor,
        now=now,
        ip=ip,
    )


async def follow_account_email(user: User, *, now: datetime | None = None) -> bool:
    """After the account's new address was verified, the claimed profile takes it too
    (unless another profile holds it). Returns whether the profile changed."""
    alumnus = await Alumnus.get_or_none(user_id=user.id, erased_at=None)
    if alumnus is None or alumnus.email_key == email_key(user.email):
        return False
    if await Alumnus.filter(email_key=email_key(user.email)).exclude(id=alumnus.id).exists():
        return False
    async with in_transaction() as conn:
        alumnus.email = user.email
        alumnus.email_key = email_key(user.email)
        alumnus.email_failing_at = None
        alumnus.contact_edited_at = now or utcnow()
        await alumnus.save(
            update_fields=["email", "email_key", "email_failing_at", "contact_edited_at"],
            using_db=conn,
        )
        await record(
            "alumnus.update",
            actor=user,
            target=("alumnus", alumnus.id),
            details={"fields": ["email"], "by": "account"},
            using_db=conn,
        )
        await _record_update(alumnus.id, Audience.OWNER, {"email": user.email}, now, conn)
    return True


#: Changes that are not the person's data: left off their engagement timeline.
_OFF_TIMELINE = frozenset({"staff_notes", "do_not_engage", "do_not_engage_reason"})


async def _record_update(
    alumnus_id: int,
    audience: Audience,
    changed: Mapping[str, Any],
    now: datetime | None,
    conn: Any,
) -> None:
    """The update on the person's timeline (engage.alumni.engagement): engagement
    when the person made it, a line only when staff or an attaché did."""
    names = sorted(set(changed) - _OFF_TIMELINE)
    if names:
        await record_engagement(
            alumnus_id,
            EngagementKind.PROFILE_UPDATED,
            at=now or utcnow(),
            detail=f"{audience}: {', '.join(names)}",
            summary=audience is Audience.OWNER,
            using_db=conn,
        )


async def delete_alumnus(alumnus_id: object, *, actor: Actor, ip: str = "") -> None:
    """Delete a profile entered by mistake (staff).

    A profile with history (a claimed account, training records, career updates the
    person gave, or profiles merged into it) answers 409: erase it instead.
    """
    require_role(actor, Role.STAFF)
    alumnus, _audience = await find_alumnus(alumnus_id, actor=actor)
    history = (
        alumnus.user_id is not None  # type: ignore[attr-defined]
        or await TrainingRecord.exists(alumnus_id=alumnus.id)
        or await CareerEntry.exists(alumnus_id=alumnus.id, source=CareerSource.SELF_REPORTED)
        or await Alumnus.exists(merged_into_id=alumnus.id)
    )
    if history:
        raise Conflict(
            _(
                "This profile has history (an account, training or career updates, or "
                "merged profiles). Erase the person's data instead of deleting the profile."
            )
        )
    async with in_transaction() as conn:
        await Alumnus.filter(id=alumnus.id).using_db(conn).delete()
        await record(
            "alumnus.delete",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"country": alumnus.country_id},  # type: ignore[attr-defined]
            ip=ip,
            using_db=conn,
        )


# --- Helpers ----------------------------------------------------------------------------


def parse_id(value: object) -> int | None:
    """A positive database id from an int or a string of digits; None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value) or None
    return None


def clean_text(value: object, *, multiline: bool = False) -> str:
    """Trimmed text; control characters (other than line breaks in long text) removed."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    allowed = "\n\t" if multiline else ""
    return "".join(c for c in text.replace("\r\n", "\n") if c in allowed or c.isprintable()).strip()


def parse_date(value: object) -> date | None:
    """A date from a date or an ISO "YYYY-MM-DD" string; None when empty.

    Raises ValueError when it is neither.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise ValueError("a date, not a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError("not a date")


def parse_bool(value: object) -> bool:
    """True, False, or what a form sends ("on", "true", "1", "yes"; "" is False, as an
    unticked box sends nothing). None (a JSON null) is neither: ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("", "false", "0", "no", "off"):
        return False
    raise ValueError("not a yes or no")


def _clean(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The given profile fields cleaned, and what is wrong with them (by field)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, raw in data.items():
        if name in _MAX:
            text = clean_text(raw, multiline=name in _MULTILINE)
            if len(text) > _MAX[name]:
                errors[name] = _("At most %(n)s characters.", n=_MAX[name])
            elif name in ("given_name", "family_name") and not text:
                errors[name] = _("Required.")
            elif (
                name == "phone"
                and text
                and not (_PHONE.fullmatch(text) and sum(c.isdigit() for c in text) >= 4)
            ):
                errors[name] = _("Digits, spaces and + ( ) - only, e.g. +254 700 000 000.")
            values[name] = text or (None if name == "programme_id" else "")
        elif name in ("email", "secondary_email"):
            text = clean_text(raw)
            if not text:
                if name == "email" and data.get("secondary_email"):
                    errors[name] = _("A secondary address needs a primary one.")
                values[name] = None
                continue
            try:
                values[name] = check_email(text)
            except InvalidInput:
                errors[name] = _("Enter a valid email address, like name@example.org.")
        elif name == "country":
            code = clean_text(raw).upper()
            if not re.fullmatch(r"[A-Z]{2}", code):
                errors[name] = _("A two-letter ISO country code, e.g. KE.")
            values[name] = code
        elif name in ("service", "status"):
            enum: type[StrEnum] = Service if name == "service" else AlumnusStatus
            try:
                values[name] = enum(clean_text(raw))
            except ValueError:
                choices = ", ".join(e.value for e in enum)
                errors[name] = _("Choose one of: %(choices)s.", choices=choices)
        elif name == "language":
            code = clean_text(raw)
            if not _LANGUAGE.fullmatch(code) or not _known_language(code):
                errors[name] = _("A language code, e.g. en, fr or pt-BR.")
            values[name] = code
        elif name == "timezone":
            zone = clean_text(raw)
            if zone != "UTC" and not is_embassy_zone(zone):
                errors[name] = _("Choose a time zone from the list.")
            values[name] = zone
        elif name in (*CONSENT_FIELDS, "do_not_engage"):
            try:
                values[name] = parse_bool(raw)
            except ValueError:
                errors[name] = _("Yes or no.")
    if (
        values.get("email")
        and values.get("secondary_email")
        and email_key(values["email"]) == email_key(values["secondary_email"])
    ):
        errors["secondary_email"] = _("Give a different address from the primary one.")
    return values, errors


def _known_language(code: str) -> bool:
    try:
        Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return False
    return True


def _current(alumnus: Alumnus, name: str) -> object:
    if name == "country":
        return alumnus.country_id  # type: ignore[attr-defined]
    if name in ("email", "secondary_email"):
        value = getattr(alumnus, name)
        return email_key(value) if value else None
    if name in ("service", "status"):
        return str(getattr(alumnus, name))
    return getattr(alumnus, name)


def _comparable(name: str, value: object) -> object:
    if name in ("email", "secondary_email"):
        return email_key(value) if isinstance(value, str) and value else None
    if name in ("service", "status"):
        return str(value)
    return value


def _check_permissions(
    alumnus: Alumnus, audience: Audience, allowed: tuple[str, ...], changed: Mapping[str, Any]
) -> None:
    denied: dict[str, str] = {}
    for name in changed:
        if name in allowed:
            continue
        if name == "email" and audience is Audience.OWNER:
            denied[name] = _(
                "Change your main address on your account page: it changes here once "
                "you confirm the new address."
            )
        else:
            denied[name] = _("You may not change this.")
    if audience is Audience.STAFF:
        for name in CONSENT_FIELDS:
            if changed.get(name) is True:
                denied[name] = _("Only the person can give their consent again.")
    if denied:
        raise PermissionDenied(_("You may not change some of these fields."), fields=denied)


def _do_not_engage_change(
    alumnus: Alumnus, changed: dict[str, Any], values: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Validate a change of the flag or its reason; the audit details, or None."""
    if "do_not_engage" not in changed and "do_not_engage_reason" not in changed:
        return None
    flag = values.get("do_not_engage", alumnus.do_not_engage)
    reason = values.get("do_not_engage_reason", "")
    if flag:
        if not reason and "do_not_engage_reason" in values:
            raise InvalidInput(
                _("Please correct the marked fields."),
                fields={"do_not_engage_reason": _("Say why this person must not be engaged.")},
            )
        if not reason and not alumnus.do_not_engage_reason:
            raise InvalidInput(
                _("Please correct the marked fields."),
                fields={"do_not_engage_reason": _("Say why this person must not be engaged.")},
            )
        if "do_not_engage" not in changed:
            return {"flag": True, "reason": reason, "change": "reason"}
        return {"flag": True, "reason": reason or alumnus.do_not_engage_reason}
    if not alumnus.do_not_engage:
        # Not flagged and staying so: a reason alone means nothing; drop it.
        changed.pop("do_not_engage_reason", None)
        changed.pop("do_not_engage", None)
        return None
    # Lifting: the profile forgets the reason; the audit log keeps it, and why lifted.
    changed["do_not_engage_reason"] = ""
    return {"flag": False, "previous_reason": alumnus.do_not_engage_reason, "reason": reason}


def _assign(
    alumnus: Alumnus, values: Mapping[str, Any], *, now: datetime, consent_source: str
) -> None:
    for name, value in values.items():
        if name == "country":
            alumnus.country_id = value  # type: ignore[attr-defined]
        elif name in ("email", "secondary_email"):
            setattr(alumnus, name, value)
            if name == "email":
                alumnus.email_key = email_key(value) if value else None
                alumnus.email_failing_at = None  # a new address has not bounced
            else:
                # A new secondary address is unverified: old links die, a new one goes.
                alumnus.secondary_verified_at = None
                alumnus.secondary_version += 1
        elif name == "accepts_invitations":
            alumnus.accepts_invitations = value
            alumnus.invitations_consent_at = now
            alumnus.invitations_consent_source = consent_source
        elif name == "accepts_newsletter":
            alumnus.accepts_newsletter = value
            alumnus.newsletter_consent_at = now
            alumnus.newsletter_consent_source = consent_source
        elif name == "do_not_engage":
            alumnus.do_not_engage = value
            alumnus.do_not_engage_at = now if value else None
        elif name != "rank":
            setattr(alumnus, name, value)
    if set(values) & {*NAME_FIELDS, "preferred_name"}:
        alumnus.search_key = search_key(
            alumnus.given_name,
            alumnus.family_name,
            alumnus.given_name_latin,
            alumnus.family_name_latin,
            alumnus.preferred_name,
        )


async def _check_country(code: str) -> None:
    if not await Country.exists(code=code):
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"country": _("No country with code %(code)s.", code=code)},
        )


async def _check_unique(values: Mapping[str, Any], *, exclude_id: int | None) -> None:
    taken: dict[str, str] = {}
    if values.get("email"):
        query = Alumnus.filter(email_key=email_key(values["email"]))
        if exclude_id is not None:
            query = query.exclude(id=exclude_id)
        if await query.exists():
            taken["email"] = _("Another profile has this email address.")
    if values.get("programme_id"):
        query = Alumnus.filter(programme_id=values["programme_id"])
        if exclude_id is not None:
            query = query.exclude(id=exclude_id)
        if await query.exists():
            taken["programme_id"] = _("Another profile has this programme ID.")
    if taken:
        raise Conflict(next(iter(taken.values())), fields=taken)


async def _check_not_erased(values: Mapping[str, Any], settings: Settings) -> None:
    """An erased person is not recreated (engage.alumni.rights keeps their email's hash)."""
    from engage.alumni.rights import is_erased  # rights builds on this module

    for name in ("email", "secondary_email"):
        if await is_erased(values.get(name), settings):
            raise Conflict(
                _("This person asked for their data to be erased; they cannot be added again."),
                fields={name: _("Belongs to a person whose data was erased.")},
            )


async def _regrade(alumnus: Alumnus, changed: Mapping[str, Any]) -> dict[int, str]:
    """New grades of the career entries after a change of country or service
    (looked up before the write: an unknown rank joins the mapping queue)."""
    country = changed.get("country", alumnus.country_id)  # type: ignore[attr-defined]
    service = changed.get("service", alumnus.service)
    grades: dict[int, str] = {}
    for entry in await CareerEntry.filter(alumnus_id=alumnus.id):
        grade = await grade_for(country, service, entry.rank)
        if grade != entry.grade:
            grades[entry.id] = grade
    return grades
