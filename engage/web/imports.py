"""CSV import pages (staff): upload, dry-run report, confirm, progress, final report.

::

    /admin/import                    the columns, the template, an upload form, recent imports
    /admin/import            POST    upload: the file is kept, the dry-run report shown
    /admin/import/template.csv       the template (documented header, two example rows)
    /admin/import/confirm    POST    the import runs (the form carries only the file's hash)
    /admin/import/jobs/{id}          progress (the page refreshes itself) and the report
    /admin/import/jobs/{id}/resume  POST   finish an import a restart interrupted

A file of up to :data:`IN_REQUEST_ROWS` rows is imported within the confirming
request (in chunks, so other requests go on); a larger one runs as a task of this
web process while its page shows the progress. No JavaScript: the job page asks the
browser to reload it (a ``Refresh`` header) until the import is done.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.alumni.csv_format import COLUMNS, MAX_FILE_BYTES, ImportFileError, template_csv
from engage.alumni.import_jobs import (
    get_import_job,
    job_report,
    list_import_jobs,
    load_upload,
    store_upload,
)
from engage.alumni.importer import (
    PreparedImport,
    apply_import,
    file_hash,
    prepare_import,
    preview_import,
)
from engage.alumni.models import ImportStatus
from engage.errors import InvalidInput
from engage.i18n import _
from engage.web.failures import path_id
from engage.web.forms import Form
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

log = logging.getLogger(__name__)

#: Files up to this many rows are imported within the confirming request.
IN_REQUEST_ROWS = 1000
#: Seconds between reloads of a running job's page.
REFRESH_SECONDS = 2
#: Rejected rows listed on a page (all are counted; the CLI lists every one).
SHOWN_REJECTIONS = 1000
#: Imports running in this process, by job id (kept so the tasks are not collected).
_RUNNING: dict[int, asyncio.Task[object]] = {}


async def _start_page(request: Request, form: Form | None = None, status: int = 200) -> Response:
    actor = await _actor(request)
    return render(
        request,
        "imports/start.html",
        {
            "form": form or Form(),
            "columns": COLUMNS,
            "jobs": await list_import_jobs(actor=actor),
            "max_mb": MAX_FILE_BYTES // 1024 // 1024,
        },
        status_code=status,
    )


@page("/admin/import", access=Access.STAFF, methods=["GET", "POST"], name="import", max_files=1)
async def import_start(request: Request) -> Response:
    if request.method == "GET":
        return await _start_page(request)
    actor = await _actor(request)
    settings = request.app.state.settings
    upload = (await form_data(request)).get("file")
    form = Form()
    if not isinstance(upload, UploadFile) or not upload.filename:
        form.errors["file"] = _("Choose a CSV file.")
        return await _start_page(request, form, status=422)
    data = await upload.read(MAX_FILE_BYTES + 1)
    # Some browsers send the whole path: keep the file's own name.
    filename = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:255]
    try:
        report = await preview_import(data, actor=actor, settings=settings, filename=filename)
    except ImportFileError as exc:
        form.errors["file"] = exc.message
        return await _start_page(request, form, status=422)
    await store_upload(data, report.file_hash, settings)
    return render(
        request,
        "imports/preview.html",
        {"report": report, "shown": SHOWN_REJECTIONS},
    )


@page("/admin/import/template.csv", access=Access.STAFF, name="import_template")
async def import_template(request: Request) -> Response:
    return Response(
        template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="engage-alumni-template.csv"'},
    )


@page("/admin/import/confirm", access=Access.STAFF, methods=["POST"], name="import_confirm")
async def import_confirm(request: Request) -> Response:
    actor = await _actor(request)
    settings = request.app.state.settings
    values = await form_data(request)
    digest = str(values.get("file_hash", ""))
    filename = str(values.get("filename", ""))[:255]
    data = await load_upload(digest, settings)
    if file_hash(data) != digest:
        raise InvalidInput(_("The kept file changed: upload it again."))
    prepared = await prepare_import(data, actor=actor, settings=settings, filename=filename)
    await _run(prepared, wait=len(prepared.rows) <= IN_REQUEST_ROWS)
    return RedirectResponse(f"/admin/import/jobs/{prepared.job_id}", status_code=303)


@page("/admin/import/jobs/{id}", access=Access.STAFF, name="import_job")
async def import_job(request: Request) -> Response:
    job = await get_import_job(path_id(request, "id"), actor=await _actor(request))
    report = job_report(job)
    running_here = job.id in _RUNNING
    response = render(
        request,
        "imports/job.html",
        {
            "job": job,
            "report": report,
            "running_here": running_here,
            "stopped": job.status == ImportStatus.RUNNING and not running_here,
            "shown": SHOWN_REJECTIONS,
            "refresh_seconds": REFRESH_SECONDS,
        },
    )
    if running_here:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@page(
    "/admin/import/jobs/{id}/resume",
    access=Access.STAFF,
    methods=["POST"],
    name="import_resume",
)
async def import_resume(request: Request) -> Response:
    actor = await _actor(request)
    settings = request.app.state.settings
    job = await get_import_job(path_id(request, "id"), actor=actor)
    if job.status != ImportStatus.DONE and job.id not in _RUNNING:
        data = await load_upload(job.file_hash, settings)
        prepared = await prepare_import(data, actor=actor, settings=settings, filename=job.filename)
        await _run(prepared, wait=False)
    return RedirectResponse(f"/admin/import/jobs/{job.id}", status_code=303)


async def _run(prepared: PreparedImport, *, wait: bool) -> None:
    """Apply the import now (``wait``) or as a task of this process."""
    if prepared.job_id in _RUNNING:
        return
    task: asyncio.Task[object] = asyncio.create_task(apply_import(prepared))
    _RUNNING[prepared.job_id] = task
    task.add_done_callback(lambda done: _finished(prepared.job_id, done))
    if wait:
        # Waits without owning the task: a client that goes away does not stop the
        # import half-way, and a failure shows on the job's page.
        await asyncio.wait({task})


def _finished(job_id: int, task: asyncio.Task[object]) -> None:
    _RUNNING.pop(job_id, None)
    if not task.cancelled() and task.exception() is not None:
        log.error("import job %s failed", job_id, exc_info=task.exception())
