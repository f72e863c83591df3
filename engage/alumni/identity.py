"""Identity and vetting: a self-registered person creates or claims a profile, and
staff or an attaché of their country vouch for them.

::

    details = await check_registration({"given_name": "Олександр", "family_name":
        "Коваленко", "country": "UA", "service": "army", "class_year": "2015"})
    await start_registration(user, details, now=now)     # in the registration's transaction
    link = await address_verified(user, now=now)         # when the emailed link is followed
    link.claimed                                         # an imported profile is now theirs
    people = await list_pending(actor=attache)           # pending people of their countries
    await confirm_alumnus(person.id, actor=attache)      # 404 outside their countries
    await reject_pending(person.id, "Not on the roster", actor=staff)
    confirmed_alumni()                                   # where every audience starts

The rules:

- **Registration** creates the person's profile at once, *pending*, from what they
  typed, linked to their new account but **without an email address**: an address
  nobody has verified claims nothing, blocks nothing and shows nowhere (the pending
  list, the alumni list and duplicate detection skip such profiles; the person cannot
  sign in before verifying anyway).
- **Verifying the address** (:func:`address_verified`, called by
  ``engage.accounts.registration.confirm_email`` in the same transaction as the link
  is used): if an unclaimed profile has that primary address (imported or added by
  staff), the account claims it: the account is linked to it, it keeps its vetting
  (confirmed stays confirmed), it takes the consents the person just gave and the
  Latin spelling if it had none, and the registration's own profile is deleted.
  Otherwise the registration's profile takes the verified address and stays
  **pending**. Only alumni accounts claim; only a profile with nothing but what the
  person typed (pending, no training, no career, nothing merged into it) is replaced.
- **Later address changes** are verified by the account page first; then the
  profile follows the account (``profiles.follow_account_email``), and an alumnus
  account without a profile claims an unclaimed one with the new address.
- **Pending** people are not invitable (:func:`confirmed_alumni` is the one query
  audiences start from) and are labelled pending wherever they are listed.
- **Confirming** (staff, or an attaché whose embassies are accredited to the person's
  country; any other attaché gets 404) records who and when, and is audit-logged.
  A programme ID the person declared becomes the profile's, if no other holds it.
- **Rejecting** (staff) deletes the pending profile with its self-reported career
  entries, audit-logged with the reason. The account stays: an alumnus account
  without a profile sees only its account page and receives no mail from the
  programme; an admin deactivates it if it should go too. A pending profile with
  training records or merged profiles cannot be rejected (merge it, or erase it).

What the person declared that is not yet roster fact (class year, programme ID) is
kept on their profile in ``declared_class_year`` and ``declared_programme_id``
(:func:`declaration` reads both, for the confirmers and for duplicate detection). It
is their data: the person, staff and attachés in scope see it on the profile, their
export shows it and erasure clears it with the rest. A claimed profile takes what
the person declared where it differs from the roster, in the declared fields it has
empty. A self-declared programme ID never goes into ``programme_id`` before someone
confirms the person: it is no proof of identity, and a later roster import matching
on it must not meet an unvetted profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role, User
from engage.alumni.models import Alumnus, CareerEntry, Service, TrainingRecord, Vetting
from engage.alumni.names import refresh_search_tokens, search_key
from engage.alumni.profiles import (
    clean_text,
    find_alumnus,
    follow_account_email,
    parse_bool,
)
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput
from engage.i18n import _
from engage.places.models import Country

#: Where a consent given at registration is recorded (``*_consent_source``).
SOURCE_REGISTRATION = "registration"
#: The fields of the registration form that make the profile.
REGISTRATION_FIELDS = (
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "country",
    "service",
    "programme_id",
    "class_year",
    "accepts_invitations",
    "accepts_newsletter",
)
#: The first class the programme could have trained.
FIRST_CLASS_YEAR = 1950

_NAME_MAX = 100
#: Student or record numbers: letters, digits and a few separators.
_PROGRAMME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}")


@dataclass(frozen=True)
class Registration:
    """What a person registering says about themselves (validated)."""

    given_name: str
    family_name: str
    given_name_latin: str
    family_name_latin: str
    country: str
    service: Service
    programme_id: str | None
    class_year: int | None
    accepts_invitations: bool
    accepts_newsletter: bool


@dataclass(frozen=True)
class Declaration:
    """What a self-registered person declared that is not yet roster fact."""

    class_year: int | None = None
    programme_id: str | None = None

    def __bool__(self) -> bool:
        return self.class_year is not None or self.programme_id is not None


@dataclass(frozen=True)
class ProfileLink:
    """The account's profile after its address was verified."""

    alumnus: Alumnus | None
    #: True when an existing (imported) profile was claimed just now.
    claimed: bool = False

    @property
    def pending(self) -> bool:
        return self.alumnus is not None and self.alumnus.vetting == Vetting.PENDING


@dataclass(frozen=True)
class PendingPerson:
    """A pending profile as its confirmers see it."""

    alumnus: Alumnus
    declared: Declaration
    #: Training records on the profile (course loaded), to check against the roster.
    training: list[TrainingRecord]
    #: Other profiles (in the confirmer's scope) that may be the same person: merge
    #: rather than confirm a second record.
    matches: list[Alumnus]


# --- Queries ----------------------------------------------------------------------------


def awaiting_verification() -> Q:
    """Profiles of registrations whose address is not verified yet: shown nowhere.

    A subquery rather than a join: every audience query starts here, and a join to
    the accounts would cost a lookup per profile on SQLite.
    """
    unverified = User.filter(email_verified_at__isnull=True).values("id")
    return Q(vetting=Vetting.PENDING, user_id__isnull=False, user_id__in=Subquery(unverified))


def live_alumni() -> QuerySet[Alumnus]:
    """Profiles that count: not merged into another, not erased, not an unverified
    registration."""
    return Alumnus.filter(merged_into_id=None, erased_at=None).exclude(awaiting_verification())


def confirmed_alumni() -> QuerySet[Alumnus]:
    """Profiles that may be invited and counted as alumni: live and confirmed. Every
    audience (invitations, newsletters, reminders) starts from this query."""
    return Alumnus.filter(merged_into_id=None, erased_at=None, vetting=Vetting.CONFIRMED)


def is_awaiting_verification(alumnus: Alumnus, user: User | None) -> bool:
    return (
        alumnus.vetting == Vetting.PENDING and user is not None and user.email_verified_at is None
    )


def declaration(alumnus: Alumnus) -> Declaration:
    """The class year and programme ID the person declared at registration."""
    return Declaration(
        class_year=alumnus.declared_class_year, programme_id=alumnus.declared_programme_id
    )


# --- Registration -----------------------------------------------------------------------


async def registration_countries() -> list[Country]:
    """The countries a person registering may choose from, by name."""
    return await Country.all().order_by("name")


async def check_registration(
    data: Mapping[str, Any], *, now: datetime | None = None
) -> Registration:
    """Validate the profile part of a registration; InvalidInput names each field.

    Names in any script are required; the Latin spelling, programme ID and class year
    are optional; the consents are what the boxes say (unticked: no).
    """
    year_now = (now or utcnow()).year
    errors: dict[str, str] = {}
    text = {name: clean_text(data.get(name)) for name in REGISTRATION_FIELDS}
    for name in ("given_name", "family_name", "given_name_latin", "family_name_latin"):
        if len(text[name]) > _NAME_MAX:
            errors[name] = _("At most %(n)s characters.", n=_NAME_MAX)
    for name in ("given_name", "family_name"):
        if not text[name]:
            errors[name] = _("Required.")
    country = text["country"].upper()
    if not country:
        errors["country"] = _("Choose your country.")
    elif not re.fullmatch(r"[A-Z]{2}", country) or not await Country.exists(code=country):
        errors["country"] = _("Choose a country from the list.")
    service = Service.OTHER
    try:
        service = Service(text["service"])
    except ValueError:
        errors["service"] = _("Choose your service.")
    programme_id = text["programme_id"] or None
    if programme_id is not None and not _PROGRAMME_ID.fullmatch(programme_id):
        errors["programme_id"] = _(
            "Letters, digits, spaces and . / _ - only, at most 64 characters."
        )
    class_year: int | None = None
    if text["class_year"]:
        raw = text["class_year"]
        if raw.isascii() and raw.isdigit() and FIRST_CLASS_YEAR <= int(raw) <= year_now + 1:
            class_year = int(raw)
        else:
            errors["class_year"] = _(
                "A year between %(first)s and %(last)s, e.g. 2015.",
                first=FIRST_CLASS_YEAR,
                last=year_now + 1,
            )
    consents: dict[str, bool] = {}
    for name in ("accepts_invitations", "accepts_newsletter"):
        try:
            consents[name] = parse_bool(data.get(name) or "")
        except ValueError:
            errors[name] = _("Yes or no.")
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    return Registration(
        given_name=text["given_name"],
        family_name=text["family_name"],
        given_name_latin=text["given_name_latin"],
        family_name_latin=text["family_name_latin"],
        country=country,
        service=service,
        programme_id=programme_id,
        class_year=class_year,
        **consents,
    )


async def start_registration(user: User, details: Registration, *, now: datetime) -> Alumnus:
    """Create the registering person's pending profile, linked to their new (not yet
    verified) account, without an email address (see the module doc).

    Call it inside the transaction that creates the account.
    """
    alumnus = await Alumnus.create(
        given_name=details.given_name,
        family_name=details.family_name,
        given_name_latin=details.given_name_latin,
        family_name_latin=details.family_name_latin,
        search_key=search_key(
            details.given_name,
            details.family_name,
            details.given_name_latin,
            details.family_name_latin,
        ),
        country_id=details.country,
        service=details.service,
        language=user.language,
        timezone=user.timezone,
        vetting=Vetting.PENDING,
        user=user,
        accepts_invitations=details.accepts_invitations,
        invitations_consent_at=now,
        invitations_consent_source=SOURCE_REGISTRATION,
        accepts_newsletter=details.accepts_newsletter,
        newsletter_consent_at=now,
        newsletter_consent_source=SOURCE_REGISTRATION,
        declared_class_year=details.class_year,
        declared_programme_id=details.programme_id,
    )
    await refresh_search_tokens([alumnus.id])
    return alumnus


async def address_verified(user: User, *, now: datetime | None = None) -> ProfileLink:
    """The account's address was just verified: claim the unclaimed profile with that
    address, or let the account's own profile take it (see the module doc).

    Idempotent; does nothing for an account whose address is not verified.
    """
    now = now or utcnow()
    if user.email_verified_at is None:
        return ProfileLink(None)
    own = await Alumnus.get_or_none(user_id=user.id, merged_into_id=None, erased_at=None)
    if user.role == Role.ALUMNUS and (own is None or await _replaceable(own)):
        target = await Alumnus.get_or_none(
            email_key=user.email_key, user_id=None, merged_into_id=None, erased_at=None
        )
        if target is not None:
            claimed = await _claim(target, user, replacing=own, now=now)
            if claimed is not None:
                return ProfileLink(claimed, claimed=True)
    if own is None:
        return ProfileLink(None)
    await follow_account_email(user, now=now)
    await own.refresh_from_db()
    return ProfileLink(own)


async def profile_link(user: User) -> ProfileLink:
    """The account's live profile, if any (for the page after verification)."""
    return ProfileLink(
        await Alumnus.get_or_none(user_id=user.id, merged_into_id=None, erased_at=None)
    )


async def _replaceable(alumnus: Alumnus) -> bool:
    """Whether the profile holds nothing but what the person typed at registration."""
    if alumnus.vetting != Vetting.PENDING or alumnus.confirmed_at is not None:
        return False
    return not (
        await TrainingRecord.exists(alumnus_id=alumnus.id)
        or await CareerEntry.exists(alumnus_id=alumnus.id)
        or await Alumnus.exists(merged_into_id=alumnus.id)
    )


class _ClaimLost(Exception):
    """Another account claimed the profile a moment ago."""


async def _claim(
    target: Alumnus, user: User, *, replacing: Alumnus | None, now: datetime
) -> Alumnus | None:
    """Link ``target`` to ``user`` (one conditional update), carrying over what the
    person gave at registration; None if someone else claimed it first."""
    changes: dict[str, Any] = {"user_id": user.id}
    details: dict[str, Any] = {"user": user.id, "by": "verified address"}
    if replacing is not None:
        details["replaced"] = replacing.id
        # The person's own choices, made when they registered.
        for consent in ("invitations", "newsletter"):
            changes[f"accepts_{consent}"] = getattr(replacing, f"accepts_{consent}")
            changes[f"{consent}_consent_at"] = getattr(replacing, f"{consent}_consent_at") or now
            changes[f"{consent}_consent_source"] = SOURCE_REGISTRATION
        filled = False
        for name in ("given_name_latin", "family_name_latin"):
            if not getattr(target, name) and getattr(replacing, name):
                changes[name] = getattr(replacing, name)
                filled = True
        if filled:
            changes["search_key"] = search_key(
                target.given_name,
                target.family_name,
                changes.get("given_name_latin", target.given_name_latin),
                changes.get("family_name_latin", target.family_name_latin),
                target.preferred_name,
            )
        declared = declaration(replacing)
        years = set(
            await TrainingRecord.filter(alumnus_id=target.id).values_list("class_year", flat=True)
        )
        informative = (declared.programme_id and declared.programme_id != target.programme_id) or (
            declared.class_year is not None and declared.class_year not in years
        )
        if informative:
            # Kept for staff: it differs from the roster. What the target already
            # holds as declared stays.
            for name, value in (
                ("declared_class_year", declared.class_year),
                ("declared_programme_id", declared.programme_id),
            ):
                if getattr(target, name) is None and value is not None:
                    changes[name] = value
    try:
        async with in_transaction():
            if replacing is not None:
                await Alumnus.filter(id=replacing.id).delete()
            if not await Alumnus.filter(id=target.id, user_id=None).update(**changes):
                raise _ClaimLost()
            if "search_key" in changes:
                await refresh_search_tokens([target.id])
            await record(
                "alumnus.claim", actor=user, target=("alumnus", target.id), details=details
            )
    except (_ClaimLost, IntegrityError):
        return None
    return await Alumnus.get(id=target.id)


# --- Confirmation -----------------------------------------------------------------------


async def list_pending(*, actor: Actor, limit: int = 500) -> list[PendingPerson]:
    """Pending people the actor may confirm (attachés: their countries), oldest first,
    each with what they declared, their training and likely matches on the roster."""
    require_role(actor, Role.ATTACHE)
    query = live_alumni().filter(vetting=Vetting.PENDING)
    if actor.country_codes is not None:
        query = query.filter(country_id__in=sorted(actor.country_codes))
    people = await query.select_related("country").order_by("created_at", "id").limit(limit)
    training: dict[int, list[TrainingRecord]] = {p.id: [] for p in people}
    for row in (
        await TrainingRecord.filter(alumnus_id__in=list(training))
        .select_related("course")
        .order_by("start_date", "class_year", "id")
    ):
        training[row.alumnus_id].append(row)  # type: ignore[attr-defined]
    # Detection builds on this module (live profiles): imported here.
    from engage.alumni.duplicates import likely_matches

    matches = await likely_matches(people, actor=actor)
    return [
        PendingPerson(
            alumnus=p,
            declared=declaration(p),
            training=training[p.id],
            matches=matches.get(p.id, []),
        )
        for p in people
    ]


async def confirm_alumnus(
    alumnus_id: object, *, actor: Actor, now: datetime | None = None, ip: str = ""
) -> Alumnus:
    """Confirm a pending person against the training roster (staff, or an attaché of
    the person's country; others 404). Confirming a confirmed person changes nothing."""
    require_role(actor, Role.ATTACHE)
    alumnus, _audience = await find_alumnus(alumnus_id, actor=actor)
    if alumnus.merged_into_id is not None or alumnus.erased_at is not None:  # type: ignore[attr-defined]
        raise Conflict(_("This profile was merged or erased; it cannot be confirmed."))
    if alumnus.vetting == Vetting.CONFIRMED:
        return alumnus
    user = await User.get_or_none(id=alumnus.user_id) if alumnus.user_id else None  # type: ignore[attr-defined]
    if is_awaiting_verification(alumnus, user):
        raise Conflict(_("This person has not confirmed their email address yet."))
    now = now or utcnow()
    declared = declaration(alumnus)
    details: dict[str, Any] = {"country": alumnus.country_id}  # type: ignore[attr-defined]
    async with in_transaction():
        confirmed = await Alumnus.filter(id=alumnus.id, vetting=Vetting.PENDING).update(
            vetting=Vetting.CONFIRMED, confirmed_by_id=actor.id, confirmed_at=now
        )
        if not confirmed:  # confirmed by someone else a moment ago
            return await Alumnus.get(id=alumnus.id).select_related("country")
        if (
            declared.programme_id
            and alumnus.programme_id is None
            and not await Alumnus.exists(programme_id=declared.programme_id)
        ):
            try:
                async with in_transaction():
                    await Alumnus.filter(id=alumnus.id).update(programme_id=declared.programme_id)
                details["programme_id"] = "declared"
            except IntegrityError:
                pass  # taken a moment ago: it stays declared only
        await record(
            "alumnus.confirm",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details=details,
            ip=ip,
        )
    return await Alumnus.get(id=alumnus.id).select_related("country")


async def reject_pending(alumnus_id: object, reason: str, *, actor: Actor, ip: str = "") -> None:
    """Delete a pending profile that is not on the roster (staff; audited with the
    reason). The account stays, without a profile (see the module doc)."""
    require_role(actor, Role.STAFF)
    alumnus, _audience = await find_alumnus(alumnus_id, actor=actor)
    reason = clean_text(reason, multiline=True)
    if not reason:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"reason": _("Say why this person is not confirmed.")},
        )
    if len(reason) > 1000:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"reason": _("At most %(n)s characters.", n=1000)},
        )
    if (
        alumnus.vetting != Vetting.PENDING
        or alumnus.merged_into_id is not None  # type: ignore[attr-defined]
        or alumnus.erased_at is not None
    ):
        raise Conflict(_("Only a pending profile can be rejected."))
    if await TrainingRecord.exists(alumnus_id=alumnus.id) or await Alumnus.exists(
        merged_into_id=alumnus.id
    ):
        raise Conflict(
            _(
                "This profile has training records or merged profiles: merge it with the "
                "roster profile, or erase it, instead of rejecting it."
            )
        )
    async with in_transaction():
        await Alumnus.filter(id=alumnus.id, vetting=Vetting.PENDING).delete()
        await record(
            "alumnus.reject",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={
                "user": alumnus.user_id,  # type: ignore[attr-defined]
                "country": alumnus.country_id,  # type: ignore[attr-defined]
                "reason": reason,
            },
            ip=ip,
        )
