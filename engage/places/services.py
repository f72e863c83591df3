"""Countries and embassies: who may see or change them, and what a valid one is.

::

    countries = await list_countries(actor=actor)
    await set_programme_status("ML", "suspended", "Coup d'état", actor=actor)
    embassy = await create_embassy(
        {"code": "NBO", "name": "Embassy in Nairobi", "country": "KE",
         "city": "Nairobi", "timezone": "Africa/Nairobi", "accredited": ["SO"]},
        actor=actor,
    )
    embassy.accredited   # (CountryRef("KE", "Kenya"), CountryRef("SO", "Somalia"))

Anyone signed in reads countries. Staff and admins see and change every embassy;
an attaché reads only the embassies assigned to them (any other answers 404, as if
it did not exist); alumni may not list embassies (403). Every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.i18n import _
from engage.places.models import Accreditation, Country, Embassy, ProgrammeStatus
from engage.places.timezones import is_embassy_zone

#: Short, URL-safe: "NBO", "ADDIS-1".
CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{1,15}")
EMBASSY_FIELDS = ("code", "name", "country", "city", "timezone", "accredited")
_MAX_LENGTH = {"name": 200, "city": 100}
_MAX_REASON = 1000


@dataclass(frozen=True)
class CountryRef:
    code: str
    name: str


@dataclass(frozen=True)
class EmbassyView:
    """An embassy with its home country and the countries it is accredited to."""

    id: int
    code: str
    name: str
    country: CountryRef
    city: str
    timezone: str
    #: Sorted by name; always includes the home country.
    accredited: tuple[CountryRef, ...]

    @property
    def accredited_codes(self) -> list[str]:
        return [ref.code for ref in self.accredited]


# --- Countries ------------------------------------------------------------------------


async def list_countries(
    *,
    actor: Actor,
    region: str | None = None,
    status: ProgrammeStatus | None = None,
) -> list[Country]:
    """Every country (by name), optionally of one region or programme status."""
    require_role(actor, Role.ALUMNUS)
    query = Country.all()
    if region:
        query = query.filter(region=region)
    if status is not None:
        query = query.filter(programme_status=status)
    return await query.order_by("name")


async def get_country(code: str, *, actor: Actor) -> Country:
    require_role(actor, Role.ALUMNUS)
    country = await Country.get_or_none(code=code.strip().upper())
    if country is None:
        raise NotFound(_("No country with code %(code)s.", code=code))
    return country


async def set_programme_status(
    code: str, status: str, reason: str, *, actor: Actor, ip: str = ""
) -> Country:
    """Suspend a country's programme (a reason is required) or reactivate it.

    Suspension stops bulk mail to the country's alumni; the date and reason are kept.
    """
    require_role(actor, Role.STAFF)
    try:
        wanted = ProgrammeStatus(status)
    except ValueError:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"status": _("Choose active or suspended.")},
        ) from None
    reason = _clean_text(reason, multiline=True)
    if wanted is ProgrammeStatus.SUSPENDED and not reason:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"reason": _("Say why the programme is suspended.")},
        )
    if len(reason) > _MAX_REASON:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"reason": _("At most %(n)s characters.", n=_MAX_REASON)},
        )
    country = await get_country(code, actor=actor)
    previous = ProgrammeStatus(country.programme_status)
    if previous is wanted and country.status_reason == reason:
        return country
    if previous is not wanted:
        country.status_changed_at = utcnow()
    country.programme_status = wanted
    country.status_reason = reason
    async with in_transaction() as conn:
        await country.save(
            update_fields=["programme_status", "status_changed_at", "status_reason"],
            using_db=conn,
        )
        await record(
            "country.programme_status",
            actor=actor.user,
            target=("country", country.code),
            details={"from": str(previous), "to": str(wanted), "reason": reason},
            ip=ip,
            using_db=conn,
        )
    return country


# --- Embassies ------------------------------------------------------------------------


async def list_embassies(*, actor: Actor) -> list[EmbassyView]:
    """Staff and admins: every embassy; an attaché: their own; alumni: 403."""
    require_role(actor, Role.ATTACHE)
    query = Embassy.all().select_related("country")
    if not actor.at_least(Role.STAFF):
        query = query.filter(id__in=list(actor.embassy_ids))
    embassies = await query.order_by("code")
    return await _views(embassies)


async def get_embassy(code: str, *, actor: Actor) -> EmbassyView:
    """One embassy; 404 if unknown or (for an attaché) not one of theirs."""
    embassy = await _find_embassy(code, actor=actor)
    return (await _views([embassy]))[0]


async def create_embassy(data: Mapping[str, Any], *, actor: Actor, ip: str = "") -> EmbassyView:
    """Create an embassy (staff, admins). ``accredited`` defaults to the home country
    and always includes it. Raises InvalidInput (422) or Conflict (409, code taken)."""
    require_role(actor, Role.STAFF)
    missing = {f: _("Required.") for f in EMBASSY_FIELDS if f != "accredited" and f not in data}
    values, errors = _validate(data)
    errors = {**missing, **errors}
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    accredited = {values["country"], *values.get("accredited", ())}
    await _check_countries(values["country"], accredited)
    if await Embassy.exists(code=values["code"]):
        raise _code_taken(values["code"])
    try:
        async with in_transaction() as conn:
            embassy = await Embassy.create(
                code=values["code"],
                name=values["name"],
                country_id=values["country"],
                city=values["city"],
                timezone=values["timezone"],
                using_db=conn,
            )
            await Accreditation.bulk_create(
                [Accreditation(embassy_id=embassy.id, country_id=c) for c in sorted(accredited)],
                using_db=conn,
            )
            await record(
                "embassy.create",
                actor=actor.user,
                target=("embassy", embassy.code),
                details={
                    **{k: values[k] for k in ("name", "country", "city", "timezone")},
                    "accredited": sorted(accredited),
                },
                ip=ip,
                using_db=conn,
            )
    except IntegrityError:
        # Another request created the same code between the check and the insert.
        raise _code_taken(values["code"]) from None
    return await get_embassy(embassy.code, actor=actor)


async def update_embassy(
    code: str, changes: Mapping[str, Any], *, actor: Actor, ip: str = ""
) -> EmbassyView:
    """Change some fields of an embassy (staff, admins); the others stay as they are.

    The home country stays accredited whatever ``accredited`` says; moving the
    embassy to another country adds the new one.
    """
    require_role(actor, Role.STAFF)
    embassy = await _find_embassy(code, actor=actor)
    values, errors = _validate(changes)
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    current = set(
        await Accreditation.filter(embassy_id=embassy.id).values_list("country_id", flat=True)
    )
    home = values.get("country", embassy.country_id)  # type: ignore[attr-defined]
    accredited = {home, *values.get("accredited", current)}
    await _check_countries(home, accredited - current)
    before = {
        "code": embassy.code,
        "name": embassy.name,
        "country": embassy.country_id,  # type: ignore[attr-defined]
        "city": embassy.city,
        "timezone": embassy.timezone,
    }
    changed = {k: [before[k], v] for k, v in values.items() if k in before and before[k] != v}
    if accredited != current:
        changed["accredited"] = [sorted(current), sorted(accredited)]
    if not changed:
        return await get_embassy(embassy.code, actor=actor)
    if "code" in changed and await Embassy.exists(code=values["code"]):
        raise _code_taken(values["code"])
    for field in ("code", "name", "city", "timezone"):
        if field in changed:
            setattr(embassy, field, values[field])
    if "country" in changed:
        embassy.country_id = values["country"]  # type: ignore[attr-defined]
    try:
        async with in_transaction() as conn:
            await embassy.save(using_db=conn)
            if "accredited" in changed:
                await (
                    Accreditation.filter(
                        embassy_id=embassy.id, country_id__in=list(current - accredited)
                    )
                    .using_db(conn)
                    .delete()
                )
                await Accreditation.bulk_create(
                    [
                        Accreditation(embassy_id=embassy.id, country_id=c)
                        for c in sorted(accredited - current)
                    ],
                    using_db=conn,
                )
            await record(
                "embassy.update",
                actor=actor.user,
                target=("embassy", embassy.code),
                details=changed,
                ip=ip,
                using_db=conn,
            )
    except IntegrityError:
        raise _code_taken(embassy.code) from None
    return await get_embassy(embassy.code, actor=actor)


# --- Helpers --------------------------------------------------------------------------


async def _find_embassy(code: str, *, actor: Actor) -> Embassy:
    require_role(actor, Role.ATTACHE)
    embassy = await Embassy.get_or_none(code=code).select_related("country")
    if embassy is None or not actor.can_act_for_embassy(embassy.id):
        # Out of scope reads the same as unknown: its existence is not revealed.
        raise NotFound(_("No embassy with code %(code)s.", code=code))
    return embassy


async def _views(embassies: list[Embassy]) -> list[EmbassyView]:
    rows = await Accreditation.filter(embassy_id__in=[e.id for e in embassies]).values_list(
        "embassy_id", "country_id", "country__name"
    )
    accredited: dict[int, list[CountryRef]] = {}
    for embassy_id, country_code, country_name in rows:
        accredited.setdefault(embassy_id, []).append(CountryRef(country_code, country_name))
    return [
        EmbassyView(
            id=embassy.id,
            code=embassy.code,
            name=embassy.name,
            country=CountryRef(embassy.country.code, embassy.country.name),
            city=embassy.city,
            timezone=embassy.timezone,
            accredited=tuple(sorted(accredited.get(embassy.id, []), key=lambda r: r.name)),
        )
        for embassy in embassies
    ]


def _code_taken(code: str) -> Conflict:
    message = _("An embassy with code %(code)s already exists.", code=code)
    return Conflict(message, fields={"code": message})


async def _check_countries(home: str, accredited: Collection[str]) -> None:
    wanted = {home, *accredited}
    known = set(await Country.filter(code__in=list(wanted)).values_list("code", flat=True))
    errors: dict[str, str] = {}
    if home not in known:
        errors["country"] = _("No country with code %(code)s.", code=home)
    unknown = sorted(set(accredited) - known - {home})
    if unknown:
        errors["accredited"] = _("Unknown country codes: %(codes)s.", codes=", ".join(unknown))
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)


def _clean_text(value: object, *, multiline: bool = False) -> str:
    """Trimmed text; control characters (other than line breaks in long text) removed."""
    text = value if isinstance(value, str) else ""
    allowed = "\n\t" if multiline else ""
    return "".join(c for c in text if c in allowed or c.isprintable()).strip()


def _validate(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The given embassy fields cleaned, and what is wrong with them (by field)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in ("name", "city"):
        if field in data:
            text = _clean_text(data[field])
            if not text:
                errors[field] = _("Required.")
            elif len(text) > _MAX_LENGTH[field]:
                errors[field] = _("At most %(n)s characters.", n=_MAX_LENGTH[field])
            values[field] = text
    if "code" in data:
        code = _clean_text(data["code"]).upper()
        if not code:
            errors["code"] = _("Required.")
        elif not CODE_PATTERN.fullmatch(code):
            errors["code"] = _("Use 2 to 16 letters, digits or hyphens, without spaces.")
        values["code"] = code
    if "country" in data:
        country = _clean_text(data["country"]).upper()
        if not country:
            errors["country"] = _("Required.")
        elif not re.fullmatch(r"[A-Z]{2}", country):
            errors["country"] = _("A two-letter ISO 3166 country code (e.g. KE).")
        values["country"] = country
    if "timezone" in data:
        zone = _clean_text(data["timezone"])
        if not zone:
            errors["timezone"] = _("Required.")
        elif not is_embassy_zone(zone):
            errors["timezone"] = _("Not a known IANA time zone (e.g. Africa/Nairobi).")
        values["timezone"] = zone
    if "accredited" in data:
        raw = data["accredited"]
        if raw is None:
            raw = []
        if isinstance(raw, str) or not all(isinstance(c, str) for c in raw):
            errors["accredited"] = _("A list of two-letter country codes.")
        else:
            codes = {_clean_text(c).upper() for c in raw} - {""}
            bad = sorted(c for c in codes if not re.fullmatch(r"[A-Z]{2}", c))
            if bad:
                errors["accredited"] = _(
                    "Unknown country codes: %(codes)s.", codes=", ".join(bad[:10])
                )
            values["accredited"] = codes
    return values, errors
