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

**Chunks and resuming.** Rows are applied :data:`CHUNK_ROWS` at a time (fewer when
a chunk takes longer than :data:`CHUNK_SECONDS`, as updates do), each chunk
in one transaction together with the job's checkpoint (``ImportJob.next_row`` and
the counts), claimed with a conditional update so two runs of one job never apply
a chunk twice. A crash leaves every chunk applied or not; importing the same file
(same SHA-256) again resumes its unfinished job and completes it. Between chunks the
event loop serves other requests. A dry run reads the same way and writes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import pycountry
from tortoise import connections
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.csv_format import ParsedFile, read_csv
from engage.alumni.import_chunk import ImportRun, apply_chunk
from engage.alumni.import_jobs import ImportReport, job_report, report_data
from engage.alumni.import_rows import (
    ImportRow,
    RowChecker,
    RowRejection,
    check_rows,
    country_key,
)
from engage.alumni.models import ImportJob, ImportStatus
from engage.clock import utcnow
from engage.places.models import Country
from engage.settings import Settings

__all__ = [
    "AUDIT_ACTION",
    "CHUNK_ROWS",
    "ImportReport",
    "PreparedImport",
    "apply_import",
    "country_names",
    "file_hash",
    "prepare_import",
    "preview_import",
    "run_import",
]

#: Rows per transaction at most: on SQLite a chunk of new profiles takes a few tens
#: of milliseconds, so no request waits long for the write lock.
CHUNK_ROWS = 200
#: Chunks are made smaller when they take longer than this (rows that update
#: profiles cost more than new ones), down to MIN_CHUNK_ROWS.
CHUNK_SECONDS = 0.15
MIN_CHUNK_ROWS = 20
AUDIT_ACTION = "alumni.import"

#: ``progress(rows_done, total_rows)``, called after each chunk.
Progress = Callable[[int, int], object]


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
    run = ImportRun(settings=settings, user=None, write=False, now=utcnow())
    await run.load_courses()
    report = ImportReport(
        dry_run=True,
        total_rows=len(rows),
        unknown_columns=list(parsed.unknown_columns),
        file_hash=file_hash(data),
        filename=filename,
    )
    for start in range(0, len(rows), CHUNK_ROWS):
        await apply_chunk(rows[start : start + CHUNK_ROWS], run, report)
        report.rows_done = min(start + CHUNK_ROWS, len(rows))
        if progress is not None:
            progress(report.rows_done, len(rows))
        await asyncio.sleep(0)
    report.status = ImportStatus.DONE.value
    report.queued_ranks = run.queued_ranks
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
    run = ImportRun(settings=prepared.settings, user=user, write=True, now=utcnow())
    await run.load_courses()
    run.remember_queued(report.queued_ranks)
    rows = prepared.rows
    if progress is not None:
        progress(job.next_row, len(rows))
    position = job.next_row
    # Small at first; grows to CHUNK_ROWS after the first chunk when rows are quick.
    size = min(MIN_CHUNK_ROWS, CHUNK_ROWS)
    try:
        while position < len(rows):
            end = min(position + size, len(rows))
            started = time.perf_counter()
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
                await apply_chunk(rows[position:end], run, report, conn)
                report.queued_ranks = run.queued_ranks
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
                        report=report_data(report),
                    )
                )
            position = end
            report.rows_done = end
            size = _next_size(size, time.perf_counter() - started)
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
    final = job_report(await ImportJob.get(id=job.id))
    final.resumed_from = report.resumed_from
    if finished and final.created + final.updated >= _ANALYZE_AFTER_ROWS:
        await _refresh_statistics()
    return final


#: After this many written rows PostgreSQL's planner statistics are refreshed at once
#: (autovacuum would, a minute later; name search plans badly without them).
_ANALYZE_AFTER_ROWS = 1000


async def _refresh_statistics() -> None:
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(
            "ANALYZE alumni_alumnus, alumni_search_token, alumni_training, alumni_career"
        )


def _next_size(size: int, elapsed: float) -> int:
    """The next chunk's rows: as many as fit in CHUNK_SECONDS at this chunk's pace."""
    fitting = int(size * CHUNK_SECONDS / max(elapsed, 0.001))
    return max(min(MIN_CHUNK_ROWS, CHUNK_ROWS), min(CHUNK_ROWS, fitting))


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
    checker = RowChecker(
        country_codes=await country_names(),
        funding_types=settings.programme.funding_types,
        today=utcnow().date(),
    )

    def work() -> tuple[ParsedFile, list[ImportRow | RowRejection]]:
        parsed = read_csv(data)
        return parsed, check_rows(parsed.rows, checker)

    # Reading and checking a large file takes a while: not on the event loop, which
    # goes on serving requests meanwhile.
    return await asyncio.to_thread(work)


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
