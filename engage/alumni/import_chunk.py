"""One chunk of an import: rows matched to profiles, compared, and written in bulk.

::

    run = ImportRun(settings=settings, user=staff_user, write=True, now=utcnow())
    await run.load_courses()
    async with in_transaction() as conn:
        await apply_chunk(rows[0:200], run, report, conn)   # report counts them

The rules (matching, the import rule, training, ranks) are those of
:mod:`engage.alumni.importer`. With ``write=False`` (a dry run) the same reads
decide the same counts and nothing is written: new courses get placeholder ids and
unmapped ranks are noted, not queued.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.accounts.models import User
from engage.accounts.users import email_key
from engage.alumni.grades import (
    grade_for,
    grade_level,
    rank_key,
    refresh_current_grade,
    table_grade,
)
from engage.alumni.import_jobs import ImportReport
from engage.alumni.import_rows import CourseRef, ImportRow, RowRejection, course_key
from engage.alumni.imports import (
    IMPORT_CONTACT_FIELDS,
    ROSTER_FIELDS,
    ImportedRecord,
    ImportedTraining,
    apply_imported_record,
)
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    CareerSource,
    Course,
    ErasedIdentity,
    RankMapping,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import refresh_search_tokens, search_key
from engage.alumni.profiles import NAME_FIELDS
from engage.alumni.rights import email_hash
from engage.i18n import _
from engage.settings import Settings

#: Where the consents of an imported profile come from.
SOURCE_IMPORTED = "imported"


@dataclass
class ImportRun:
    """What stays the same across the chunks of one run."""

    settings: Settings
    user: User | None
    write: bool
    now: datetime
    #: Course key -> id (negative for courses a dry run would add).
    courses: dict[tuple[str, str], int] = field(default_factory=dict)
    new_courses: set[tuple[str, str]] = field(default_factory=set)
    #: (country, service, rank key) -> grade ("" when unmapped).
    grades: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: Unmapped ranks seen, as shown in the report (an ordered set).
    queued: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: Profile id -> the line that matched it first (a second row is rejected).
    profiles: dict[int, int] = field(default_factory=dict)

    @property
    def queued_ranks(self) -> list[str]:
        return list(self.queued.values())

    def remember_queued(self, labels: list[str]) -> None:
        """Ranks an earlier run of the job queued ("KE army: Field Bishop")."""
        for label in labels:
            head, _sep, rank = label.partition(": ")
            country, _sep, service = head.partition(" ")
            self.queued.setdefault((country, service, rank_key(rank)), label)

    async def load_courses(self) -> None:
        for pk, title, school in await Course.all().values_list("id", "title", "school"):
            self.courses.setdefault(course_key(title, school), pk)

    async def grade(self, country: str, service: Service | str, rank: str) -> str:
        key = (country, str(service), rank_key(rank))
        if key not in self.grades:
            if self.write:
                grade = await grade_for(country, service, rank)
            else:
                # Read-only: what grade_for would answer, without queueing.
                decided = await RankMapping.get_or_none(
                    country_id=country, service=service, rank_key=key[2]
                )
                grade = decided.grade if decided is not None and decided.grade else ""
                grade = grade or table_grade(country, service, rank)
            self.grades[key] = grade
        grade = self.grades[key]
        if not grade:
            # Shown as first written; "Field  bishop" is the same rank.
            self.queued.setdefault(key, f"{country} {service}: {rank}")
        return grade


@dataclass
class _Existing:
    """What a row would change on the profile it matched."""

    alumnus: Alumnus
    row: ImportRow
    record: ImportedRecord
    changes_profile: bool
    kept: bool
    conflicts: list[str]
    new_career: bool


async def apply_chunk(
    rows: list[ImportRow | RowRejection],
    run: ImportRun,
    report: ImportReport,
    conn: BaseDBAsyncClient | None = None,
) -> None:
    """Plan (and, when ``run.write``, apply inside ``conn``'s transaction) one chunk of
    rows; ``report`` counts them."""
    valid: list[ImportRow] = []
    for item in rows:
        if isinstance(item, RowRejection):
            report.rejected.append((item.line, item.reason))
        else:
            valid.append(item)
    rejected: dict[int, str] = {}
    matched, holders = await _match(valid, run, rejected, conn)
    new_rows = [r for r in valid if r.line not in matched and r.line not in rejected]
    await _check_erased(new_rows, run.settings, rejected, conn)
    new_rows = [r for r in new_rows if r.line not in rejected]
    await _resolve_courses([r for r in valid if r.line not in rejected], run, conn)
    existing = await _compare(
        [(r, matched[r.line]) for r in valid if r.line in matched and r.line not in rejected],
        run,
        holders,
        conn,
    )
    for row in valid:
        if row.line in rejected:
            report.rejected.append((row.line, rejected[row.line]))
    report.rejected.sort()
    report.created += len(new_rows)
    for item in existing:
        if item.changes_profile or item.new_career:
            report.updated += 1
        else:
            report.unchanged += 1
        report.kept_contact += int(item.kept)
        report.conflicts.extend((item.row.line, text) for text in item.conflicts)
    if not run.write:
        for row in new_rows:
            if row.rank:
                await run.grade(row.fields["country"], _service(row), row.rank)
        return
    assert conn is not None
    await _create(new_rows, run, conn)
    await _update(existing, run, conn)


def _service(row: ImportRow, alumnus: Alumnus | None = None) -> Service:
    if "service" in row.fields:
        return Service(row.fields["service"])
    return Service(alumnus.service) if alumnus is not None else Service.OTHER


async def _by_keys(
    programme_ids: list[str], keys: list[str], conn: BaseDBAsyncClient | None
) -> list[Alumnus]:
    """Profiles with any of these programme IDs or email keys.

    Two queries, each on its unique index: PostgreSQL plans ``a IN (...) OR b IN
    (...)`` with bound parameters as a scan of the whole table.
    """
    found: dict[int, Alumnus] = {}
    for name, values in (("programme_id__in", programme_ids), ("email_key__in", keys)):
        if values:
            for alumnus in await Alumnus.filter(**{name: values}).using_db(conn):
                found.setdefault(alumnus.id, alumnus)
    return list(found.values())


async def _match(
    rows: list[ImportRow], run: ImportRun, rejected: dict[int, str], conn: BaseDBAsyncClient | None
) -> tuple[dict[int, Alumnus], dict[str, int]]:
    """The profile each row matches (by line), conflicts and erased ones rejected; and
    which profile holds each of the rows' emails ("email:<key>") and programme IDs."""
    found = await _by_keys(
        [r.programme_id for r in rows if r.programme_id],
        [r.email_key for r in rows if r.email_key],
        conn,
    )
    by_programme_id = {a.programme_id: a for a in found if a.programme_id}
    by_email = {a.email_key: a for a in found if a.email_key}
    holders = {f"programme_id:{k}": a.id for k, a in by_programme_id.items()}
    holders.update({f"email:{k}": a.id for k, a in by_email.items()})
    survivors = await _survivors(found, conn)
    matched: dict[int, Alumnus] = {}
    for row in rows:
        alumnus = by_programme_id.get(row.programme_id) if row.programme_id else None
        if alumnus is None and row.email_key:
            alumnus = by_email.get(row.email_key)
            if (
                alumnus is not None
                and row.programme_id
                and alumnus.programme_id
                and alumnus.programme_id != row.programme_id
            ):
                rejected[row.line] = _(
                    "The email address belongs to another profile, with programme ID %(other)s.",
                    other=alumnus.programme_id,
                )
                continue
        if alumnus is None:
            continue
        alumnus = survivors.get(alumnus.id, alumnus)
        if alumnus.erased_at is not None:
            rejected[row.line] = _(
                "This person's data was erased at their request; the import does not change it."
            )
            continue
        first = run.profiles.setdefault(alumnus.id, row.line)
        if first != row.line:
            rejected[row.line] = _("Matches the same profile as line %(line)s.", line=first)
            continue
        matched[row.line] = alumnus
    return matched, holders


async def _survivors(found: list[Alumnus], conn: BaseDBAsyncClient | None) -> dict[int, Alumnus]:
    """Merged profiles -> the profile they were (finally) merged into."""
    survivors: dict[int, Alumnus] = {}
    pending = {a.id: a.merged_into_id for a in found if a.merged_into_id}  # type: ignore[attr-defined]
    loaded: dict[int, Alumnus] = {a.id: a for a in found}
    for _depth in range(10):
        missing = [pk for pk in pending.values() if pk not in loaded]
        if missing:
            for alumnus in await Alumnus.filter(id__in=missing).using_db(conn):
                loaded[alumnus.id] = alumnus
        settled = True
        for source, target in list(pending.items()):
            target_row = loaded.get(target)
            if target_row is None:
                pending.pop(source)
                continue
            if target_row.merged_into_id is not None:  # type: ignore[attr-defined]
                pending[source] = target_row.merged_into_id  # type: ignore[attr-defined]
                settled = False
            else:
                survivors[source] = target_row
                pending.pop(source)
        if settled and not pending:
            break
    return survivors


async def _check_erased(
    rows: list[ImportRow], settings: Settings, rejected: dict[int, str], conn: Any
) -> None:
    """New profiles whose email belongs to an erased person are not created."""
    hashes = {
        email_hash(r.fields["email"], settings): r.line for r in rows if r.fields.get("email")
    }
    if not hashes:
        return
    erased = await (
        ErasedIdentity.filter(email_hash__in=list(hashes))
        .using_db(conn)
        .values_list("email_hash", flat=True)
    )
    for digest in erased:
        rejected[hashes[str(digest)]] = _(
            "This person asked for their data to be erased; they are not added again."
        )


async def _resolve_courses(rows: list[ImportRow], run: ImportRun, conn: Any) -> None:
    """Each course of the rows gets an id: found, added (or, in a dry run, noted)."""
    missing: dict[tuple[str, str], CourseRef] = {}
    for row in rows:
        if row.course is not None and row.course.key not in run.courses:
            missing.setdefault(row.course.key, row.course)
    if not missing:
        return
    if not run.write:
        for n, key in enumerate(missing, start=len(run.new_courses) + 1):
            run.courses[key] = -n
            run.new_courses.add(key)
        return
    await Course.bulk_create(
        [Course(title=c.title, school=c.school, category=c.category) for c in missing.values()],
        ignore_conflicts=True,
        using_db=conn,
    )
    titles = sorted({c.title for c in missing.values()})
    for pk, title, school in (
        await Course.filter(title__in=titles).using_db(conn).values_list("id", "title", "school")
    ):
        key = course_key(title, school)
        if key in missing and key not in run.courses:
            run.courses[key] = pk
            run.new_courses.add(key)
    for key, ref in missing.items():
        if key not in run.courses:  # same title and school in another case, made elsewhere
            course = await Course.filter(title=ref.title, school=ref.school).using_db(conn).first()
            if course is not None:
                run.courses[key] = course.id


def _imported_training(
    row: ImportRow, run: ImportRun, records: list[TrainingRecord]
) -> ImportedTraining | None:
    if row.course is None or row.training is None:
        return None
    course_id = run.courses[row.course.key]
    year = row.training.class_year
    if year is None:
        # No class year given: the record of that course the profile has is the one
        # (so a second import does not add another).
        year = next((t.class_year for t in records if t.course_id == course_id), None)  # type: ignore[attr-defined]
    return ImportedTraining(
        course_id=course_id,
        class_year=year,
        start_date=row.training.start_date,
        end_date=row.training.end_date,
        funding_type=row.training.funding_type,
        graduated=row.training.graduated,
    )


async def _compare(
    pairs: list[tuple[ImportRow, Alumnus]], run: ImportRun, holders: dict[str, int], conn: Any
) -> list[_Existing]:
    """What each matched row would change (the rule of engage.alumni.imports)."""
    if not pairs:
        return []
    ids = list({a.id for _row, a in pairs})
    training: dict[int, list[TrainingRecord]] = defaultdict(list)
    for item in await TrainingRecord.filter(alumnus_id__in=ids).using_db(conn).order_by("id"):
        training[item.alumnus_id].append(item)  # type: ignore[attr-defined]
    career: dict[int, list[CareerEntry]] = defaultdict(list)
    for entry in await CareerEntry.filter(alumnus_id__in=ids).using_db(conn):
        career[entry.alumnus_id].append(entry)  # type: ignore[attr-defined]
    compared = []
    for row, alumnus in pairs:
        imported = _imported_training(row, run, training[alumnus.id])
        record = ImportedRecord(fields=row.fields, training=[imported] if imported else [])
        changed, kept, conflicts = _field_changes(alumnus, row.fields, holders)
        changes_training = imported is not None and _training_changes(
            imported, training[alumnus.id]
        )
        new_career = bool(row.rank) and not any(
            rank_key(e.rank) == rank_key(row.rank)
            and (row.rank_date is None or e.effective_date == row.rank_date)
            for e in career[alumnus.id]
        )
        compared.append(
            _Existing(
                alumnus=alumnus,
                row=row,
                record=record,
                changes_profile=bool(changed)
                or changes_training
                or alumnus.vetting == Vetting.PENDING,
                kept=bool(kept),
                conflicts=conflicts,
                new_career=new_career,
            )
        )
        if new_career:
            # A later row of the chunk for the same person sees this entry.
            career[alumnus.id].append(
                CareerEntry(rank=row.rank, effective_date=row.rank_date or run.now.date())
            )
    return compared


def _field_changes(
    alumnus: Alumnus, fields: dict[str, Any], holders: dict[str, int]
) -> tuple[list[str], list[str], list[str]]:
    """The fields the import rule would change, keep (the alumnus's), and refuse."""
    changed: list[str] = []
    kept: list[str] = []
    conflicts: list[str] = []
    edited = alumnus.contact_edited_at is not None
    for name, value in fields.items():
        if name not in (*ROSTER_FIELDS, *IMPORT_CONTACT_FIELDS):
            continue
        current = alumnus.country_id if name == "country" else getattr(alumnus, name)  # type: ignore[attr-defined]
        if name == "email":
            if current and email_key(current) == email_key(value):
                continue
        elif current == value or str(current) == str(value):
            continue
        if name in IMPORT_CONTACT_FIELDS and edited:
            kept.append(name)
            continue
        holder_key = f"email:{email_key(value)}" if name == "email" else f"{name}:{value}"
        holder = holders.get(holder_key)
        if name in ("email", "programme_id") and holder is not None and holder != alumnus.id:
            conflicts.append(_("%(column)s not changed: another profile has it.", column=name))
            continue
        changed.append(name)
    return changed, kept, conflicts


def _training_changes(imported: ImportedTraining, records: list[TrainingRecord]) -> bool:
    """Whether applying the training would add a record or change one."""
    same_course = [t for t in records if t.course_id == imported.course_id]  # type: ignore[attr-defined]
    match = next((t for t in same_course if t.class_year == imported.class_year), None)
    if match is None and imported.class_year is not None:
        match = next((t for t in same_course if t.class_year is None), None)
    if match is None:
        return True
    values: dict[str, Any] = {
        "class_year": imported.class_year,
        "start_date": imported.start_date,
        "end_date": imported.end_date,
        "funding_type": imported.funding_type,
        "graduated": imported.graduated,
    }
    return any(
        value not in (None, "") and getattr(match, name) != value for name, value in values.items()
    )


# --- Writing ----------------------------------------------------------------------------


async def _create(rows: list[ImportRow], run: ImportRun, conn: BaseDBAsyncClient) -> None:
    """New profiles, their training records and first career entries, in bulk."""
    if not rows:
        return
    profiles = []
    for row in rows:
        profile = _new_profile(row, run)
        if row.rank:
            grade = await run.grade(profile.country_id, profile.service, row.rank)  # type: ignore[attr-defined]
            profile.rank, profile.grade, profile.grade_level = row.rank, grade, grade_level(grade)
        profiles.append(profile)
    await Alumnus.bulk_create(profiles, using_db=conn)
    # Bulk inserts do not return ids: read them back by the unique keys.
    ids: dict[str, int] = {}
    programme_ids = [r.programme_id for r in rows if r.programme_id]
    if programme_ids:
        for pk, programme_id in (
            await Alumnus.filter(programme_id__in=programme_ids)
            .using_db(conn)
            .values_list("id", "programme_id")
        ):
            ids[f"p:{programme_id}"] = pk
    # Rows without a programme ID are found by their email (unique too).
    keys = [r.email_key for r in rows if not r.programme_id and r.email_key]
    if keys:
        for pk, key in (
            await Alumnus.filter(email_key__in=keys).using_db(conn).values_list("id", "email_key")
        ):
            ids[f"e:{key}"] = pk
    training: list[TrainingRecord] = []
    career: list[CareerEntry] = []
    for row, profile in zip(rows, profiles, strict=True):
        pk = ids[f"p:{row.programme_id}"] if row.programme_id else ids[f"e:{row.email_key}"]
        profile.id = pk
        imported = _imported_training(row, run, [])
        if imported is not None:
            training.append(
                TrainingRecord(
                    alumnus_id=pk,
                    course_id=imported.course_id,
                    class_year=imported.class_year,
                    start_date=imported.start_date,
                    end_date=imported.end_date,
                    funding_type=imported.funding_type,
                    graduated=True if imported.graduated is None else imported.graduated,
                )
            )
        if row.rank:
            career.append(
                CareerEntry(
                    alumnus_id=pk,
                    rank=row.rank,
                    grade=profile.grade,
                    position=profile.position,
                    effective_date=row.rank_date or run.now.date(),
                    source=CareerSource.STAFF_VERIFIED,
                    created_by=run.user,
                    created_at=run.now,
                )
            )
    if training:
        await TrainingRecord.bulk_create(training, using_db=conn)
    if career:
        await CareerEntry.bulk_create(career, using_db=conn)
    await refresh_search_tokens([p.id for p in profiles], using_db=conn)


def _new_profile(row: ImportRow, run: ImportRun) -> Alumnus:
    values = dict(row.fields)
    names = {name: values.pop(name, "") for name in (*NAME_FIELDS, "preferred_name")}
    email = values.pop("email", None)
    profile = Alumnus(
        **names,
        search_key=search_key(*names.values()),
        email=email,
        email_key=email_key(email) if email else None,
        country_id=values.pop("country"),
        language=values.pop("language", run.settings.app.default_language),
        vetting=Vetting.CONFIRMED,
        confirmed_by=run.user,
        confirmed_at=run.now,
        accepts_invitations=True,
        invitations_consent_at=run.now,
        invitations_consent_source=SOURCE_IMPORTED,
        accepts_newsletter=True,
        newsletter_consent_at=run.now,
        newsletter_consent_source=SOURCE_IMPORTED,
        created_at=run.now,
        updated_at=run.now,
        **values,
    )
    return profile


async def _update(items: Iterable[_Existing], run: ImportRun, conn: BaseDBAsyncClient) -> None:
    """Apply the matched rows that change something (the import rule)."""
    renamed: list[int] = []
    for item in items:
        alumnus = item.alumnus
        if item.changes_profile:
            outcome = await apply_imported_record(alumnus, item.record, by=run.user, now=run.now)
            if set(outcome.changed) & {*NAME_FIELDS, "preferred_name"}:
                renamed.append(alumnus.id)
            if set(outcome.changed) & {"country", "service"}:
                await _regrade(alumnus, run, conn)
        if item.new_career:
            row = item.row
            grade = await run.grade(alumnus.country_id, alumnus.service, row.rank)  # type: ignore[attr-defined]
            await CareerEntry.create(
                alumnus_id=alumnus.id,
                rank=row.rank,
                grade=grade,
                position=str(row.fields.get("position", "")),
                effective_date=row.rank_date or run.now.date(),
                source=CareerSource.STAFF_VERIFIED,
                created_by=run.user,
                using_db=conn,
            )
            await refresh_current_grade(alumnus.id, using_db=conn)
    if renamed:
        await refresh_search_tokens(renamed, using_db=conn)


async def _regrade(alumnus: Alumnus, run: ImportRun, conn: BaseDBAsyncClient) -> None:
    """After the roster changed a profile's country or service, its ranks are graded
    by that country's and service's table."""
    for entry in await CareerEntry.filter(alumnus_id=alumnus.id).using_db(conn):
        grade = await run.grade(alumnus.country_id, alumnus.service, entry.rank)  # type: ignore[attr-defined]
        if grade != entry.grade:
            await CareerEntry.filter(id=entry.id).using_db(conn).update(grade=grade)
    await refresh_current_grade(alumnus.id, using_db=conn)
