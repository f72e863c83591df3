"""Import jobs: their reports, the list staff see, and uploaded files kept between
the dry run and the confirmation.

::

    path = await store_upload(data, settings)      # <var_dir>/imports/<sha256>.csv
    data = await load_upload(digest, settings)     # NotFound when gone or malformed
    jobs = await list_import_jobs(actor=staff)
    report = job_report(await get_import_job(job_id, actor=staff))

An uploaded file is kept under its SHA-256, so the confirmation form carries only the
hash and the same file uploaded twice is stored once. The file stays after the
import (a rerun resumes an unfinished job from it); :func:`forget_upload` removes it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import Role
from engage.alumni.models import ImportJob, ImportStatus
from engage.alumni.profiles import parse_id
from engage.errors import NotFound
from engage.i18n import _
from engage.settings import Settings

_DIGEST = re.compile(r"[0-9a-f]{64}")


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


async def list_import_jobs(*, actor: Actor, limit: int = 20) -> list[ImportJob]:
    """The latest imports, newest first (staff)."""
    require_role(actor, Role.STAFF)
    return await ImportJob.all().select_related("created_by").order_by("-id").limit(limit)


async def get_import_job(job_id: object, *, actor: Actor) -> ImportJob:
    require_role(actor, Role.STAFF)
    pk = parse_id(job_id)
    job = None if pk is None else await ImportJob.get_or_none(id=pk).select_related("created_by")
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


def report_data(report: ImportReport) -> dict[str, Any]:
    return {
        "rejected": [list(item) for item in report.rejected],
        "queued_ranks": report.queued_ranks,
        "unknown_columns": report.unknown_columns,
        "courses_created": report.courses_created,
        "conflicts": [list(item) for item in report.conflicts],
        "kept_contact": report.kept_contact,
    }


# --- Uploaded files ---------------------------------------------------------------------


def upload_path(digest: str, settings: Settings) -> Path:
    """Where the file with this SHA-256 (64 hex digits) is kept; NotFound otherwise."""
    if not _DIGEST.fullmatch(digest):
        raise NotFound(_("No such uploaded file."))
    return Path(settings.app.var_dir) / "imports" / f"{digest}.csv"


async def store_upload(data: bytes, digest: str, settings: Settings) -> Path:
    """Keep an uploaded file until it is imported (written atomically)."""
    path = upload_path(digest, settings)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            return
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)

    await asyncio.to_thread(write)
    return path


async def load_upload(digest: str, settings: Settings) -> bytes:
    """The kept file; NotFound when there is none with this hash."""
    path = upload_path(digest, settings)
    try:
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise NotFound(_("This file is no longer here: upload it again.")) from None


async def forget_upload(digest: str, settings: Settings) -> None:
    path = upload_path(digest, settings)
    await asyncio.to_thread(path.unlink, missing_ok=True)
