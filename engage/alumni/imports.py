"""When a roster import meets an existing profile: who wins, field by field.

::

    outcome = await apply_imported_record(
        person,
        ImportedRecord(
            fields={"phone": "+254 711 000 000", "family_name": "Wanjiru"},
            training=[ImportedTraining(course_id=7, class_year=2015, funding_type="IMET")],
        ),
        by=staff_user,
    )
    outcome.kept          # ["phone"]: the person edited their contact details
    outcome.changed       # ["family_name"]

The rule, applied to every import row that matched a profile:

- **Contact details** (preferred name, email, secondary email, phone, language, time
  zone, position, unit): once the alumnus has edited them (``contact_edited_at`` is
  set), **the alumnus's values win**: the import changes none of them, not even an
  empty one (the person may have removed a number on purpose); ``kept`` names those
  where the import said something else. A profile the person never edited takes the
  import's values.
- **Training** is the roster's: **the import's training data wins**. A record of the
  same course and class year (or of the same course with no class year yet) takes
  the import's dates, class year, funding and graduation; a record the profile lacks
  is added. Records the import does not mention stay: a file may cover one course.
- **Who the person is** on the roster (names and Latin spelling, country, service,
  programme ID, status) takes the import's values: the roster is the programme's
  record of who trained.
- **Never from an import**: consents (only the person gives them; staff withdraw them
  by hand), staff notes and "do not engage". Ranks are career entries, recorded by
  the importer through ``engage.alumni.career``.
- A **pending** profile the roster lists is confirmed, by whoever runs the import.
- An empty value never clears anything. A value another profile holds (email,
  programme ID) is not applied; ``conflicts`` names it for the import report.

Values in ``ImportedRecord.fields`` are already validated by the importer (the
profile rules of ``engage.alumni.profiles``); unknown names are ignored. A merged or
erased profile answers Conflict: the importer follows ``merged_into`` or skips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tortoise.transactions import in_transaction

from engage.accounts import audit
from engage.accounts.models import User
from engage.accounts.users import email_key
from engage.alumni.models import Alumnus, TrainingRecord, Vetting
from engage.alumni.names import search_key
from engage.alumni.profiles import CONTACT_FIELDS, NAME_FIELDS
from engage.clock import utcnow
from engage.errors import Conflict
from engage.i18n import _

#: Roster facts: the import's value wins.
ROSTER_FIELDS = (*NAME_FIELDS, "country", "service", "programme_id", "status")
#: The alumnus's once they edited their contact details.
IMPORT_CONTACT_FIELDS = CONTACT_FIELDS


@dataclass(frozen=True)
class ImportedTraining:
    """A training record from the roster (course resolved by the importer)."""

    course_id: int
    class_year: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    funding_type: str = ""
    #: None when the file does not say.
    graduated: bool | None = None


@dataclass(frozen=True)
class ImportedRecord:
    """One validated import row for one person."""

    #: Profile fields by name (``ROSTER_FIELDS`` and ``IMPORT_CONTACT_FIELDS``).
    fields: Mapping[str, Any] = field(default_factory=dict)
    training: Sequence[ImportedTraining] = ()


@dataclass
class ImportOutcome:
    """What the import did to one profile (for the import report)."""

    changed: list[str] = field(default_factory=list)
    #: Contact fields where the alumnus's own value was kept over the import's.
    kept: list[str] = field(default_factory=list)
    #: Fields not applied because another profile holds the value, with why.
    conflicts: dict[str, str] = field(default_factory=dict)
    training_added: int = 0
    training_updated: int = 0
    confirmed: bool = False


async def apply_imported_record(
    alumnus: Alumnus,
    record: ImportedRecord,
    *,
    by: User | None = None,
    now: datetime | None = None,
) -> ImportOutcome:
    """Apply one import row to a profile it matched, by the rule of the module doc."""
    if alumnus.merged_into_id is not None or alumnus.erased_at is not None:  # type: ignore[attr-defined]
        raise Conflict(_("This profile was merged or erased; an import does not change it."))
    now = now or utcnow()
    outcome = ImportOutcome()
    edited = alumnus.contact_edited_at is not None
    for name, value in record.fields.items():
        if _empty(value) or name not in (*ROSTER_FIELDS, *IMPORT_CONTACT_FIELDS):
            continue
        if _same(name, _current(alumnus, name), value):
            continue
        if name in IMPORT_CONTACT_FIELDS and edited:
            outcome.kept.append(name)
            continue
        if name == "email" and await _taken(email_key=email_key(value), alumnus=alumnus):
            outcome.conflicts[name] = _("Another profile has this email address.")
            continue
        if name == "programme_id" and await _taken(programme_id=value, alumnus=alumnus):
            outcome.conflicts[name] = _("Another profile has this programme ID.")
            continue
        _assign(alumnus, name, value)
        outcome.changed.append(name)
    if set(outcome.changed) & {*NAME_FIELDS, "preferred_name"}:
        alumnus.search_key = search_key(
            alumnus.given_name,
            alumnus.family_name,
            alumnus.given_name_latin,
            alumnus.family_name_latin,
            alumnus.preferred_name,
        )
    if alumnus.vetting == Vetting.PENDING:
        alumnus.vetting = Vetting.CONFIRMED
        alumnus.confirmed_by = by  # type: ignore[assignment]
        alumnus.confirmed_at = now
        outcome.confirmed = True
    async with in_transaction():
        if outcome.changed or outcome.confirmed:
            await alumnus.save()
        for training in record.training:
            if await _apply_training(alumnus.id, training):
                outcome.training_updated += 1
            else:
                outcome.training_added += 1
        await audit.record(
            "alumnus.import",
            actor=by,
            target=("alumnus", alumnus.id),
            # Field names only: values are personal data the audit log outlives.
            details={
                "fields": sorted(outcome.changed),
                "kept": sorted(outcome.kept),
                "training_added": outcome.training_added,
                "training_updated": outcome.training_updated,
                "confirmed": outcome.confirmed,
            },
        )
    return outcome


async def _apply_training(alumnus_id: int, imported: ImportedTraining) -> bool:
    """Update the matching record (True) or add one (False)."""
    existing = await TrainingRecord.filter(
        alumnus_id=alumnus_id, course_id=imported.course_id, class_year=imported.class_year
    ).first()
    if existing is None and imported.class_year is not None:
        existing = await TrainingRecord.filter(
            alumnus_id=alumnus_id, course_id=imported.course_id, class_year=None
        ).first()
    values: dict[str, Any] = {
        "class_year": imported.class_year,
        "start_date": imported.start_date,
        "end_date": imported.end_date,
        "funding_type": imported.funding_type,
    }
    if imported.graduated is not None:
        values["graduated"] = imported.graduated
    if existing is None:
        await TrainingRecord.create(alumnus_id=alumnus_id, course_id=imported.course_id, **values)
        return False
    # The roster wins, but an empty value never clears one.
    changes = {k: v for k, v in values.items() if not _empty(v)}
    if changes:
        await TrainingRecord.filter(id=existing.id).update(**changes)
    return True


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _current(alumnus: Alumnus, name: str) -> object:
    if name == "country":
        return alumnus.country_id  # type: ignore[attr-defined]
    return getattr(alumnus, name)


def _same(name: str, current: object, value: object) -> bool:
    if name in ("email", "secondary_email") and isinstance(value, str):
        return isinstance(current, str) and email_key(current) == email_key(value)
    return current == value or str(current) == str(value)


async def _taken(*, alumnus: Alumnus, **key: str) -> bool:
    return await Alumnus.filter(**key).exclude(id=alumnus.id).exists()


def _assign(alumnus: Alumnus, name: str, value: Any) -> None:
    if name == "country":
        alumnus.country_id = value  # type: ignore[attr-defined]
    elif name == "email":
        alumnus.email = value
        alumnus.email_key = email_key(value)
    elif name == "secondary_email":
        alumnus.secondary_email = value
        alumnus.secondary_verified_at = None
    else:
        setattr(alumnus, name, value)
