"""CSV import of alumni: match each row to a profile, create or update it, in chunks
that a crash leaves either applied or not.

::

    report = await run_import(data, actor=staff, settings=settings, dry_run=True)
    report.created, report.updated, report.unchanged      # what a real run would do
    report.rejected                                        # [(7, "Bad email address.")]
    report = await run_import(data, actor=None, settings=settings, dry_run=False,
                              progress=lambda done, total: ...)   # None: the system (CLI)

    prepared = await prepare_import(data, actor=staff, settings=settings)  # the job, at once
    report = await apply_import(prepared)                  # e.g. in a background task

**Matching.** A row matches the profile with its programme ID; without a programme
ID (or when none has it) the profile with its email (case-insensitive). A profile
found by email that has another programme ID is not that person: the row is
rejected. A merged profile leads to the one it was merged into; an erased one
rejects the row.

**An existing profile** follows the import rule of :mod:`engage.alumni.imports`
(the alumnus's edited contact details win, the import's training data wins). Each
row is compared with the profile first: a row that would change nothing leaves the
profile untouched and counts as *unchanged*, so importing the same file twice
changes nothing the second time.

**A new profile** is confirmed, with both consents given (source "imported"),
unless an erased person had its email (:func:`engage.alumni.rights.is_erased`):
that row is rejected.

**Training**: the course is found by title and school (case-insensitive) or added
to the catalogue; the record is added once (a record of that course and class year
is updated, never doubled). **Rank**: a staff-verified career entry (once per rank
and date), graded from the rank tables; a rank no table knows joins the mapping
queue at ``/admin/ranks`` and the row is still imported.

**Chunks and resuming.** Rows are applied :data:`CHUNK_ROWS` at a time, each chunk
in one transaction together with the job's checkpoint (``ImportJob.next_row`` and
the counts), claimed with a conditional update so two runs of one job never apply
a chunk twice. A crash leaves every chunk applied or not; importing the same file
(same SHA-256) again resumes its unfinished job and completes it. Between chunks the
event loop serves other requests. A dry run reads the same way and writes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pycountry
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role, User
from engage.accounts.users import email_key
from engage.alumni.csv_format import ParsedFile, read_csv
from engage.alumni.grades import (
    grade_for,
    grade_level,
    rank_key,
    refresh_current_grade,
    table_grade,
)
from engage.alumni.import_rows import (
    CourseRef,
    ImportRow,
    RowChecker,
    RowRejection,
    check_rows,
    country_key,
    course_key,
)
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
    ImportJob,
    ImportStatus,
    RankMapping,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import refresh_search_tokens, search_key
from engage.alumni.profiles import NAME_FIELDS, parse_id
from engage.alumni.rights import email_hash
from engage.clock import utcnow
from engage.errors import NotFound
from engage.i18n import _
from engage.places.models import Country
from engage.settings import Settings

#: Rows per transaction: on SQLite a chunk of new profiles takes a few tens of
#: milliseconds, so no request waits long for the write lock.
CHUNK_ROWS = 200
#: Where the consents of an imported profile come from.
SOURCE_IMPORTED = "imported"
AUDIT_ACTION = "alumni.import"

#: ``progress(rows_done, total_rows)``, called after each chunk.
Progress = Callable[[int, int], object]


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: (line, reason) of each rejected row, in file order.
    rejected: list[tuple[int, str]] = field(default_factory=list)
    #: Ranks no table knows, waiting at /admin/ranks ("KE army: Field Bishop").
    queued_ranks: list[str] = field(default_factory=list)
    job_id: int | None = None
    total_rows: int = 0
    dry_run: bool = False
    status: str = ImportStatus.RUNNING.value
    unknown_columns: list[str] = field(default_factory=list)
    #: Courses added to the catalogue.
    courses_created: int = 0
    #: (line, what was not applied): a value another profile holds.
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    #: Rows whose profile kept the alumnus's own contact details over the file's.
    kept_contact: int = 0
    #: Rows already applied when this run started (a resumed job).
    resumed_from: int = 0
    #: Rows applied so far (all of them once done).
    rows_done: int = 0
    error: str = ""
    file_hash: str = ""
    filename: str = ""

    @property
    def done(self) -> bool:
        return self.status == ImportStatus.DONE.value

    def counts(self) -> dict[str, int]:
        """The counts (what the audit log keeps)."""
        return {
            "rows": self.total_rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
        }


@dataclass(frozen=True)
class PreparedImport:
    """A parsed file with its job (new, or an unfinished one resumed)."""

    job_id: int
    rows: list[ImportRow | RowRejection]
    parsed: ParsedFile
    actor: Actor | None
    settings: Settings


class _Superseded(Exception):
    """Another run of the same job applied this chunk first."""


# --- Entry points -----------------------------------------------------------------------


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def run_import(
    data: bytes,
    *,
    actor: Actor | None,
    settings: Settings,
    dry_run: bool,
    filename: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV file (bytes) by the rules of the module doc.

    ``actor`` is staff, or None for the system (``engage import``). Raises
    ImportFileError (engage.alumni.csv_format) when the file cannot be read at all.
    """
    if dry_run:
        return await preview_import(
            data, actor=actor, settings=settings, filename=filename, progress=progress
        )
    prepared = await prepare_import(data, actor=actor, settings=settings, filename=filename)
    return await apply_import(prepared, progress=progress)


async def preview_import(
    data: bytes,
    *,
    actor: Actor | None,
    settings: Settings,
    filename: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """The dry run: the report a real import would give now, writing nothing."""
    _check_actor(actor)
    parsed, rows = await _parse(data, settings)
    run = _Run(settings=settings, user=None, write=False, now=utcnow())
    await run.load_courses()
    report = ImportReport(
        dry_run=True,
        total_rows=len(rows),
        unknown_columns=list(parsed.unknown_columns),
        file_hash=file_hash(data),
        filename=filename,
    )
    for start in range(0, len(rows), CHUNK_ROWS):
        await _chunk(rows[start : start + CHUNK_ROWS], run, report)
        report.rows_done = min(start + CHUNK_ROWS, len(rows))
        if progress is not None:
            progress(report.rows_done, len(rows))
        await asyncio.sleep(0)
    report.status = ImportStatus.DONE.value
    report.queued_ranks = list(run.queued)
    report.courses_created = len(run.new_courses)
    return report


async def prepare_import(
    data: bytes, *, actor: Actor | None, settings: Settings, filename: str = ""
) -> PreparedImport:
    """Parse the file and open its job: the unfinished job of the same file (resumed
    from its checkpoint), or a new one. Raises ImportFileError."""
    _check_actor(actor)
    parsed, rows = await _parse(data, settings)
    digest = file_hash(data)
    job = (
        await ImportJob.filter(
            file_hash=digest, status__in=[ImportStatus.RUNNING, ImportStatus.FAILED]
        )
        .order_by("-id")
        .first()
    )
    if job is None or job.total_rows != len(rows):
        job = await ImportJob.create(
            file_hash=digest,
            filename=filename[:255],
            created_by=actor.user if actor is not None else None,
            total_rows=len(rows),
            report={"unknown_columns": list(parsed.unknown_columns)},
        )
    elif job.status == ImportStatus.FAILED:
        await ImportJob.filter(id=job.id, status=ImportStatus.FAILED).update(
            status=ImportStatus.RUNNING
        )
    return PreparedImport(job_id=job.id, rows=rows, parsed=parsed, actor=actor, settings=settings)


async def apply_import(
    prepared: PreparedImport, *, progress: Progress | None = None
) -> ImportReport:
    """Apply the job's remaining chunks, each with its checkpoint; then close the job
    and audit-log its counts. Another run taking over the job stops this one."""
    job = await ImportJob.get(id=prepared.job_id)
    report = job_report(job)
    report.resumed_from = job.next_row
    if job.status == ImportStatus.DONE:
        return report
    user = prepared.actor.user if prepared.actor is not None else None
    run = _Run(settings=prepared.settings, user=user, write=True, now=utcnow())
    await run.load_courses()
    run.queued.update(dict.fromkeys(report.queued_ranks))
    rows = prepared.rows
    if progress is not None:
        progress(job.next_row, len(rows))
    position = job.next_row
    try:
        while position < len(rows):
            end = min(position + CHUNK_ROWS, len(rows))
            async with in_transaction() as conn:
                claimed = (
                    await ImportJob.filter(
                        id=job.id, next_row=position, status=ImportStatus.RUNNING
                    )
                    .using_db(conn)
                    .update(next_row=end)
                )
                if not claimed:
                    raise _Superseded
                await _chunk(rows[position:end], run, report, conn)
                report.queued_ranks = list(run.queued)
                report.courses_created += len(run.new_courses)
                run.new_courses.clear()
                await (
                    ImportJob.filter(id=job.id)
                    .using_db(conn)
                    .update(
                        created=report.created,
                        updated=report.updated,
                        unchanged=report.unchanged,
                        rejected=len(report.rejected),
                        report=_report_data(report),
                    )
                )
            position = end
            report.rows_done = end
            if progress is not None:
                progress(end, len(rows))
            # Let other requests in between chunks (one writer on SQLite).
            await asyncio.sleep(0)
    except _Superseded:
        return job_report(await ImportJob.get(id=job.id))
    except BaseException as exc:
        await _fail(job.id, exc)
        raise
    async with in_transaction() as conn:
        finished = (
            await ImportJob.filter(id=job.id, status=ImportStatus.RUNNING)
            .using_db(conn)
            .update(status=ImportStatus.DONE, finished_at=utcnow())
        )
        if finished:
            await record(
                AUDIT_ACTION,
                actor=user,
                target=("import_job", job.id),
                # Counts only: the rows are personal data the audit log outlives.
                details={**report.counts(), "by": "staff" if user is not None else "system"},
                using_db=conn,
            )
    return job_report(await ImportJob.get(id=job.id))


# --- Jobs -------------------------------------------------------------------------------


async def list_import_jobs(*, actor: Actor, limit: int = 20) -> list[ImportJob]:
    """The latest imports, newest first (staff)."""
    require_role(actor, Role.STAFF)
    return await ImportJob.all().select_related("created_by").order_by("-id").limit(limit)


async def get_import_job(job_id: object, *, actor: Actor) -> ImportJob:
    require_role(actor, Role.STAFF)
    pk = parse_id(job_id)
    job = None if pk is None else await ImportJob.get_or_none(id=pk)
    if job is None:
        raise NotFound(_("No such import."))
    return job


def job_report(job: ImportJob) -> ImportReport:
    """The report of a job as its checkpoint holds it."""
    data: dict[str, Any] = job.report or {}
    return ImportReport(
        created=job.created,
        updated=job.updated,
        unchanged=job.unchanged,
        rejected=[(int(line), str(reason)) for line, reason in data.get("rejected", [])],
        queued_ranks=list(data.get("queued_ranks", [])),
        job_id=job.id,
        total_rows=job.total_rows,
        status=str(job.status),
        unknown_columns=list(data.get("unknown_columns", [])),
        courses_created=int(data.get("courses_created", 0)),
        conflicts=[(int(line), str(text)) for line, text in data.get("conflicts", [])],
        kept_contact=int(data.get("kept_contact", 0)),
        rows_done=job.next_row,
        error=str(data.get("error", "")),
        file_hash=job.file_hash,
        filename=job.filename,
    )


def _report_data(report: ImportReport) -> dict[str, Any]:
    return {
        "rejected": [list(item) for item in report.rejected],
        "queued_ranks": report.queued_ranks,
        "unknown_columns": report.unknown_columns,
        "courses_created": report.courses_created,
        "conflicts": [list(item) for item in report.conflicts],
        "kept_contact": report.kept_contact,
    }


async def _fail(job_id: int, exc: BaseException) -> None:
    """Mark the job failed (a rerun of the file resumes it from its checkpoint)."""
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
        return  # stopped, not failed: it stays running, and resumable
    job = await ImportJob.get_or_none(id=job_id)
    if job is None:
        return
    report = dict(job.report or {})
    report["error"] = f"{type(exc).__name__}: {exc}"[:500]
    await ImportJob.filter(id=job_id, status=ImportStatus.RUNNING).update(
        status=ImportStatus.FAILED, report=report
    )


def _check_actor(actor: Actor | None) -> None:
    if actor is not None:
        require_role(actor, Role.STAFF)


async def _parse(
    data: bytes, settings: Settings
) -> tuple[ParsedFile, list[ImportRow | RowRejection]]:
    parsed = read_csv(data)
    checker = RowChecker(
        country_codes=await country_names(),
        funding_types=settings.programme.funding_types,
        today=utcnow().date(),
    )
    return parsed, check_rows(parsed.rows, checker)


async def country_names() -> dict[str, str]:
    """Folded ISO codes (alpha-2 and alpha-3) and English names -> alpha-2 code."""
    names: dict[str, str] = {}
    for code, alpha3, name in await Country.all().values_list("code", "alpha3", "name"):
        names[country_key(name)] = code
        entry = pycountry.countries.get(alpha_2=code)
        for other in ("alpha_3", "name", "official_name", "common_name"):
            value = getattr(entry, other, None) if entry is not None else None
            if value:
                names.setdefault(country_key(value), code)
        names[code.lower()] = code
        names[alpha3.lower()] = code
    return names


# --- One chunk --------------------------------------------------------------------------


@dataclass
class _Run:
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
    queued: dict[str, None] = field(default_factory=dict)
    #: Profile id -> the line that matched it first (a second row is rejected).
    profiles: dict[int, int] = field(default_factory=dict)

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
            self.queued.setdefault(f"{country} {service}: {rank}", None)
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


async def _chunk(
    rows: list[ImportRow | RowRejection],
    run: _Run,
    report: ImportReport,
    conn: BaseDBAsyncClient | None = None,
) -> None:
    """Plan (and, when writing, apply) one chunk of rows; the report counts them."""
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


def _by_keys(programme_ids: list[str], keys: list[str]) -> Q | None:
    """Profiles with any of these programme IDs or email keys (None: no key at all)."""
    query = Q(programme_id__in=programme_ids) if programme_ids else None
    if keys:
        query = query | Q(email_key__in=keys) if query is not None else Q(email_key__in=keys)
    return query


async def _match(
    rows: list[ImportRow], run: _Run, rejected: dict[int, str], conn: BaseDBAsyncClient | None
) -> tuple[dict[int, Alumnus], dict[str, int]]:
    """The profile each row matches (by line), conflicts and erased ones rejected; and
    which profile holds each of the rows' emails ("email:<key>") and programme IDs."""
    query = _by_keys(
        [r.programme_id for r in rows if r.programme_id], [r.email_key for r in rows if r.email_key]
    )
    found: list[Alumnus] = [] if query is None else await Alumnus.filter(query).using_db(conn)
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


async def _resolve_courses(rows: list[ImportRow], run: _Run, conn: Any) -> None:
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
    row: ImportRow, run: _Run, records: list[TrainingRecord]
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
    pairs: list[tuple[ImportRow, Alumnus]], run: _Run, holders: dict[str, int], conn: Any
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


async def _create(rows: list[ImportRow], run: _Run, conn: BaseDBAsyncClient) -> None:
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
    programme_ids = [r.programme_id for r in rows if r.programme_id]
    keys = [r.email_key for r in rows if r.email_key]
    ids: dict[str, int] = {}
    query = _by_keys(programme_ids, keys)
    assert query is not None  # every row has a programme ID or an email
    for pk, programme_id, key in (
        await Alumnus.filter(query).using_db(conn).values_list("id", "programme_id", "email_key")
    ):
        if programme_id:
            ids[f"p:{programme_id}"] = pk
        if key:
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


def _new_profile(row: ImportRow, run: _Run) -> Alumnus:
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


async def _update(items: Iterable[_Existing], run: _Run, conn: BaseDBAsyncClient) -> None:
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


async def _regrade(alumnus: Alumnus, run: _Run, conn: BaseDBAsyncClient) -> None:
    """After the roster changed a profile's country or service, its ranks are graded
    by that country's and service's table."""
    for entry in await CareerEntry.filter(alumnus_id=alumnus.id).using_db(conn):
        grade = await run.grade(alumnus.country_id, alumnus.service, entry.rank)  # type: ignore[attr-defined]
        if grade != entry.grade:
            await CareerEntry.filter(id=entry.id).using_db(conn).update(grade=grade)
    await refresh_current_grade(alumnus.id, using_db=conn)
