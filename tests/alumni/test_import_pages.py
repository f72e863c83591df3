"""The import pages: upload (multipart, CSRF in the form), dry-run report, confirm,
progress and report, resume; staff only."""

from __future__ import annotations

import asyncio
import re

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni import importer
from engage.alumni.csv_format import COLUMN_NAMES
from engage.alumni.importer import apply_import, file_hash, prepare_import
from engage.alumni.models import Alumnus, ImportJob, ImportStatus
from engage.web import imports as import_pages
from engage.web.identity import csrf_cookie_name
from tests.alumni.test_import import HEADER, csv_bytes, row
from tests.factories import ensure_country


@pytest.fixture
async def staff_client(client, make_user, sign_in, settings):
    await ensure_country("KE", "Kenya")
    staff = await make_user(role=Role.STAFF)
    await sign_in(client, staff)
    # Forms send the token as a field (multipart included), not as the API header.
    del client.headers["X-CSRF-Token"]
    client.csrf = client.cookies[csrf_cookie_name(settings)]
    client.staff = staff
    return client


def roster(n: int, *, bad: int = 0) -> bytes:
    rows = [
        row(
            programme_id=f"W-{i}",
            email=f"w{i}@example.org",
            given_name="Amani",
            family_name=f"Wanjiru {i}",
            country="Kenya",
            rank="Colonel",
            course_title="Command and General Staff",
            course_school="CGSC",
            class_year="2019",
            funding_type="IMET",
        )
        for i in range(n)
    ]
    rows += [
        row(
            programme_id=f"B-{i}",
            given_name="Bad",
            family_name="Date",
            country="KE",
            start_date="x",
        )
        for i in range(bad)
    ]
    return csv_bytes(HEADER, *rows, newline="\r\n", bom=True)


async def upload(client, data: bytes, *, csrf: str | None = None):
    return await client.post(
        "/admin/import",
        data={"csrf_token": client.csrf if csrf is None else csrf},
        files={"file": ("roster.csv", data, "text/csv")},
    )


async def test_upload_dry_run_then_confirm(staff_client, settings):
    client = staff_client
    page = await client.get("/admin/import")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and "given_name_latin" in page.text
    data = roster(3, bad=1)
    checked = await upload(client, data)
    assert checked.status_code == 200, checked.text
    assert re.search(r'id="count-created">3<', checked.text)
    assert re.search(r'id="count-rejected">1<', checked.text)
    assert "<td>5</td>" in checked.text and "Bad date in start_date" in checked.text
    digest = file_hash(data)
    assert f'name="file_hash" value="{digest}"' in checked.text
    # Nothing written but the kept file.
    assert not await Alumnus.exists() and not await ImportJob.exists()
    assert (settings.app.var_dir / "imports" / f"{digest}.csv").read_bytes() == data

    done = await client.post(
        "/admin/import/confirm",
        data={"csrf_token": client.csrf, "file_hash": digest, "filename": "roster.csv"},
    )
    assert done.status_code == 303
    job = await ImportJob.get()
    assert done.headers["location"] == f"/admin/import/jobs/{job.id}"
    assert job.status == ImportStatus.DONE and (job.created, job.rejected) == (3, 1)
    assert job.created_by_id == client.staff.id
    assert await Alumnus.all().count() == 3
    report = await client.get(done.headers["location"])
    assert report.status_code == 200 and "Refresh" not in report.headers
    assert "Done" in report.text and re.search(r'id="count-created">3<', report.text)
    assert "<td>5</td>" in report.text
    event = await AuditEvent.get(action="alumni.import")
    assert event.actor_id == client.staff.id and event.details["created"] == 3
    # The same file again: all unchanged.
    await upload(client, data)
    again = await client.post(
        "/admin/import/confirm",
        data={"csrf_token": client.csrf, "file_hash": digest, "filename": "roster.csv"},
    )
    latest = await ImportJob.all().order_by("-id").first()
    assert again.status_code == 303 and (latest.created, latest.unchanged) == (0, 3)


async def test_csrf_is_checked_on_the_multipart_upload_and_the_confirmation(staff_client):
    client = staff_client
    refused = await upload(client, roster(1), csrf="x" * 43)
    assert refused.status_code == 403
    refused = await client.post(
        "/admin/import/confirm", data={"file_hash": file_hash(roster(1)), "filename": "r.csv"}
    )
    assert refused.status_code == 403
    assert not await ImportJob.exists() and not await Alumnus.exists()


async def test_an_unreadable_file_says_why(staff_client):
    client = staff_client
    answer = await upload(client, b"name;other\nx;y\n")
    assert answer.status_code == 422
    assert "lacks the required column" in answer.text and 'aria-invalid="true"' in answer.text
    missing = await client.post("/admin/import", data={"csrf_token": client.csrf})
    assert missing.status_code == 422 and "Choose a CSV file" in missing.text


async def test_template_download(staff_client):
    answer = await staff_client.get("/admin/import/template.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.decode("utf-8-sig").splitlines()[0] == ",".join(COLUMN_NAMES)


async def test_a_large_file_runs_in_the_background_with_progress(staff_client, monkeypatch):
    client = staff_client
    monkeypatch.setattr(import_pages, "IN_REQUEST_ROWS", 10)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 20)
    data = roster(120)
    await upload(client, data)
    started = await client.post(
        "/admin/import/confirm",
        data={"csrf_token": client.csrf, "file_hash": file_hash(data), "filename": "big.csv"},
    )
    assert started.status_code == 303
    job_page = started.headers["location"]
    seen_running = False
    for _ in range(500):
        answer = await client.get(job_page)
        if "<progress" in answer.text:
            seen_running = True
            assert answer.headers["Refresh"] == "2"
        if "Done:" in answer.text:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the import did not finish")
    assert seen_running, "the page showed the progress while the import ran"
    assert await Alumnus.all().count() == 120


async def test_an_interrupted_import_is_resumed_from_its_page(staff_client, settings):
    client = staff_client
    data = roster(30)
    await upload(client, data)
    prepared = await prepare_import(data, actor=None, settings=settings, filename="r.csv")
    job = await ImportJob.get(id=prepared.job_id)
    page = await client.get(f"/admin/import/jobs/{job.id}")
    assert "Resume the import" in page.text and "<progress" in page.text
    resumed = await client.post(
        f"/admin/import/jobs/{job.id}/resume", data={"csrf_token": client.csrf}
    )
    assert resumed.status_code == 303
    for _ in range(500):
        await job.refresh_from_db()
        if job.status == ImportStatus.DONE:
            break
        await asyncio.sleep(0.01)
    assert job.status == ImportStatus.DONE and job.created == 30
    assert (await apply_import(prepared)).created == 30, "a finished job stays finished"


async def test_attaches_and_alumni_are_refused(client, make_user, sign_in):
    await ensure_country("KE", "Kenya")
    for role in (Role.ATTACHE, Role.ALUMNUS):
        user = await make_user(role=role)
        await sign_in(client, user)
        assert (await client.get("/admin/import")).status_code == 403
        assert (await client.get("/admin/import/template.csv")).status_code == 403
